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
