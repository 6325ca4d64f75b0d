//! Log output: readable lines or one JSON object a line (`LOG_FORMAT`), on
//! standard error, filtered by `RUST_LOG` (default `info,poem=warn`).
//!
//! Colours are used only when standard error is a terminal, so log files and
//! collectors never get escape codes. What is logged is each module's
//! business; secrets, full phone numbers and transcripts never are.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,poem=warn";

/// Installs the global subscriber (once, at start).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}
