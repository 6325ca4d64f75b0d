//! What the built-in agent remembers between turns of one call, kept in the
//! session (the agent itself holds no per-call state): what it is doing,
//! the day and time wanted so far, the caller's name, what it offered or
//! asked last, and the appointment it booked or moved last (so "actually,
//! make it 11" right after a booking moves that booking).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use super::when::Period;

/// What the caller wants done with the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// Book a new appointment.
    Book,
    /// Move an existing one.
    Move,
    /// Cancel one.
    Cancel,
}

/// What the receptionist asked last, so the next words are read as an answer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Awaiting {
    /// A yes or no to the action just described.
    Confirm,
    /// The caller's name.
    Name,
    /// Which of the caller's appointments.
    Choice,
    /// Which of two dates ("this Friday or next?").
    Day,
    /// What day and time.
    When,
    /// One of the times just offered.
    Offer,
    /// "Is there anything else?"
    AnythingElse,
    /// "Would you like to book a new one?"
    OfferBook,
    /// What the message for the business says.
    Message,
    /// Who the message is from.
    MessageName,
}

/// An appointment of the caller's: its id and local start.
pub type Held = (String, NaiveDateTime);

/// The agent's working memory between turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// What is being done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// The day wanted (for a booking, or the new day of a move).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// The time wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NaiveTime>,
    /// The last time the caller asked for, kept when only the day changes
    /// ("what about Thursday?").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted: Option<NaiveTime>,
    /// A part of the day, when no time was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The caller's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A message for the business, waiting for the caller's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The appointment being moved or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Held>,
    /// The caller's appointments to choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Held>,
    /// The question asked last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<Awaiting>,
    /// Times offered last, for "the first one" or "10 works".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<NaiveDateTime>,
    /// The dates a day could mean, while asking which.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub day_choices: Vec<NaiveDate>,
    /// The appointment booked or moved last in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Held>,
    /// Cancel all of `candidates` ("cancel both of them").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Requests said in the same breath, for after the current one is done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<String>,
}

impl Memory {
    /// A fresh start for `flow`, keeping who the caller is and what was
    /// done in this call.
    pub fn restart(&mut self, flow: Option<Flow>) {
        *self = Self {
            flow,
            name: self.name.take(),
            last: self.last.take(),
            queue: std::mem::take(&mut self.queue),
            ..Self::default()
        };
    }

    /// Whether something is in progress.
    pub fn busy(&self) -> bool {
        self.flow.is_some()
    }
}
