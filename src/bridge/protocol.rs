//! The messages of the two sockets the bridge joins, as serde types, apart
//! from any I/O: Twilio Media Streams (JSON text frames, `event`-tagged) and
//! Deepgram's Voice Agent (JSON control messages, `type`-tagged, with audio
//! as binary frames).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A message from Twilio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum TwilioIn {
    /// First message.
    Connected {
        /// `Call`.
        #[serde(default)]
        protocol: String,
    },
    /// The stream's metadata.
    Start {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// Details.
        start: StartInfo,
    },
    /// Caller audio.
    Media {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// The audio.
        media: MediaIn,
    },
    /// A mark of ours was played (or cleared).
    Mark {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// Which.
        mark: MarkName,
    },
    /// A key press.
    Dtmf {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    /// The stream stopped or the call ended.
    Stop {
        /// `MZ…`.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
    },
}

/// `start` details.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInfo {
    /// `CA…`.
    pub call_sid: String,
    /// `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// `<Parameter>`s of the TwiML.
    #[serde(default)]
    pub custom_parameters: HashMap<String, String>,
}

/// Audio from Twilio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MediaIn {
    /// Base64 µ-law, 8 kHz mono.
    pub payload: String,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub track: Option<String>,
}

/// A mark's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkName {
    /// The name.
    pub name: String,
}

/// A message to Twilio.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum TwilioOut {
    /// Agent audio to play.
    Media {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// The audio.
        media: MediaOut,
    },
    /// Tell us when playback reaches here.
    Mark {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// Which.
        mark: MarkName,
    },
    /// Drop queued audio (barge-in).
    Clear {
        /// `MZ…`.
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
}

/// Audio for Twilio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaOut {
    /// Base64 µ-law, 8 kHz mono, no header.
    pub payload: String,
}

/// A message from Deepgram's agent (unknown types are tolerated).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum AgentIn {
    /// Socket open.
    Welcome,
    /// Settings accepted.
    SettingsApplied,
    /// A transcript line.
    ConversationText {
        /// `user` or `assistant`.
        role: String,
        /// What was said.
        content: String,
    },
    /// The caller started talking: barge-in.
    UserStartedSpeaking,
    /// The agent wants functions run.
    FunctionCallRequest {
        /// The calls.
        functions: Vec<FunctionCall>,
    },
    /// The agent finished sending this turn's audio.
    AgentAudioDone,
    /// A fatal error.
    Error {
        /// In words.
        #[serde(default)]
        description: String,
        /// Code.
        #[serde(default)]
        code: String,
    },
    /// Anything else (History, Warning, AgentThinking, …).
    #[serde(other)]
    Other,
}

/// One function call request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FunctionCall {
    /// Echo in the response.
    pub id: String,
    /// The tool.
    pub name: String,
    /// JSON arguments as a string.
    #[serde(default)]
    pub arguments: String,
    /// Whether we must run it.
    #[serde(default)]
    pub client_side: bool,
}

/// A message to Deepgram's agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum AgentOut {
    /// The result of a client-side function.
    FunctionCallResponse {
        /// The request's id.
        id: String,
        /// The tool.
        name: String,
        /// The result (JSON text).
        content: String,
    },
    /// Keeps the socket open while no audio flows.
    KeepAlive,
}

/// What the `Settings` message is built from.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The business prompt (the same as the LLM agent's).
    pub prompt: String,
    /// The first thing the agent says.
    pub greeting: String,
    /// Listen model (e.g. `nova-3`).
    pub listen_model: String,
    /// Language for listening.
    pub language: String,
    /// Think provider type (e.g. `open_ai`).
    pub think_provider: String,
    /// Think model.
    pub think_model: String,
    /// Speak model (e.g. `aura-2-thalia-en`).
    pub speak_model: String,
    /// Function definitions: name, description, JSON-schema parameters.
    pub functions: Vec<(String, String, Value)>,
}

impl AgentSettings {
    /// The `Settings` message: µ-law 8 kHz both ways, no container, and the
    /// calendar tools as client-side functions (no endpoint).
    pub fn to_message(&self) -> Value {
        json!({
            "type": "Settings",
            "audio": {
                "input": {"encoding": "mulaw", "sample_rate": 8000},
                "output": {"encoding": "mulaw", "sample_rate": 8000, "container": "none"}
            },
            "agent": {
                "listen": {"provider": {"type": "deepgram", "version": "v1", "model": self.listen_model, "language": self.language}},
                "think": {
                    "provider": {"type": self.think_provider, "model": self.think_model},
                    "prompt": self.prompt,
                    "functions": self.functions.iter().map(|(name, description, parameters)| json!({
                        "name": name, "description": description, "parameters": parameters
                    })).collect::<Vec<_>>()
                },
                "speak": {"provider": {"type": "deepgram", "model": self.speak_model}},
                "greeting": self.greeting
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_messages_parse_as_documented() {
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"call_sid":"CA1"}},"streamSid":"MZ1"}"#;
        let TwilioIn::Start { stream_sid, start } = serde_json::from_str(start).unwrap() else {
            panic!("not start");
        };
        assert_eq!(stream_sid, "MZ1");
        assert_eq!(start.call_sid, "CA1");
        assert_eq!(start.custom_parameters["call_sid"], "CA1");
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"AAEC"},"streamSid":"MZ1"}"#;
        assert!(matches!(
            serde_json::from_str::<TwilioIn>(media).unwrap(),
            TwilioIn::Media { .. }
        ));
        let stop = r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}"#;
        assert!(matches!(
            serde_json::from_str::<TwilioIn>(stop).unwrap(),
            TwilioIn::Stop { .. }
        ));
    }

    #[test]
    fn twilio_replies_serialise_as_documented() {
        let clear = serde_json::to_value(TwilioOut::Clear {
            stream_sid: "MZ1".into(),
        })
        .unwrap();
        assert_eq!(clear, json!({"event": "clear", "streamSid": "MZ1"}));
        let media = serde_json::to_value(TwilioOut::Media {
            stream_sid: "MZ1".into(),
            media: MediaOut {
                payload: "AAEC".into(),
            },
        })
        .unwrap();
        assert_eq!(
            media,
            json!({"event": "media", "streamSid": "MZ1", "media": {"payload": "AAEC"}})
        );
    }

    #[test]
    fn agent_messages_tolerate_unknown_types() {
        let history = r#"{"type":"History","role":"user","content":"hi"}"#;
        assert_eq!(
            serde_json::from_str::<AgentIn>(history).unwrap(),
            AgentIn::Other
        );
        let call = r#"{"type":"FunctionCallRequest","functions":[{"id":"f1","name":"check_availability","arguments":"{\"date\":\"2026-11-23\"}","client_side":true}]}"#;
        let AgentIn::FunctionCallRequest { functions } = serde_json::from_str(call).unwrap() else {
            panic!()
        };
        assert!(functions[0].client_side);
        let resp = serde_json::to_value(AgentOut::FunctionCallResponse {
            id: "f1".into(),
            name: "n".into(),
            content: "{}".into(),
        })
        .unwrap();
        assert_eq!(
            resp,
            json!({"type": "FunctionCallResponse", "id": "f1", "name": "n", "content": "{}"})
        );
        assert_eq!(
            serde_json::to_value(AgentOut::KeepAlive).unwrap(),
            json!({"type": "KeepAlive"})
        );
    }
}
