//! Typed views of Twilio's webhook forms.
//!
//! The HTTP layer deserialises Twilio's form leniently (every field optional,
//! unknown fields ignored, as Twilio adds parameters over time) and turns it
//! into these types, which is where validation happens.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Twilio call id: `CA` followed by 32 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallSid(String);

impl CallSid {
    /// Validates a call id.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let ok = raw.len() == 34
            && raw.starts_with("CA")
            && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("CallSid must be CA followed by 32 hexadecimal digits".into())
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A call's status as Twilio reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    /// Waiting to go out.
    Queued,
    /// Twilio started the call.
    Initiated,
    /// Ringing.
    Ringing,
    /// Answered.
    InProgress,
    /// Answered and ended normally.
    Completed,
    /// The line was busy.
    Busy,
    /// The call could not be placed.
    Failed,
    /// Nobody answered.
    NoAnswer,
    /// Cancelled before it was answered.
    Canceled,
}

impl CallStatus {
    /// Parses Twilio's spelling (`in-progress`, `no-answer`, …).
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim() {
            "queued" => Self::Queued,
            "initiated" => Self::Initiated,
            "ringing" => Self::Ringing,
            "in-progress" | "answered" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "failed" => Self::Failed,
            "no-answer" => Self::NoAnswer,
            "canceled" | "cancelled" => Self::Canceled,
            _ => return None,
        })
    }

    /// Twilio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the call is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }

    /// Order in a call's life, for ignoring callbacks that arrive late.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Initiated => 1,
            Self::Ringing => 2,
            Self::InProgress => 3,
            _ => 4,
        }
    }
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Someone called the business.
    Inbound,
    /// The business called someone (through `/make-call`).
    Outbound,
}

impl Direction {
    /// `inbound` or `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Twilio's `Direction` (`inbound`, `outbound-api`, `outbound-dial`) or
    /// our own spelling; `None` when it is neither.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "inbound" => Some(Self::Inbound),
            d if d.starts_with("outbound") => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// What every voice webhook carries, validated.
#[derive(Debug, Clone, Default)]
pub struct CallDetails {
    /// `From`.
    pub from: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `CallStatus`.
    pub status: Option<CallStatus>,
    /// `AnsweredBy` (answering-machine detection).
    pub answered_by: Option<String>,
}

/// Twilio's voice webhook form as posted: every field optional text,
/// borrowed from the HTTP layer's form.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawForm<'a> {
    /// `CallSid`.
    pub call_sid: Option<&'a str>,
    /// `From`.
    pub from: Option<&'a str>,
    /// `To`.
    pub to: Option<&'a str>,
    /// `CallStatus`.
    pub call_status: Option<&'a str>,
    /// `Direction`.
    pub direction: Option<&'a str>,
    /// `SpeechResult`.
    pub speech_result: Option<&'a str>,
    /// `Confidence`.
    pub confidence: Option<&'a str>,
    /// `AnsweredBy`.
    pub answered_by: Option<&'a str>,
    /// `CallDuration`.
    pub call_duration: Option<&'a str>,
    /// `SequenceNumber`.
    pub sequence_number: Option<&'a str>,
}

/// A voice webhook, validated once: a real `CallSid`, known statuses and
/// directions, numbers parsed. Fields Twilio sent malformed (other than the
/// `CallSid`) are treated as absent, because Twilio adds and changes
/// parameters over time and a call must not fail over one.
#[derive(Debug, Clone)]
pub struct VoiceWebhook {
    /// The call.
    pub call_sid: CallSid,
    /// `Direction`, when Twilio sent a known one.
    pub direction: Option<Direction>,
    /// `From`, `To`, `CallStatus`, `AnsweredBy`.
    pub details: CallDetails,
    /// What the caller said, trimmed; empty when nothing was heard.
    pub speech: String,
    /// Recognition confidence, 0.0 to 1.0.
    pub confidence: Option<f64>,
    /// The status callback's `SequenceNumber`.
    pub sequence: Option<u32>,
    /// The call's length in seconds (final status callback).
    pub duration_seconds: Option<u64>,
}

/// Why a request is not a Twilio voice webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The `CallSid` is missing or malformed.
    #[error("not a Twilio webhook: {0}")]
    CallSid(String),
}

impl VoiceWebhook {
    /// Validates Twilio's form.
    pub fn parse(raw: RawForm<'_>) -> Result<Self, WebhookError> {
        let call_sid =
            CallSid::parse(raw.call_sid.unwrap_or_default()).map_err(WebhookError::CallSid)?;
        Ok(Self {
            call_sid,
            direction: raw.direction.and_then(Direction::parse),
            details: CallDetails {
                from: raw.from.map(str::to_owned),
                to: raw.to.map(str::to_owned),
                status: raw.call_status.and_then(CallStatus::parse),
                answered_by: raw.answered_by.map(str::to_owned),
            },
            speech: raw
                .speech_result
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            confidence: fraction(raw.confidence),
            sequence: raw.sequence_number.and_then(|s| s.trim().parse().ok()),
            duration_seconds: raw.call_duration.and_then(|s| s.trim().parse().ok()),
        })
    }

    /// The call's direction, or `default` when Twilio did not say.
    pub fn direction_or(&self, default: Direction) -> Direction {
        self.direction.unwrap_or(default)
    }
}

/// A number Twilio sends as a fraction (`Confidence`, `Stability`); absent
/// when malformed.
fn fraction(raw: Option<&str>) -> Option<f64> {
    raw.and_then(|c| c.trim().parse::<f64>().ok())
        .filter(|c| c.is_finite())
}

/// What a partial result adds to the standard parameters
/// (`/voice/partial-speech`), validated once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialSpeech {
    /// `StableSpeechResult`, trimmed; absent when empty.
    pub stable: Option<String>,
    /// `UnstableSpeechResult`, trimmed; absent when empty.
    pub unstable: Option<String>,
    /// `Stability`, 0.0 to 1.0.
    pub stability: Option<f64>,
}

impl PartialSpeech {
    /// Validates the partial result's fields.
    pub fn parse(stable: Option<&str>, unstable: Option<&str>, stability: Option<&str>) -> Self {
        let text = |t: Option<&str>| {
            t.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Self {
            stable: text(stable),
            unstable: text(unstable),
            stability: fraction(stability),
        }
    }
}

/// Masks a phone number for logs: `+1******4567`.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_head = if chars[0] == '+' { 2 } else { 1 };
    let tail = chars.len() - 4;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= tail { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sids_are_validated() {
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdef").is_ok());
        assert!(CallSid::parse("CA123").is_err());
        assert!(CallSid::parse("XX0123456789abcdef0123456789abcdef").is_err());
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdeg").is_err());
        assert!(CallSid::parse("").is_err());
    }

    #[test]
    fn statuses_parse_and_order() {
        assert_eq!(CallStatus::parse("no-answer"), Some(CallStatus::NoAnswer));
        assert_eq!(
            CallStatus::parse("in-progress").unwrap().as_str(),
            "in-progress"
        );
        assert!(CallStatus::Completed.is_final() && !CallStatus::Ringing.is_final());
        assert!(CallStatus::Ringing.rank() < CallStatus::InProgress.rank());
        assert_eq!(CallStatus::parse("bogus"), None);
    }

    #[test]
    fn a_webhook_is_validated_once() {
        let sid = "CA0123456789abcdef0123456789abcdef";
        let hook = VoiceWebhook::parse(RawForm {
            call_sid: Some(sid),
            direction: Some("outbound-api"),
            call_status: Some("in-progress"),
            speech_result: Some("  book me in  "),
            confidence: Some("0.91"),
            sequence_number: Some("2"),
            call_duration: Some("nonsense"),
            ..RawForm::default()
        })
        .unwrap();
        assert_eq!(hook.call_sid.as_str(), sid);
        assert_eq!(hook.direction_or(Direction::Inbound), Direction::Outbound);
        assert_eq!(hook.details.status, Some(CallStatus::InProgress));
        assert_eq!(hook.speech, "book me in");
        assert_eq!(hook.confidence, Some(0.91));
        assert_eq!(hook.sequence, Some(2));
        assert_eq!(hook.duration_seconds, None);
        let err = VoiceWebhook::parse(RawForm {
            call_sid: Some("CA123"),
            ..RawForm::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("CallSid"), "{err}");
        assert!(VoiceWebhook::parse(RawForm::default()).is_err());
        let nan = VoiceWebhook::parse(RawForm {
            call_sid: Some(sid),
            confidence: Some("NaN"),
            ..RawForm::default()
        })
        .unwrap();
        assert_eq!(nan.confidence, None);
    }

    #[test]
    fn numbers_are_masked() {
        assert_eq!(mask_number("+14155551234"), "+1******1234");
        assert_eq!(mask_number("12"), "**");
    }

    #[test]
    fn a_partial_result_is_read_leniently() {
        let p = PartialSpeech::parse(Some(" Are you open "), Some(""), Some("0.9"));
        assert_eq!(p.stable.as_deref(), Some("Are you open"));
        assert_eq!((p.unstable, p.stability), (None, Some(0.9)));
        let p = PartialSpeech::parse(None, Some("hi"), Some("NaN"));
        assert_eq!((p.stable, p.stability), (None, None));
        assert_eq!(
            PartialSpeech::parse(None, None, Some("high")).stability,
            None
        );
    }
}
