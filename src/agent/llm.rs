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

use std::{
    borrow::Cow,
    time::{Duration, Instant},
};

use async_openai::{Client, config::OpenAIConfig, error::OpenAIError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json, value::RawValue};

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
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ToolRecord {
    id: String,
    name: String,
    arguments: String,
    /// The result as JSON text, replayed to the model as it was.
    result: Box<RawValue>,
}

/// A chat message as sent, borrowing from the transcript where it can, so a
/// turn does not rebuild the whole conversation as a JSON tree.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum Message<'a> {
    System {
        content: Cow<'a, str>,
    },
    User {
        content: Cow<'a, str>,
    },
    Assistant {
        content: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    },
    Tool {
        tool_call_id: Cow<'a, str>,
        content: Cow<'a, str>,
    },
}

#[derive(Debug, Serialize)]
struct CallOut<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionOut<'a> {
    name: Cow<'a, str>,
    arguments: Cow<'a, str>,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message<'a>],
    tools: &'a Value,
    tool_choice: &'static str,
    temperature: f32,
    stream: bool,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ResponseMessage>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ResponseCall>>,
}

#[derive(Deserialize)]
struct ResponseCall {
    id: String,
    function: ResponseFunction,
}

#[derive(Deserialize)]
struct ResponseFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

fn call_out<'a>(id: &'a str, name: &'a str, arguments: &'a str) -> CallOut<'a> {
    CallOut {
        id: Cow::Borrowed(id),
        kind: "function",
        function: FunctionOut {
            name: Cow::Borrowed(name),
            arguments: Cow::Borrowed(arguments),
        },
    }
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
        business_prompt(&self.business, call.caller.as_deref(), call.now)
    }

    /// The tool calls recorded in the transcript, parsed once per turn.
    fn records(history: &[Turn]) -> Vec<Option<ToolRecord>> {
        history
            .iter()
            .map(|t| {
                (t.role == Role::Tool)
                    .then(|| serde_json::from_str::<ToolRecord>(&t.content).ok())
                    .flatten()
            })
            .collect()
    }

    /// The conversation as chat messages: earlier tool calls become the
    /// assistant `tool_calls` message and `tool` results they were.
    fn messages<'a>(
        system: &'a str,
        history: &'a [Turn],
        records: &'a [Option<ToolRecord>],
    ) -> Vec<Message<'a>> {
        let mut out = vec![Message::System {
            content: Cow::Borrowed(system),
        }];
        let mut pending: Vec<&'a ToolRecord> = Vec::new();
        let flush = |out: &mut Vec<Message<'a>>, pending: &mut Vec<&'a ToolRecord>| {
            if pending.is_empty() {
                return;
            }
            out.push(Message::Assistant {
                content: None,
                tool_calls: pending
                    .iter()
                    .map(|c| call_out(&c.id, &c.name, &c.arguments))
                    .collect(),
            });
            for c in pending.drain(..) {
                out.push(Message::Tool {
                    tool_call_id: Cow::Borrowed(&c.id),
                    content: Cow::Borrowed(c.result.get()),
                });
            }
        };
        for (turn, record) in history.iter().zip(records) {
            match turn.role {
                Role::Tool => pending.extend(record.as_ref()),
                Role::User => {
                    flush(&mut out, &mut pending);
                    out.push(Message::User {
                        content: Cow::Borrowed(&turn.content),
                    });
                }
                Role::Assistant => {
                    flush(&mut out, &mut pending);
                    out.push(Message::Assistant {
                        content: Some(Cow::Borrowed(&turn.content)),
                        tool_calls: Vec::new(),
                    });
                }
            }
        }
        flush(&mut out, &mut pending);
        out
    }

    /// One model request, retried on 429, 5xx and timeouts while time allows.
    async fn complete(
        &self,
        messages: &[Message<'_>],
        deadline: Instant,
    ) -> Result<ChatResponse, AgentError> {
        let request = ChatRequest {
            model: &self.model,
            messages,
            tools: &self.tool_specs,
            tool_choice: "auto",
            temperature: 0.3,
            stream: false,
        };
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
                match tokio::time::timeout(left, chat.create_byot::<_, ChatResponse>(&request))
                    .await
                {
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

/// The business prompt shared by the LLM agent and the streaming voice
/// agent: the business, today's date and time in its zone, its hours, the
/// caller's number, and phone manners.
pub fn business_prompt(b: &BusinessConfig, caller: Option<&str>, now: DateTime<Utc>) -> String {
    let local = now.with_timezone(&b.timezone);
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
        caller = caller.unwrap_or("unknown"),
    )
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
        let system = self.system_prompt(call);
        let past = Self::records(history);
        let mut messages = Self::messages(&system, history, &past);
        let ctx = ToolContext {
            caller: call.caller.clone(),
            now: call.now,
        };
        let mut records: Vec<ToolRecord> = Vec::new();
        let mut end_call = false;
        for _ in 0..MAX_ROUNDS {
            let response = self.complete(&messages, deadline).await?;
            let Some(message) = response.choices.into_iter().next().and_then(|c| c.message) else {
                return Err(AgentError::Unavailable(
                    "the model answered no message".into(),
                ));
            };
            let text = message.content.unwrap_or_default();
            let calls = message.tool_calls.unwrap_or_default();
            if calls.is_empty() {
                let text = speech::speakable(&text);
                if text.is_empty() && !end_call {
                    return Err(AgentError::Unavailable("the model answered nothing".into()));
                }
                return Ok(finish(text, end_call, &records, &self.business.name));
            }
            let mut results = Vec::with_capacity(calls.len());
            for c in &calls {
                let args: Value =
                    serde_json::from_str(&c.function.arguments).unwrap_or_else(|_| json!({}));
                let result = self.tools.dispatch(&c.function.name, &args, &ctx).await;
                end_call |= result.end_call;
                tracing::info!(call_sid = %call.call_sid, tool = %c.function.name, "tool called");
                let raw = RawValue::from_string(result.value.to_string())
                    .map_err(|e| AgentError::Unavailable(format!("tool result: {e}")))?;
                results.push(raw);
            }
            messages.push(Message::Assistant {
                content: (!text.is_empty()).then(|| Cow::Owned(text.clone())),
                tool_calls: calls
                    .iter()
                    .map(|c| CallOut {
                        id: Cow::Owned(c.id.clone()),
                        kind: "function",
                        function: FunctionOut {
                            name: Cow::Owned(c.function.name.clone()),
                            arguments: Cow::Owned(c.function.arguments.clone()),
                        },
                    })
                    .collect(),
            });
            for (c, result) in calls.into_iter().zip(results) {
                messages.push(Message::Tool {
                    tool_call_id: Cow::Owned(c.id.clone()),
                    content: Cow::Owned(result.get().to_owned()),
                });
                records.push(ToolRecord {
                    id: c.id,
                    name: c.function.name,
                    arguments: c.function.arguments,
                    result,
                });
            }
            if end_call {
                // The goodbye came with the end_call request, or is the default.
                return Ok(finish(
                    speech::speakable(&text),
                    true,
                    &records,
                    &self.business.name,
                ));
            }
        }
        Err(AgentError::Unavailable(format!(
            "no answer after {MAX_ROUNDS} tool rounds"
        )))
    }
}

fn finish(text: String, end_call: bool, records: &[ToolRecord], business: &str) -> Reply {
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
