//! A call's transcript: who said what, and what the receptionist did.
//!
//! Caller and receptionist entries carry text. A tool entry carries a typed
//! [`ToolCall`] (name, the arguments as the agent sent them, the result as
//! the agent saw it, and the side effect it had), written once by the tools'
//! safety envelope and read as it is by the LLM agent (which replays it to
//! the model), the per-call limits and the session API. Nobody parses a
//! tool entry's text back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The caller.
    User,
    /// The receptionist.
    Assistant,
    /// A tool call and its result (what the agent did).
    Tool,
}

/// What a tool call changed in the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A new appointment.
    Booked,
    /// An appointment moved.
    Moved,
    /// An appointment cancelled.
    Cancelled,
    /// A message taken for the business.
    Message,
}

/// One tool call as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, as the model gave it (or one made up for it).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the agent sent them (JSON text, maybe invalid).
    pub arguments: String,
    /// The result, as JSON, exactly as the agent was given it.
    pub result: Box<RawValue>,
    /// What it changed, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

impl PartialEq for ToolCall {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.arguments == other.arguments
            && self.result.get() == other.result.get()
            && self.effect == other.effect
    }
}

/// One entry of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Who spoke.
    pub role: Role,
    /// What was said (for tools, the tool's name and what it changed).
    pub content: Arc<str>,
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
    /// Twilio's speech-recognition confidence, for caller turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The tool call, for tool entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<Arc<ToolCall>>,
}

impl Turn {
    /// A spoken entry.
    pub fn spoken(role: Role, content: &str, confidence: Option<f64>, now: DateTime<Utc>) -> Self {
        Self {
            role,
            content: Arc::from(content),
            timestamp: now,
            confidence,
            tool: None,
        }
    }

    /// A tool entry.
    pub fn tool(call: ToolCall, now: DateTime<Utc>) -> Self {
        Self {
            role: Role::Tool,
            // A one-line summary; the arguments and result are in `tool`
            // only, not kept twice.
            content: Arc::from(match call.effect {
                Some(Effect::Booked) => format!("{}: booked", call.name),
                Some(Effect::Moved) => format!("{}: moved", call.name),
                Some(Effect::Cancelled) => format!("{}: cancelled", call.name),
                Some(Effect::Message) => format!("{}: message kept", call.name),
                None => call.name.clone(),
            }),
            timestamp: now,
            confidence: None,
            tool: Some(Arc::new(call)),
        }
    }
}

/// Side effects so far, counted from the transcript.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EffectCounts {
    /// Bookings since the caller last spoke.
    pub turn_bookings: u32,
    /// Moves and cancellations since the caller last spoke.
    pub turn_changes: u32,
    /// Bookings in the whole call.
    pub call_bookings: u32,
    /// Moves and cancellations in the whole call.
    pub call_changes: u32,
    /// Messages since the caller last spoke.
    pub turn_messages: u32,
    /// Messages in the whole call.
    pub call_messages: u32,
}

impl EffectCounts {
    /// Counts the effects recorded in `history`.
    pub fn of(history: &[Turn]) -> Self {
        let mut counts = Self::default();
        for turn in history {
            if turn.role == Role::User {
                counts.turn_bookings = 0;
                counts.turn_changes = 0;
                counts.turn_messages = 0;
            }
            match turn.tool.as_ref().and_then(|t| t.effect) {
                Some(Effect::Booked) => {
                    counts.turn_bookings += 1;
                    counts.call_bookings += 1;
                }
                Some(Effect::Moved | Effect::Cancelled) => {
                    counts.turn_changes += 1;
                    counts.call_changes += 1;
                }
                Some(Effect::Message) => {
                    counts.turn_messages += 1;
                    counts.call_messages += 1;
                }
                None => {}
            }
        }
        counts
    }
}
