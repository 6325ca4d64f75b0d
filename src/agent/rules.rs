//! The built-in rules agent: a receptionist that needs no API key.
//!
//! It recognises what the caller wants from everyday phrasing (greetings,
//! the time, the date, what it can do, goodbye) and always answers with
//! something useful: an unknown request gets a helpful fallback, never an
//! error. Time is the business's local time (`BUSINESS_TIMEZONE`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Agent, AgentError, CallContext, Reply, speech};
use crate::session::{Role, Turn};

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Wants to end the call.
    Goodbye,
    /// Asks the time.
    Time,
    /// Asks the day or date.
    Date,
    /// Asks what the receptionist can do.
    Help,
    /// Says thanks (without ending).
    Thanks,
    /// Says hello.
    Greeting,
    /// Anything else.
    Unknown,
}

/// Lower-cases and keeps letters, digits, apostrophes and single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            '\u{2019}' | '`' => '\'',
            c if c.is_alphanumeric() || c == '\'' => c,
            _ => ' ',
        };
        if c != ' ' || !out.ends_with(' ') {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// Whether `phrase` occurs in `text` on word boundaries (both normalised).
pub fn has_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        before.is_none_or(|c| c == ' ') && after.is_none_or(|c| c == ' ')
    })
}

fn any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(text, p))
}

/// Classifies a caller utterance.
pub fn classify(utterance: &str) -> Intent {
    let t = normalize(utterance);
    if any(
        &t,
        &[
            "bye",
            "goodbye",
            "good bye",
            "bye bye",
            "that's all",
            "that is all",
            "that's it",
            "that will be all",
            "nothing else",
            "no thanks",
            "no thank you",
            "hang up",
            "i'm done",
            "we're done",
            "have a good day",
            "have a nice day",
        ],
    ) {
        return Intent::Goodbye;
    }
    if any(&t, &["what time", "the time", "time is it", "current time"]) {
        return Intent::Time;
    }
    if any(
        &t,
        &[
            "what day",
            "which day",
            "the date",
            "what date",
            "today's date",
            "what is today",
            "what's today",
        ],
    ) {
        return Intent::Date;
    }
    if any(
        &t,
        &[
            "help",
            "what can you",
            "what do you do",
            "who are you",
            "what are you",
            "options",
            "how does this work",
        ],
    ) {
        return Intent::Help;
    }
    if any(&t, &["thanks", "thank you", "cheers", "appreciate it"]) {
        return Intent::Thanks;
    }
    if any(
        &t,
        &[
            "hello",
            "hi",
            "hey",
            "good morning",
            "good afternoon",
            "good evening",
        ],
    ) {
        return Intent::Greeting;
    }
    Intent::Unknown
}

/// The built-in agent.
#[derive(Debug, Clone)]
pub struct RulesAgent {
    business_name: String,
    timezone: Tz,
}

impl RulesAgent {
    /// An agent for `business_name`, telling time in `timezone`.
    pub fn new(business_name: impl Into<String>, timezone: Tz) -> Self {
        Self {
            business_name: business_name.into(),
            timezone,
        }
    }

    /// The reply to one utterance at time `now`.
    pub fn respond(&self, utterance: &str, now: DateTime<Utc>) -> Reply {
        let local = now.with_timezone(&self.timezone);
        match classify(utterance) {
            Intent::Goodbye => Reply::goodbye(format!(
                "Thank you for calling {}. Have a great day. Goodbye!",
                self.business_name
            )),
            Intent::Time => Reply::say(format!(
                "It's {} here. Is there anything else I can help you with?",
                speech::time(local.time())
            )),
            Intent::Date => Reply::say(format!(
                "Today is {}. Anything else I can do for you?",
                speech::date(local.date_naive())
            )),
            Intent::Help => Reply::say(format!(
                "I'm the receptionist for {}. I can tell you the time and today's date, \
                 and answer when we're open. What would you like to do?",
                self.business_name
            )),
            Intent::Thanks => Reply::say("You're welcome! Is there anything else?"),
            Intent::Greeting => Reply::say("Hello! How can I help you today?"),
            Intent::Unknown => Reply::say(
                "Sorry, I didn't quite get that. I can tell you the time or today's date. \
                 You can also say goodbye to end the call. What would you like?",
            ),
        }
    }
}

#[async_trait]
impl Agent for RulesAgent {
    async fn reply(&self, call: &CallContext, history: &[Turn]) -> Result<Reply, AgentError> {
        let utterance = history
            .iter()
            .rev()
            .find(|t| t.role == Role::User)
            .map(|t| &*t.content)
            .unwrap_or_default();
        Ok(self.respond(utterance, call.now))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn agent() -> RulesAgent {
        RulesAgent::new("Acme Dental", "America/New_York".parse().unwrap())
    }

    // 2026-11-24 19:05 UTC is 2:05 PM, Tuesday November 24th in New York.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 19, 5, 0).unwrap()
    }

    #[test]
    fn intents_follow_everyday_phrasing() {
        let cases = [
            ("What time is it?", Intent::Time),
            ("Could you tell me the time please", Intent::Time),
            ("What day is it today?", Intent::Date),
            ("what's the date", Intent::Date),
            ("Thanks, that's all.", Intent::Goodbye),
            ("Okay bye!", Intent::Goodbye),
            ("No thank you", Intent::Goodbye),
            ("What can you do?", Intent::Help),
            ("Thank you!", Intent::Thanks),
            ("Hi there", Intent::Greeting),
            ("I'd like a pizza", Intent::Unknown),
            ("this is a bypass", Intent::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text), want, "{text}");
        }
    }

    #[test]
    fn tells_time_and_date_in_the_business_zone() {
        let r = agent().respond("what time is it", now());
        assert!(r.text.starts_with("It's 2:05 PM"), "{}", r.text);
        assert!(!r.end_call);
        let r = agent().respond("what day is it", now());
        assert!(r.text.contains("Tuesday, November 24th"), "{}", r.text);
    }

    #[test]
    fn goodbye_ends_the_call() {
        let r = agent().respond("thanks, that's all", now());
        assert!(r.end_call);
        assert!(r.text.contains("Acme Dental"));
    }

    #[test]
    fn unknown_requests_get_a_helpful_fallback() {
        for text in ["", "asdf qwer", "<Say>&amp;</Say>", "🙂🙂"] {
            let r = agent().respond(text, now());
            assert!(!r.end_call);
            assert!(r.text.contains("time"), "{}", r.text);
        }
    }

    #[test]
    fn normalize_keeps_words_and_apostrophes() {
        assert_eq!(normalize("  That’s ALL, thanks!! "), "that's all thanks");
    }
}
