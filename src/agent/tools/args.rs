//! Tool arguments as a model sends them, checked strictly before anything
//! runs.
//!
//! The arguments must be a JSON object (an empty string counts as `{}`);
//! each known field must have its documented type; times are local
//! `YYYY-MM-DDTHH:MM` on a quarter hour with no seconds; a length is a whole
//! number of minutes in [`MIN_MINUTES`]..=[`MAX_MINUTES`]. Anything else is
//! an [`ArgError`] whose message names the field and shows a valid example
//! (a real future time, worked out from "now"), and the tool does not run.

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde::Serialize;
use serde_json::{Map, Value};

/// The shortest appointment a tool call may ask for, in minutes.
pub const MIN_MINUTES: u32 = 15;
/// The longest appointment a tool call may ask for, in minutes.
pub const MAX_MINUTES: u32 = 240;
/// The longest free text (a name, a reason) a tool call may carry.
const MAX_TEXT: usize = 200;

/// `2026-11-24T14:00`.
pub fn format_local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// Which of the caller's appointments a move or cancellation is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Target {
    /// By the id a tool result gave.
    Id {
        /// The appointment's id.
        appointment_id: String,
    },
    /// By its current start (local time).
    Start {
        /// The current start.
        #[serde(serialize_with = "local_time")]
        start: NaiveDateTime,
    },
}

fn local_time<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_local(*t))
}

/// A tool call with checked arguments. Serialised, it is the arguments
/// object the tool takes (how a typed call is written in the transcript).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Request {
    /// `check_availability`.
    CheckAvailability {
        /// The day.
        date: NaiveDate,
        /// The length to look for.
        #[serde(rename = "duration_minutes", skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
    },
    /// `book_appointment`.
    Book {
        /// Local start.
        #[serde(serialize_with = "local_time")]
        start: NaiveDateTime,
        /// Who it is for.
        name: String,
        /// Its length.
        #[serde(rename = "duration_minutes", skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
        /// Email.
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        /// A callback number the caller gave.
        #[serde(skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        /// What for.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `find_appointments`.
    Find {
        /// Narrows the caller's own appointments to a name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `reschedule_appointment`.
    Reschedule {
        /// Which appointment.
        #[serde(flatten)]
        target: Target,
        /// The new local start.
        #[serde(serialize_with = "local_time")]
        new_start: NaiveDateTime,
    },
    /// `cancel_appointment`.
    Cancel {
        /// Which appointment.
        #[serde(flatten)]
        target: Target,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `end_call`.
    EndCall {
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `transfer_call`.
    Transfer {
        /// What the caller wants a person for (whispered to them).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `take_message`.
    TakeMessage {
        /// Who it is from.
        name: String,
        /// What it is about.
        message: String,
        /// Where to call back, if not the caller's own number.
        #[serde(skip_serializing_if = "Option::is_none")]
        callback_number: Option<String>,
    },
}

impl Request {
    /// The tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CheckAvailability { .. } => "check_availability",
            Self::Book { .. } => "book_appointment",
            Self::Find { .. } => "find_appointments",
            Self::Reschedule { .. } => "reschedule_appointment",
            Self::Cancel { .. } => "cancel_appointment",
            Self::EndCall { .. } => "end_call",
            Self::Transfer { .. } => "transfer_call",
            Self::TakeMessage { .. } => "take_message",
        }
    }

    /// Whether the call changes the calendar.
    pub fn has_side_effect(&self) -> bool {
        matches!(
            self,
            Self::Book { .. }
                | Self::Reschedule { .. }
                | Self::Cancel { .. }
                | Self::TakeMessage { .. }
        )
    }

    /// Whether it reads or changes the calendar.
    pub fn uses_calendar(&self) -> bool {
        matches!(
            self,
            Self::CheckAvailability { .. }
                | Self::Book { .. }
                | Self::Find { .. }
                | Self::Reschedule { .. }
                | Self::Cancel { .. }
        )
    }

    /// Whether it must wait for the caller's final words: everything but
    /// reading (free times, the caller's own appointments). Ending the call
    /// and transferring it change the call, so they wait too.
    pub fn waits_for_final_words(&self) -> bool {
        !matches!(self, Self::CheckAvailability { .. } | Self::Find { .. })
    }

    /// The arguments as JSON text.
    pub fn arguments(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Why a tool call's arguments were refused; the message is for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

/// Reads the arguments of tool `name` strictly. `example` is a valid
/// future local time to show in messages.
pub fn parse(name: &str, raw: &str, example: NaiveDateTime) -> Result<Request, ArgError> {
    let object = object(raw)?;
    let a = Fields {
        object: &object,
        example,
    };
    Ok(match name {
        "check_availability" => {
            let date = a.required("date", || a.example_date())?;
            let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| {
                ArgError(format!(
                    "date must be a day written YYYY-MM-DD, like {}",
                    a.example_date()
                ))
            })?;
            Request::CheckAvailability {
                date,
                minutes: a.minutes()?,
            }
        }
        "book_appointment" => Request::Book {
            start: a.local("start")?.ok_or_else(|| a.missing_time("start"))?,
            name: a.text("name")?.ok_or_else(|| {
                ArgError("name is required: ask the caller for their name first".into())
            })?,
            minutes: a.minutes()?,
            email: a.text("email")?,
            phone: a.text("phone")?,
            reason: a.text("reason")?,
        },
        "find_appointments" => {
            // A phone number is accepted and ignored: only the caller's own
            // number is ever searched.
            a.text("phone")?;
            Request::Find {
                name: a.text("name")?,
            }
        }
        "reschedule_appointment" => Request::Reschedule {
            target: a.target()?,
            new_start: a
                .local("new_start")?
                .ok_or_else(|| a.missing_time("new_start"))?,
        },
        "cancel_appointment" => Request::Cancel {
            target: a.target()?,
            reason: a.text("reason")?,
        },
        "end_call" => Request::EndCall {
            reason: a.text("reason")?,
        },
        "transfer_call" => Request::Transfer {
            reason: a.text("reason")?,
        },
        "take_message" => Request::TakeMessage {
            name: a.text("name")?.ok_or_else(|| {
                ArgError("name is required: ask the caller who the message is from".into())
            })?,
            message: a.text("message")?.ok_or_else(|| {
                ArgError("message is required: ask the caller what the message is about".into())
            })?,
            callback_number: a.callback()?,
        },
        other => {
            return Err(ArgError(format!(
                "there is no tool called {other:?}; the tools are {}",
                super::schema::TOOL_NAMES.join(", ")
            )));
        }
    })
}

fn object(raw: &str) -> Result<Map<String, Value>, ArgError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ArgError(
            "the arguments must be a JSON object, like {\"date\": \"2026-12-01\"}".into(),
        )),
        Err(e) => Err(ArgError(format!(
            "the arguments are not valid JSON ({e}); send one JSON object"
        ))),
    }
}

struct Fields<'a> {
    object: &'a Map<String, Value>,
    example: NaiveDateTime,
}

impl Fields<'_> {
    fn example_date(&self) -> String {
        self.example.date().format("%Y-%m-%d").to_string()
    }

    fn missing_time(&self, key: &str) -> ArgError {
        ArgError(format!(
            "{key} is required, written YYYY-MM-DDTHH:MM, like {}",
            format_local(self.example)
        ))
    }

    /// A string field: absent, `null` or blank is `None`.
    fn text(&self, key: &str) -> Result<Option<String>, ArgError> {
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > MAX_TEXT {
                    return Err(ArgError(format!(
                        "{key} is too long (at most {MAX_TEXT} characters)"
                    )));
                }
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Some(_) => Err(ArgError(format!("{key} must be a string"))),
        }
    }

    fn required(&self, key: &str, example: impl Fn() -> String) -> Result<String, ArgError> {
        self.text(key)?
            .ok_or_else(|| ArgError(format!("{key} is required, like {}", example())))
    }

    /// A local start time: `YYYY-MM-DDTHH:MM` on a quarter hour.
    fn local(&self, key: &str) -> Result<Option<NaiveDateTime>, ArgError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        let example = format_local(self.example);
        let parsed = NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S"))
            .map_err(|_| {
                ArgError(format!(
                    "{key} must be a local time written YYYY-MM-DDTHH:MM, like {example}"
                ))
            })?;
        if parsed.second() != 0 {
            return Err(ArgError(format!(
                "{key} must not have seconds: write YYYY-MM-DDTHH:MM, like {example}"
            )));
        }
        if parsed.minute() % 15 != 0 {
            return Err(ArgError(format!(
                "{key} must be on a quarter hour (:00, :15, :30 or :45), like {example}"
            )));
        }
        Ok(Some(parsed))
    }

    /// A phone number the caller gave by voice: digits (and a leading +),
    /// 7 to 15 of them; spaces, dashes and brackets are dropped.
    fn callback(&self) -> Result<Option<String>, ArgError> {
        let Some(raw) = self.text("callback_number")? else {
            return Ok(None);
        };
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let only_number = raw
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !only_number || !(7..=15).contains(&digits.len()) {
            return Err(ArgError(
                "callback_number must be a phone number of 7 to 15 digits; ask the caller to repeat it"
                    .into(),
            ));
        }
        Ok(Some(if raw.trim_start().starts_with('+') {
            format!("+{digits}")
        } else {
            digits
        }))
    }

    fn minutes(&self) -> Result<Option<u32>, ArgError> {
        let key = "duration_minutes";
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .filter(|m| (MIN_MINUTES..=MAX_MINUTES).contains(m))
                .map(Some)
                .ok_or_else(|| {
                    ArgError(format!(
                        "{key} must be a whole number of minutes from {MIN_MINUTES} to {MAX_MINUTES}"
                    ))
                }),
            Some(_) => Err(ArgError(format!(
                "{key} must be a number (not text), a whole number of minutes from {MIN_MINUTES} to {MAX_MINUTES}, like 45"
            ))),
        }
    }

    fn target(&self) -> Result<Target, ArgError> {
        if let Some(id) = self.text("appointment_id")? {
            return Ok(Target::Id { appointment_id: id });
        }
        match self.local("start")? {
            Some(start) => Ok(Target::Start { start }),
            None => Err(ArgError(
                "give appointment_id (from find_appointments) or the appointment's current start"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
    }

    fn err(name: &str, raw: &str) -> String {
        parse(name, raw, example()).unwrap_err().0
    }

    #[test]
    fn arguments_that_are_not_a_json_object_are_refused_with_the_reason() {
        assert!(err("book_appointment", "{\"start\": ").contains("not valid JSON"));
        assert!(err("book_appointment", "[1, 2]").contains("JSON object"));
        assert!(err("book_appointment", "\"start\"").contains("JSON object"));
        // An empty string is a call without arguments.
        assert_eq!(
            parse("find_appointments", "", example()).unwrap(),
            Request::Find { name: None }
        );
    }

    #[test]
    fn times_must_be_on_a_quarter_hour_without_seconds() {
        let book = |start: &str| {
            parse(
                "book_appointment",
                &format!("{{\"start\": \"{start}\", \"name\": \"Ada\"}}"),
                example(),
            )
        };
        assert!(book("2026-11-24T10:45").is_ok());
        assert!(book("2026-11-24T10:45:00").is_ok());
        let seconds = book("2026-11-24T15:00:59").unwrap_err().0;
        assert!(seconds.contains("seconds"), "{seconds}");
        let odd = book("2026-11-24T14:07").unwrap_err().0;
        assert!(odd.contains("quarter hour"), "{odd}");
        let words = book("tomorrow at 3").unwrap_err().0;
        assert!(words.contains("like 2026-11-24T09:00"), "{words}");
    }

    #[test]
    fn lengths_are_whole_minutes_in_range() {
        let book = |minutes: &str| {
            parse(
                "book_appointment",
                &format!(
                    "{{\"start\": \"2026-11-24T10:00\", \"name\": \"Ada\", \"duration_minutes\": {minutes}}}"
                ),
                example(),
            )
        };
        assert!(matches!(
            book("45").unwrap(),
            Request::Book {
                minutes: Some(45),
                ..
            }
        ));
        for bad in ["100000", "0", "-30", "30.5", "\"45\"", "true"] {
            let e = book(bad).unwrap_err().0;
            assert!(e.contains("duration_minutes"), "{bad}: {e}");
        }
    }

    #[test]
    fn wrong_types_and_missing_fields_name_the_field() {
        assert!(err("book_appointment", r#"{"start": 5, "name": "x"}"#).contains("start"));
        assert!(err("book_appointment", r#"{"start": "2026-11-24T10:00"}"#).contains("name"));
        assert!(err("cancel_appointment", "{}").contains("appointment_id"));
        assert!(err("check_availability", r#"{"date": "tomorrow"}"#).contains("2026-11-24"));
        assert!(err("launch_rockets", "{}").contains("book_appointment"));
    }

    #[test]
    fn a_typed_request_writes_the_arguments_the_tool_takes() {
        let r = parse(
            "reschedule_appointment",
            r#"{"start": "2026-11-24T10:00", "new_start": "2026-11-24T11:30"}"#,
            example(),
        )
        .unwrap();
        assert_eq!(
            r.arguments(),
            r#"{"start":"2026-11-24T10:00","new_start":"2026-11-24T11:30"}"#
        );
        assert_eq!(r.name(), "reschedule_appointment");
        assert!(r.has_side_effect());
    }
}
