//! The `frontdesk` command: parse the command line, start logging, load the
//! configuration, dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use frontdesk::{config::Config, startup};

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "An AI receptionist on a Twilio phone number"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Place a call through a running server's /make-call.
    Call {
        /// The number to call, in E.164 form (+14155551234).
        to: String,
        /// What the receptionist says first.
        #[arg(long)]
        message: Option<String>,
        /// Detect answering machines and leave a voicemail message.
        #[arg(long)]
        machine_detection: bool,
        /// The caller ID (default TWILIO_PHONE_NUMBER on the server).
        #[arg(long)]
        from: Option<String>,
        /// The server's URL (default http://127.0.0.1:SERVER_PORT).
        #[arg(long)]
        server: Option<String>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Validate the configuration and print what would be used.
    Check,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,poem=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", frontdesk::http::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Call {
            to,
            message,
            machine_detection,
            from,
            server,
        } => {
            let server = match server {
                Some(s) => s,
                None => match load_config() {
                    Ok(c) => format!("http://127.0.0.1:{}", c.port),
                    Err(code) => return code,
                },
            };
            let request = frontdesk::cli::CallRequest {
                to_number: to,
                from_number: from,
                initial_message: message,
                machine_detection,
            };
            match frontdesk::cli::place_call(&server, &request).await {
                Ok(placed) => {
                    println!("{placed}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check => match load_config() {
            Ok(config) => {
                println!("configuration is valid:\n{config:#?}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Serve => {
            init_tracing();
            let config = match load_config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let app = match startup::Application::build(config).await {
                Ok(app) => app,
                Err(e) => {
                    eprintln!("frontdesk could not start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let c = &app.state().config;
            tracing::info!(
                port = app.port(),
                public_url = c.public_url.as_str(),
                agent = ?c.agent,
                signatures = c.twilio.validate_signatures,
                "frontdesk listening; Swagger UI at /docs"
            );
            match app.run_until(startup::shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("server error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
