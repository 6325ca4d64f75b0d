//! The receptionist's brain: given the conversation so far, what to say next.
//!
//! [`Agent`] is the seam between the call loop and whatever produces
//! replies: the built-in [`rules::RulesAgent`] (offline, no key needed) or an
//! LLM. The call loop gives every reply a deadline; an agent only has to
//! answer or fail with an [`AgentError`], which the loop turns into a spoken
//! apology. Agents reach the calendar only through [`tools::Tools`], which
//! acts for the caller on the line and records what it did.

pub mod gate;
pub mod llm;
pub mod rules;
pub mod speech;
pub mod tools;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    session::{SessionStore, Turn},
    twilio::{number::CallerIdentity, webhook::CallSid},
};

/// What the agent knows about the call apart from the transcript.
#[derive(Clone)]
pub struct CallContext {
    /// The call.
    pub call_sid: CallSid,
    /// The other party (`From` on inbound calls, `To` on outbound).
    pub caller: CallerIdentity,
    /// The time of this turn.
    pub now: DateTime<Utc>,
    /// What the agent kept from the previous turn of this call.
    pub memory: Option<Value>,
    /// When the turn is given up: the turn runner's one deadline. Model
    /// requests and their retries must finish before it.
    pub deadline: Instant,
    /// The call's session, where tool calls are recorded.
    pub sessions: Arc<SessionStore>,
    /// Whether the caller's words are final (side effects wait for them)
    /// and what the turn is doing; see [`gate`].
    pub gate: Arc<gate::Gate>,
}

impl CallContext {
    /// What the tools need to act for this caller.
    pub fn tool_context(&self) -> tools::ToolContext {
        tools::ToolContext {
            call_sid: self.call_sid.clone(),
            caller: self.caller.clone(),
            now: self.now,
            sessions: Arc::clone(&self.sessions),
            gate: Arc::clone(&self.gate),
        }
    }
}

/// The agent's answer to one caller turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to say.
    pub text: String,
    /// Hang up after saying it.
    pub end_call: bool,
    /// Connect the caller to a person (`TRANSFER_NUMBER`) after saying it;
    /// takes precedence over `end_call`.
    pub transfer: bool,
    /// What to keep for the next turn (stored in the session).
    pub memory: Option<Value>,
}

impl Reply {
    /// A reply that keeps the conversation going.
    pub fn say(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            end_call: false,
            transfer: false,
            memory: None,
        }
    }

    /// A reply after which the caller is connected to a person.
    pub fn transfer(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            end_call: false,
            transfer: true,
            memory: None,
        }
    }

    /// A reply after which the call ends.
    pub fn goodbye(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            end_call: true,
            transfer: false,
            memory: None,
        }
    }
}

/// Why an agent could not reply.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The reply did not come within the turn's budget.
    #[error("the agent did not answer in time")]
    Timeout,
    /// The model or a service behind it failed.
    #[error("the agent is unavailable: {0}")]
    Unavailable(String),
}

/// Produces the receptionist's replies.
#[async_trait]
pub trait Agent: Send + Sync {
    /// The reply to the last caller turn in `history`.
    async fn reply(&self, call: &CallContext, history: &[Turn]) -> Result<Reply, AgentError>;

    /// How many of the latest transcript entries the agent reads; only
    /// those are copied out of the session for a turn.
    fn history_window(&self) -> usize {
        usize::MAX
    }

    /// Whether starting a turn on partial results can save the caller any
    /// time. The built-in agent answers at once, so it does not.
    fn speculates(&self) -> bool {
        false
    }
}

/// A shared agent.
pub type SharedAgent = Arc<dyn Agent>;
