//! The `frontdesk` command: parse the command line, start logging, load the
//! configuration, dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use frontdesk::{config::Config, rehearsal, startup};

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
    /// Validate the configuration and print the settings (secrets masked).
    Check {
        /// Also try the Twilio credentials, the LLM and the calendar.
        #[arg(long)]
        online: bool,
    },
    /// Talk to the receptionist in the terminal, as a caller would.
    Chat {
        /// The number you call from (default: a withheld number).
        #[arg(long)]
        from: Option<String>,
    },
    /// Run conversation tests (TOML files); fails when one fails.
    Test {
        /// Conversation files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
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
            let config = match load_config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let server = server.unwrap_or_else(|| format!("http://127.0.0.1:{}", config.port));
            let api_token =
                match frontdesk::api_token::find(config.api_token.as_ref(), &config.data_dir) {
                    Ok(Some(token)) => token,
                    Ok(None) => {
                        eprintln!(
                            "no API token: set API_TOKEN to the server's token, or run this where \
                         the server keeps its DATA_DIR ({}) after it has started once",
                            config.data_dir.display()
                        );
                        return ExitCode::from(2);
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                };
            let request = frontdesk::cli::CallRequest {
                to_number: to,
                from_number: from,
                initial_message: message,
                machine_detection,
            };
            match frontdesk::cli::place_call(&server, &api_token, &request).await {
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
        Command::Check { online } => match load_config() {
            Ok(config) => {
                print!("{}", frontdesk::check::report(&config));
                if !online {
                    return ExitCode::SUCCESS;
                }
                let (text, ok) = frontdesk::check::render(&frontdesk::check::online(&config).await);
                print!("{text}");
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(code) => code,
        },
        Command::Chat { from } => {
            let config = match load_config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let input = tokio::io::BufReader::new(tokio::io::stdin());
            let clock = frontdesk::clock::system_clock();
            match rehearsal::chat::chat(
                config,
                clock,
                from.as_deref(),
                input,
                &mut std::io::stdout(),
            )
            .await
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Test { files } => {
            let config = match load_config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let scripts = match rehearsal::runner::load_all(&files) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match rehearsal::runner::run_scripts(&config, &scripts, &mut std::io::stdout()).await {
                Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => {
            let config = match load_config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            frontdesk::logging::init(config.log_format);
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            let app = match startup::Application::build(config).await {
                Ok(app) => app,
                Err(e) => {
                    eprintln!("frontdesk could not start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let c = &app.state().config;
            println!(
                "{}",
                app.state()
                    .api_token
                    .announcement(&format!("http://localhost:{}", app.port()))
            );
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
