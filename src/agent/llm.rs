//! The LLM agent: any OpenAI-compatible chat-completions server, through
//! `async-openai`, with the calendar tools.
//!
//! One reply is a bounded tool loop: the model may ask for tools (several in
//! one message too); each runs through [`Tools::dispatch`] and its result
//! goes back as a `tool` message with the matching `tool_call_id`, until
//! the model answers in words or the round limit is reached. `end_call`
//! ends the call after the model's goodbye. Every request has a timeout;
//! 429, 5xx and connection failures are retried with backoff (async-openai's
//! retry layer) and timeouts once more, all within the turn's deadline; then
//! the agent fails and the call loop apologises. Tool calls and
//! their results are returned for the transcript, and earlier ones are
//! replayed to the model as the assistant/tool messages they were.

use std::time::{Duration, Instant};

use async_openai::{Client, config::OpenAIConfig, error::OpenAIError};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    Agent, AgentError, CallContext, Reply, speech,
    tools::{ToolContext, Tools, definitions},
};
use crate::{
    config::{BusinessConfig, OpenAiConfig},
    session::{Role, Turn},
};

/// Most model round trips in one reply.
const MAX_ROUNDS: usize = 5;
/// Attempts per model request after a timeout (async-openai retries the rest).
const MAX_ATTEMPTS: u32 = 2;
/// How long one model request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// The whole reply, tools included, gives up after this.
const TURN_DEADLINE: Duration = Duration::from_secs(40);

/// The LLM agent.
pub struct LlmAgent {
    client: Client<OpenAIConfig>,
    model: String,
    tools: Tools,
    /// The tool definitions as the API wants them, built once.
    tool_specs: Value,
    business: BusinessConfig,
}

/// One tool call as recorded in the transcript.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ToolRecord {
    id: String,
    name: String,
    arguments: String,
    result: Value,
}

impl LlmAgent {
    /// An agent talking to `config`'s server, booking through `tools`.
    pub fn new(config: &OpenAiConfig, business: BusinessConfig, tools: Tools) -> Self {
        let mut oa = OpenAIConfig::new().with_api_base(config.base_url.clone());
        if let Some(key) = &config.api_key {
            oa = oa.with_api_key(key.expose());
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a TLS client can be built");
        let tool_specs = Value::Array(
            definitions()
                .into_iter()
                .map(|d| {
                    json!({"type": "function", "function": {
                        "name": d.name, "description": d.description, "parameters": d.parameters
                    }})
                })
                .collect(),
        );
        Self {
            client: Client::with_config(oa).with_http_client(http),
            model: config.model.clone(),
            tools,
            tool_specs,
            business,
        }
    }

    /// The system prompt: who, when, where, and how to behave on the phone.
    pub fn system_prompt(&self, call: &CallContext) -> String {
        let b = &self.business;
        let local = call.now.with_timezone(&b.timezone);
        format!(
            "You are the phone receptionist for {name}. You are speaking with a caller on the phone.\n\
             Today is {today} ({iso}); the local time is {time}, time zone {tz}.\n\
             Business hours: Monday to Friday, {opens} to {closes}. Appointments last {minutes} minutes.\n\
             The caller's phone number: {caller}.\n\
             You can check free times, book, find, move and cancel appointments with the tools. \
             Tool times are local times written YYYY-MM-DDTHH:MM.\n\
             Phone manners: speak in short, plain sentences; ask one question at a time; no lists, \
             markdown, emoji or links. Say dates and times naturally, like \"Tuesday, December 3rd at 2:30 PM\". \
             Before booking, moving or cancelling, state what you will do and get a clear yes. \
             Ask for the caller's name before booking. If a time is taken, offer the alternatives the tool gives. \
             When the caller is done, say a short goodbye and call end_call.",
            name = b.name,
            today = speech::date(local.date_naive()),
            iso = local.format("%Y-%m-%d, %A"),
            time = speech::time(local.time()),
            tz = b.timezone.name(),
            opens = speech::time(b.opens),
            closes = speech::time(b.closes),
            minutes = b.appointment_minutes,
            caller = call.caller.as_deref().unwrap_or("unknown"),
        )
    }

    /// The conversation as chat messages.
    pub fn messages(&self, call: &CallContext, history: &[Turn]) -> Vec<Value> {
        let mut out = vec![json!({"role": "system", "content": self.system_prompt(call)})];
        let mut pending_calls: Vec<ToolRecord> = Vec::new();
        let flush = |out: &mut Vec<Value>, calls: &mut Vec<ToolRecord>| {
            if calls.is_empty() {
                return;
            }
            out.push(json!({
                "role": "assistant",
                "content": null,
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments}
                })).collect::<Vec<_>>()
            }));
            for c in calls.drain(..) {
                out.push(
                    json!({"role": "tool", "tool_call_id": c.id, "content": c.result.to_string()}),
                );
            }
        };
        for turn in history {
            match turn.role {
                Role::Tool => {
                    if let Ok(record) = serde_json::from_str::<ToolRecord>(&turn.content) {
                        pending_calls.push(record);
                    }
                }
                Role::User => {
                    flush(&mut out, &mut pending_calls);
                    out.push(json!({"role": "user", "content": &*turn.content}));
                }
                Role::Assistant => {
                    flush(&mut out, &mut pending_calls);
                    out.push(json!({"role": "assistant", "content": &*turn.content}));
                }
            }
        }
        flush(&mut out, &mut pending_calls);
        out
    }

    /// One model request, retried on 429, 5xx and timeouts while time allows.
    async fn complete(&self, messages: &[Value], deadline: Instant) -> Result<Value, AgentError> {
        let request = json!({
            "model": self.model,
            "messages": messages,
            "tools": &self.tool_specs,
            "tool_choice": "auto",
            "temperature": 0.3,
            "stream": false,
        });
        // async-openai already retries 429, 5xx and connection failures
        // (three times, backing off from 100 ms, honouring Retry-After); a
        // request that timed out is tried once more if the deadline allows.
        let mut last = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(500) {
                break;
            }
            let chat = self.client.chat();
            let (retry, why) =
                match tokio::time::timeout(left, chat.create_byot::<_, Value>(&request)).await {
                    Ok(Ok(v)) => return Ok(v),
                    Err(_) => (
                        false,
                        "the model did not answer before the turn's deadline".to_owned(),
                    ),
                    Ok(Err(OpenAIError::ApiError(e))) => (
                        false,
                        format!("HTTP {}: {}", e.status_code.as_u16(), e.api_error.message),
                    ),
                    Ok(Err(OpenAIError::Reqwest(e))) => {
                        (e.is_timeout(), format!("request failed: {e}"))
                    }
                    Ok(Err(e)) => (false, e.to_string()),
                };
            tracing::warn!(attempt, retry, error = %why, "model request failed");
            last = why;
            if !retry {
                break;
            }
        }
        Err(AgentError::Unavailable(last))
    }
}

/// The model's goodbye when it ended the call without words.
fn default_goodbye(business: &str) -> String {
    format!("Thank you for calling {business}. Goodbye!")
}

#[async_trait]
impl Agent for LlmAgent {
    /// The model sees the latest 80 entries (tool calls included), which
    /// bounds the prompt on very long calls.
    fn history_window(&self) -> usize {
        80
    }

    async fn reply(&self, call: &CallContext, history: &[Turn]) -> Result<Reply, AgentError> {
        let deadline = Instant::now() + TURN_DEADLINE;
        let mut messages = self.messages(call, history);
        let ctx = ToolContext {
            caller: call.caller.clone(),
            now: call.now,
        };
        let mut records = Vec::new();
        let mut end_call = false;
        for _ in 0..MAX_ROUNDS {
            let response = self.complete(&messages, deadline).await?;
            let message = &response["choices"][0]["message"];
            if message.is_null() {
                return Err(AgentError::Unavailable(
                    "the model answered no message".into(),
                ));
            }
            let text = message["content"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let calls = message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if calls.is_empty() {
                let text = speech::speakable(&text);
                if text.is_empty() && !end_call {
                    return Err(AgentError::Unavailable("the model answered nothing".into()));
                }
                return Ok(finish(text, end_call, records, &self.business.name));
            }
            messages.push(
                json!({"role": "assistant", "content": message["content"], "tool_calls": calls}),
            );
            for c in &calls {
                let id = c["id"].as_str().unwrap_or_default().to_owned();
                let name = c["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let arguments = c["function"]["arguments"]
                    .as_str()
                    .unwrap_or("{}")
                    .to_owned();
                let args: Value = serde_json::from_str(&arguments).unwrap_or_else(|_| json!({}));
                let result = self.tools.dispatch(&name, &args, &ctx).await;
                end_call |= result.end_call;
                tracing::info!(call_sid = %call.call_sid, tool = %name, "tool called");
                messages.push(json!({"role": "tool", "tool_call_id": id, "content": result.value.to_string()}));
                records.push(ToolRecord {
                    id,
                    name,
                    arguments,
                    result: result.value,
                });
            }
            if end_call {
                // The goodbye came with the end_call request, or is the default.
                return Ok(finish(
                    speech::speakable(&text),
                    true,
                    records,
                    &self.business.name,
                ));
            }
        }
        Err(AgentError::Unavailable(format!(
            "no answer after {MAX_ROUNDS} tool rounds"
        )))
    }
}

fn finish(text: String, end_call: bool, records: Vec<ToolRecord>, business: &str) -> Reply {
    let text = if text.is_empty() {
        default_goodbye(business)
    } else {
        text
    };
    Reply {
        text,
        end_call,
        memory: None,
        tool_calls: records
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect(),
    }
}
