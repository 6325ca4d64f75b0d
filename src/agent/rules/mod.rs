//! The built-in rules agent: a receptionist that needs no API key and
//! sends nothing out of the building.
//!
//! It is split by concern:
//!
//! - understanding, which knows nothing of the calendar or the call:
//!   [`words`] (recognition noise, numbers in words, fillers), [`when`]
//!   (days and times, relative and absolute, vague times), [`names`],
//!   [`acts`] (yes, no, correction, choice, request, goodbye), put
//!   together once per turn by [`reading`];
//! - the dialogue: [`dialogue`] (booking, moving, cancelling, what is
//!   booked, opening hours, taking a name, confirming once), reading each
//!   utterance as an answer to what was asked last, with [`memory`] kept
//!   in the session between turns (the agent holds no per-call state) and
//!   [`phrasing`] for what it says;
//! - [`desk`]: the dialogue's only way to the calendar.
//!
//! It always answers with something useful: an unknown request gets a
//! helpful fallback, never an error. Time is the business's local time
//! (`BUSINESS_TIMEZONE`).

pub mod acts;
pub mod desk;
pub mod dialogue;
pub mod memory;
pub mod names;
pub mod phrasing;
pub mod reading;
pub mod when;
pub mod words;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use chrono_tz::Tz;

pub use memory::Memory;

use super::{
    Agent, AgentError, CallContext, Reply,
    tools::{ToolContext, Tools},
};
use crate::session::{Role, Turn};

/// The built-in agent.
#[derive(Clone)]
pub struct RulesAgent {
    business_name: String,
    timezone: Tz,
    tools: Tools,
}

impl RulesAgent {
    /// An agent for `business_name` that tells time in `timezone` and books
    /// through `tools`.
    pub fn new(business_name: impl Into<String>, timezone: Tz, tools: Tools) -> Self {
        Self {
            business_name: business_name.into(),
            timezone,
            tools,
        }
    }

    /// One turn of the conversation.
    pub async fn converse(&self, utterance: &str, ctx: &ToolContext, mem: &mut Memory) -> Reply {
        let now = ctx.now.with_timezone(&self.timezone).naive_local();
        let today = now.date();
        let dialogue = dialogue::Dialogue {
            business_name: &self.business_name,
            desk: desk::Desk::new(&self.tools, ctx),
            now,
        };
        let asked_name = mem.awaiting == Some(memory::Awaiting::Name);
        let text = words::normalize(utterance);
        let mut parts = reading::clauses(&text, today);
        if parts.len() <= 1 {
            let text = parts.pop().unwrap_or(text);
            let r = reading::read_normalized(text, today, asked_name);
            let reply = dialogue.respond(&r, mem).await;
            return go_on(&dialogue, reply, today, mem).await;
        }
        // Several requests in one breath: questions are answered at once,
        // the first action is taken up, the others wait their turn.
        let whole: Vec<&str> = text.split(' ').collect();
        let name = names::name(&whole, asked_name);
        let mut readings: Vec<reading::Reading> = parts
            .drain(..)
            .map(|p| {
                let mut r = reading::read_normalized(p, today, false);
                if r.name.is_none() {
                    r.name.clone_from(&name);
                }
                r
            })
            .collect();
        let (info, actions): (Vec<_>, Vec<_>) = readings
            .drain(..)
            .partition(|r| matches!(r.request, Some(acts::Request::Mine | acts::Request::Hours)));
        let mut said = Vec::new();
        let mut reply = Reply::say("");
        for r in &info {
            reply = dialogue.respond(r, mem).await;
            said.push(reply.text.clone());
        }
        let mut actions = actions.into_iter();
        if let Some(first) = actions.next() {
            if !said.is_empty() {
                let last = said.len() - 1;
                said[last] = strip_anything_else(&said[last]).to_owned();
            }
            reply = dialogue.respond(&first, mem).await;
            said.push(reply.text.clone());
            let rest: Vec<String> = actions.map(|r| r.text).collect();
            mem.queue.splice(0..0, rest);
        }
        reply.text = said.join(" ");
        go_on(&dialogue, reply, today, mem).await
    }
}

/// The closing question of a finished action, dropped when another
/// request of the same breath follows.
fn strip_anything_else(text: &str) -> &str {
    [
        " Is there anything else I can help you with?",
        " Is there anything else?",
        " Anything else?",
    ]
    .iter()
    .find_map(|q| text.strip_suffix(q))
    .unwrap_or(text)
}

/// After an action is done, the next request said in the same breath.
async fn go_on(
    dialogue: &dialogue::Dialogue<'_>,
    mut reply: Reply,
    today: chrono::NaiveDate,
    mem: &mut Memory,
) -> Reply {
    while !reply.end_call
        && mem.flow.is_none()
        && mem.awaiting == Some(memory::Awaiting::AnythingElse)
        && !mem.queue.is_empty()
    {
        let next = mem.queue.remove(0);
        let r = reading::read_normalized(next, today, false);
        let more = dialogue.respond(&r, mem).await;
        reply.text = format!("{} {}", strip_anything_else(&reply.text), more.text);
        reply.end_call = more.end_call;
    }
    reply
}

#[async_trait]
impl Agent for RulesAgent {
    /// The rules agent reads the caller's last words; its state is in memory.
    fn history_window(&self) -> usize {
        1
    }

    async fn reply(&self, call: &CallContext, history: &[Turn]) -> Result<Reply, AgentError> {
        let utterance = history
            .iter()
            .rev()
            .find(|t| t.role == Role::User)
            .map(|t| &*t.content)
            .unwrap_or_default();
        let mut mem: Memory = call
            .memory
            .as_ref()
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        let ctx = call.tool_context();
        let mut reply = self.converse(utterance, &ctx, &mut mem).await;
        reply.memory = (mem != Memory::default())
            .then(|| serde_json::to_value(&mem).ok())
            .flatten();
        Ok(reply)
    }
}
