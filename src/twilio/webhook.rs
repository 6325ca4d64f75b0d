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
    fn numbers_are_masked() {
        assert_eq!(mask_number("+14155551234"), "+1******1234");
        assert_eq!(mask_number("12"), "**");
    }
}
