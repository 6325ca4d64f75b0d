//! Rehearsing calls without a phone: `frontdesk chat` and `frontdesk test`.
//!
//! Both start the real server in-process on a loopback port and play Twilio
//! to it ([`line`]), so a rehearsed call takes the same webhooks, turn
//! runner, agent, tools and calendar as a real one. [`script`] is the
//! conversation-test file format of interface.md, [`runner`] plays and
//! checks conversations, [`chat`] is the terminal conversation. Nothing here
//! is on the path of a real call; `main.rs` only dispatches to it.

pub mod chat;
pub mod line;
pub mod runner;
pub mod script;
