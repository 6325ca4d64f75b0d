//! `frontdesk chat`: a call with the receptionist in the terminal.
//!
//! Each line read is what the caller says (an empty line is silence), and
//! what the caller would hear is printed back. It is a real call on the
//! in-process server ([`super::line`]) with the configured agent, tools and
//! calendar, so what is booked here is booked. Works from a pipe too: the
//! prompt only appears on a terminal.

use std::io::{IsTerminal, Write};

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::{
    line::{Heard, Line, LineError},
    runner::without_twilio_credentials,
};
use crate::{clock::Clock, config::Config};

fn print(out: &mut dyn Write, heard: &Heard) -> std::io::Result<()> {
    for say in &heard.says {
        writeln!(out, "{say}")?;
    }
    if heard.ended {
        writeln!(out, "(the receptionist hung up)")?;
    }
    out.flush()
}

/// Why the chat stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The call failed.
    #[error(transparent)]
    Line(#[from] LineError),
    /// The terminal could not be read or written.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// Talks to the receptionist until the input ends or the call does.
pub async fn chat(
    mut config: Config,
    clock: Clock,
    from: Option<&str>,
    input: impl AsyncBufRead + Unpin,
    out: &mut dyn Write,
) -> Result<(), ChatError> {
    without_twilio_credentials(&mut config);
    let prompt = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let line = Line::open(config, clock).await?;
    let (mut call, greeting) = line.call(from).await?;
    print(out, &greeting)?;
    let mut lines = input.lines();
    while !call.ended() {
        if prompt {
            eprint!("you> ");
        }
        let Some(words) = lines.next_line().await? else {
            break;
        };
        let heard = line.say(&mut call, words.trim()).await?;
        print(out, &heard)?;
    }
    if !call.ended() {
        line.hang_up(&mut call).await?;
    }
    line.close().await;
    Ok(())
}
