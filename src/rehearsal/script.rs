//! The conversation-test file format (interface.md, "Conversation tests"):
//! TOML with any number of `[[conversation]]` tables.
//!
//! Parsing is strict: an unknown key, a wrong type or a malformed time is an
//! error that names the file and the conversation (its `name`, else its
//! position), so a typo in an expectation can never pass silently.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::Deserialize;

/// One conversation: a call played line by line, and what must hold after it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// What the conversation checks, shown in the report.
    pub name: String,
    /// Local business time when the call starts (`YYYY-MM-DDTHH:MM`); unset: now.
    #[serde(default, deserialize_with = "local_time_opt")]
    pub today: Option<NaiveDateTime>,
    /// The caller's number; unset: a withheld number.
    #[serde(default)]
    pub caller: Option<String>,
    /// Appointments in the calendar before the call.
    #[serde(default)]
    pub booked_before: Vec<Prebooked>,
    /// What the caller says, turn by turn; `""` is a silent turn.
    pub says: Vec<String>,
    /// Appointments that must exist after the call.
    #[serde(default)]
    pub expect_booked: Vec<Expected>,
    /// Appointments that must not exist after the call.
    #[serde(default)]
    pub expect_not_booked: Vec<Expected>,
    /// Words each of which must appear in some reply (case-insensitive).
    #[serde(default)]
    pub expect_heard: Vec<String>,
    /// Whether the receptionist must (or must not) have hung up.
    #[serde(default)]
    pub expect_ends_call: Option<bool>,
}

/// An appointment already in the calendar.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prebooked {
    /// Who it is for.
    pub name: String,
    /// Local start, `YYYY-MM-DDTHH:MM`.
    #[serde(deserialize_with = "local_time")]
    pub start: NaiveDateTime,
    /// The number it was booked from (whose caller may move or cancel it).
    #[serde(default)]
    pub phone: Option<String>,
}

/// An appointment expected (or not) after the call. Without a name, any
/// appointment at that start matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Who it is for (compared case-insensitively).
    #[serde(default)]
    pub name: Option<String>,
    /// Local start, `YYYY-MM-DDTHH:MM`, compared exactly.
    #[serde(deserialize_with = "local_time")]
    pub start: NaiveDateTime,
}

impl Expected {
    /// Whether an appointment for `name` at `start` is this one.
    pub fn matches(&self, name: &str, start: NaiveDateTime) -> bool {
        start == self.start
            && self
                .name
                .as_deref()
                .is_none_or(|n| n.trim().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} at {}", format_local(self.start)),
            None => write!(f, "an appointment at {}", format_local(self.start)),
        }
    }
}

/// `2026-11-30T09:00`.
pub fn format_local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// Parses `YYYY-MM-DDTHH:MM` (seconds tolerated).
pub fn parse_local(raw: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw.trim(), f).ok())
}

fn local_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let raw = String::deserialize(d)?;
    parse_local(&raw).ok_or_else(|| {
        serde::de::Error::custom(format!("{raw:?} is not a local time like 2026-11-30T09:00"))
    })
}

fn local_time_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<NaiveDateTime>, D::Error> {
    local_time(d).map(Some)
}

/// Why a conversation file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("{}: cannot read it: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not the conversation-test format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the conversation when it is in one.
        message: String,
    },
}

/// The conversations of one file.
#[derive(Debug, Clone)]
pub struct Script {
    /// Where they came from.
    pub path: PathBuf,
    /// In file order.
    pub conversations: Vec<Conversation>,
}

impl Script {
    /// Reads and checks a conversation file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks the text of a conversation file named `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScriptError> {
        let fail = |message: String| ScriptError::Format {
            path: path.to_owned(),
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            fail(format!("not valid TOML: {}", e.message().trim()))
        })?;
        if let Some(key) = table.keys().find(|k| *k != "conversation") {
            return Err(fail(format!(
                "unknown top-level key `{key}` (conversations go in [[conversation]] tables)"
            )));
        }
        let Some(list) = table.get("conversation") else {
            return Err(fail("no [[conversation]] in the file".into()));
        };
        let Some(list) = list.as_array() else {
            return Err(fail(
                "`conversation` must be a list of tables ([[conversation]])".into(),
            ));
        };
        let mut conversations = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let label = match entry.get("name").and_then(toml::Value::as_str) {
                Some(name) => format!("conversation {} ({name:?})", i + 1),
                None => format!("conversation {}", i + 1),
            };
            let conversation: Conversation = entry
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| fail(format!("{label}: {}", e.message().trim())))?;
            if conversation.says.is_empty() {
                return Err(fail(format!("{label}: `says` is empty")));
            }
            conversations.push(conversation);
        }
        Ok(Self {
            path: path.to_owned(),
            conversations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Script, String> {
        Script::parse(Path::new("calls.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_parses() {
        let s = parse(
            r#"
[[conversation]]
name = "books tomorrow afternoon"
today = "2026-11-30T09:00"
caller = "+15551230001"
booked_before = [
  { name = "Alan Turing", start = "2026-12-01T14:00", phone = "+15551230002" },
]
says = ["Can I come in tomorrow at 2 pm? My name is Ada Lovelace.", "Then 3 pm.", "Yes, please."]
expect_booked = [{ name = "Ada Lovelace", start = "2026-12-01T15:00" }]
expect_not_booked = [{ start = "2026-12-01T14:00", name = "Ada Lovelace" }]
expect_heard = ["already taken"]
expect_ends_call = false
"#,
        )
        .unwrap();
        let c = &s.conversations[0];
        assert_eq!(c.today, parse_local("2026-11-30T09:00"));
        assert_eq!(c.booked_before[0].phone.as_deref(), Some("+15551230002"));
        assert_eq!(c.says.len(), 3);
        assert!(
            c.expect_booked[0].matches("ada lovelace", parse_local("2026-12-01T15:00").unwrap())
        );
        assert!(!c.expect_booked[0].matches("Ada", parse_local("2026-12-01T15:00").unwrap()));
        assert_eq!(c.expect_ends_call, Some(false));
    }

    #[test]
    fn mistakes_name_the_file_and_the_conversation() {
        let e = parse("[[conversation]]\nname = \"one\"\nsays = [\"hi\"]\nexpect_boked = []\n")
            .unwrap_err();
        assert!(e.starts_with("calls.toml: conversation 1 (\"one\")"), "{e}");
        assert!(e.contains("expect_boked"), "{e}");
        let e = parse("[[conversation]]\nname = \"t\"\ntoday = \"tomorrow\"\nsays = [\"hi\"]\n")
            .unwrap_err();
        assert!(
            e.contains("conversation 1 (\"t\")") && e.contains("\"tomorrow\""),
            "{e}"
        );
        let e = parse("[[conversation]]\nname = \"x\"\nsays = [\"hi\"]\nexpect_booked = [{ start = \"2026-12-01T15:00\", nmae = \"Ada\" }]\n")
            .unwrap_err();
        assert!(e.contains("nmae"), "{e}");
        let e = parse("[[conversation]]\nsays = [\"hi\"]\n").unwrap_err();
        assert!(e.contains("conversation 1") && e.contains("name"), "{e}");
        let e = parse("[[conversation]]\nname = \"quiet\"\nsays = []\n").unwrap_err();
        assert!(e.contains("`says` is empty"), "{e}");
        let e = parse("title = \"x\"\n").unwrap_err();
        assert!(e.contains("`title`"), "{e}");
        let e = parse("[[conversation]\n").unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
        assert!(parse("").unwrap_err().contains("no [[conversation]]"));
    }
}
