//! The built-in rules agent: a receptionist that needs no API key.
//!
//! It recognises what the caller wants from everyday phrasing and always
//! answers with something useful: an unknown request gets a helpful
//! fallback, never an error. It books, moves and cancels appointments
//! through the same calendar tools the LLM uses: it picks up the day and
//! time ([`super::when`]) and the caller's name, offers free times, confirms
//! once before acting, and offers the nearest free times when a time cannot
//! be had. What it is in the middle of (a booking awaiting "yes") is kept
//! in the session between turns as [`Memory`], so the agent itself holds no
//! per-call state. Time is the business's local time (`BUSINESS_TIMEZONE`).

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    Agent, AgentError, CallContext, Reply, speech,
    tools::{Done, Request, Target, ToolContext, ToolError, Tools},
    when::{self, Period, When},
};
use crate::{
    calendar::Appointment,
    session::{Role, Turn},
};

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
    // Compare bytes at each word start: cheaper than a substring search per
    // phrase, and the agent checks many short phrases on short texts. Word
    // boundaries are ASCII spaces, so byte comparison is exact for UTF-8.
    let (t, p) = (text.as_bytes(), phrase.as_bytes());
    let Some(&first) = p.first() else {
        return false;
    };
    let mut i = 0;
    while t.len() - i >= p.len() {
        let end = i + p.len();
        if t[i] == first && &t[i..end] == p && t.get(end).is_none_or(|&b| b == b' ') {
            return true;
        }
        match t[i..].iter().position(|&b| b == b' ') {
            Some(k) => i += k + 1,
            None => return false,
        }
    }
    false
}

fn any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(text, p))
}

/// Classifies a caller utterance.
pub fn classify(utterance: &str) -> Intent {
    classify_normalized(&normalize(utterance))
}

/// Classifies an utterance already passed through [`normalize`].
pub fn classify_normalized(t: &str) -> Intent {
    if any(
        t,
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
    if any(t, &["what time", "the time", "time is it", "current time"]) {
        return Intent::Time;
    }
    if any(
        t,
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
        t,
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
    if any(t, &["thanks", "thank you", "cheers", "appreciate it"]) {
        return Intent::Thanks;
    }
    if any(
        t,
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

/// What the caller wants done with the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// Book a new appointment.
    Book,
    /// Move an existing one.
    Reschedule,
    /// Cancel one.
    Cancel,
}

/// What the agent's last question was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Awaiting {
    /// A yes or no to the action just described.
    Confirm,
    /// The caller's name.
    Name,
    /// Which of the caller's appointments.
    Choice,
}

/// The agent's working memory between turns, kept in the session.
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
    /// Morning or afternoon, when no time was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The caller's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The appointment being moved or cancelled: id and local start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<(String, NaiveDateTime)>,
    /// The caller's appointments to choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<(String, NaiveDateTime)>,
    /// The question asked last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<Awaiting>,
    /// Times offered last, for "the first one" or "10 works".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<NaiveDateTime>,
}

/// The calendar intent of an utterance, if any.
fn scheduling_intent(t: &str) -> Option<Lookup> {
    if any(
        t,
        &[
            "cancel",
            "call off",
            "can't make it",
            "cannot make it",
            "won't make it",
        ],
    ) {
        return Some(Lookup::Flow(Flow::Cancel));
    }
    if any(
        t,
        &[
            "reschedule",
            "move my",
            "move the",
            "change my",
            "change the",
            "push back",
            "postpone",
            "different time",
            "another time",
        ],
    ) {
        return Some(Lookup::Flow(Flow::Reschedule));
    }
    if any(
        t,
        &[
            "when is my",
            "do i have an appointment",
            "do i have a booking",
            "check my appointment",
            "what time is my",
        ],
    ) {
        return Some(Lookup::Mine);
    }
    if any(
        t,
        &[
            "book",
            "schedule",
            "appointment",
            "reserve",
            "reservation",
            "make an",
            "set up",
            "come in",
            "available",
            "availability",
            "openings",
            "free slot",
            "free time",
            "what times",
            "any time",
            "slot",
            "see the",
        ],
    ) {
        return Some(Lookup::Flow(Flow::Book));
    }
    None
}

/// A calendar intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Flow(Flow),
    Mine,
}

fn is_yes(t: &str) -> bool {
    any(
        t,
        &[
            "yes",
            "yeah",
            "yep",
            "yup",
            "sure",
            "correct",
            "that's right",
            "sounds good",
            "go ahead",
            "please do",
            "ok",
            "okay",
            "perfect",
            "great",
            "absolutely",
            "book it",
            "do it",
            "that works",
            "yes please",
            "confirm",
            "right",
        ],
    )
}

fn is_no(t: &str) -> bool {
    any(
        t,
        &[
            "no",
            "nope",
            "nah",
            "not really",
            "don't",
            "do not",
            "wrong",
            "actually",
            "wait",
        ],
    )
}

/// Words that end a name.
const NOT_NAME: &[&str] = &[
    "and", "i", "i'd", "i'm", "im", "calling", "to", "from", "please", "for", "at", "on", "the",
    "a", "an", "book", "like", "want", "would", "can", "could", "tomorrow", "today", "yes", "no",
    "here", "speaking", "again", "just", "also", "great", "good", "fine", "correct", "right", "it",
    "is", "calling", "about", "with", "my", "that", "this", "so", "but",
];

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Takes a name (up to three words) from the start of `words`.
fn name_from(words: &[&str]) -> Option<String> {
    let name: Vec<String> = words
        .iter()
        .take_while(|w| {
            !NOT_NAME.contains(w)
                && w.chars()
                    .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        })
        .take(3)
        .map(|w| title_case(w))
        .collect();
    (!name.is_empty()).then(|| name.join(" "))
}

/// "my name is Ada Lovelace", "this is Ada", "name's Ada"; with
/// `expecting` (the name was just asked for) also "it's Ada", "I'm Ada" or
/// just "Ada Lovelace".
pub fn extract_name(utterance: &str, expecting: bool) -> Option<String> {
    extract_name_normalized(&normalize(utterance), expecting)
}

/// [`extract_name`] on text already passed through [`normalize`].
fn extract_name_normalized(t: &str, expecting: bool) -> Option<String> {
    let words: Vec<&str> = t.split(' ').collect();
    let mut cues: Vec<&[&str]> = vec![
        &["my", "name", "is"],
        &["my", "name's"],
        &["name", "is"],
        &["name's"],
        &["this", "is"],
        &["call", "me"],
    ];
    if expecting {
        cues.extend_from_slice(&[&["it's"], &["it", "is"], &["i'm"], &["i", "am"], &["im"]]);
    }
    for i in 0..words.len() {
        for cue in &cues {
            if words[i..].starts_with(cue)
                && let Some(name) = name_from(&words[i + cue.len()..])
            {
                return Some(name);
            }
        }
    }
    if expecting && (1..=3).contains(&words.len()) {
        return name_from(&words).filter(|n| n.split(' ').count() == words.len());
    }
    None
}

/// "the first one", "the second", "the last one" among `offered`.
fn pick_offered(t: &str, offered: &[NaiveDateTime]) -> Option<NaiveDateTime> {
    let index = if any(t, &["first", "earliest", "first one"]) {
        0
    } else if any(t, &["second", "middle", "second one"]) {
        1
    } else if any(t, &["third", "third one"]) {
        2
    } else if any(t, &["last", "last one", "latest"]) {
        offered.len().checked_sub(1)?
    } else {
        return None;
    };
    offered.get(index).copied()
}

/// "9 AM, 9:30 AM or 10 AM".
fn list_times(times: &[NaiveDateTime], with_day: bool) -> String {
    let words: Vec<String> = times
        .iter()
        .map(|t| {
            if with_day {
                speech::date_time(t.date(), t.time())
            } else {
                speech::time(t.time())
            }
        })
        .collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Alternatives: just the times when they are all on `day`, the day once
/// when they share another one, else each with its day.
fn list_alternatives(times: &[NaiveDateTime], day: Option<NaiveDate>) -> String {
    let Some(first) = times.first() else {
        return String::new();
    };
    if !times.iter().all(|t| t.date() == first.date()) {
        return list_times(times, true);
    }
    if day == Some(first.date()) {
        list_times(times, false)
    } else {
        format!(
            "{} at {}",
            speech::date(first.date()),
            list_times(times, false)
        )
    }
}

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

    fn spoken(t: NaiveDateTime) -> String {
        speech::date_time(t.date(), t.time())
    }

    /// Replies that need no calendar.
    fn small_talk(&self, intent: Intent, now: DateTime<Utc>) -> Reply {
        let local = now.with_timezone(&self.timezone);
        match intent {
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
                "I'm the receptionist for {}. I can book, move or cancel an appointment, \
                 tell you when we have free times, and tell you the time and date. What would you like to do?",
                self.business_name
            )),
            Intent::Thanks => Reply::say("You're welcome! Is there anything else?"),
            Intent::Greeting => Reply::say("Hello! How can I help you today?"),
            Intent::Unknown => Reply::say(
                "Sorry, I didn't quite get that. I can book, move or cancel an appointment, \
                 or tell you our free times. What would you like?",
            ),
        }
    }

    /// One turn of the conversation.
    pub async fn converse(&self, utterance: &str, ctx: &ToolContext, mem: &mut Memory) -> Reply {
        let t = normalize(utterance);
        let today = self.tools.scheduler().today(ctx.now);
        let mut w = when::parse(utterance, today);
        if let Some(pick) = pick_offered(&t, &mem.offered) {
            w.date = Some(pick.date());
            w.time = Some(pick.time());
        }
        if w.date.is_none()
            && let Some(time) = w.time
            && let Some(o) = mem.offered.iter().find(|o| o.time() == time)
        {
            w.date = Some(o.date());
        }
        let yes = is_yes(&t);
        let no = is_no(&t);
        let intent = scheduling_intent(&t);
        let name = extract_name_normalized(&t, mem.awaiting == Some(Awaiting::Name));

        if mem.awaiting == Some(Awaiting::Confirm)
            && w.is_empty()
            && intent.is_none()
            && name.is_none()
        {
            if yes && !no {
                return Reply::say(self.execute(ctx, mem).await);
            }
            if no {
                return Reply::say(self.declined(mem));
            }
        }
        if let Some(n) = name {
            mem.name = Some(n);
        }
        match intent {
            Some(Lookup::Mine) => return Reply::say(self.tell_mine(ctx).await),
            Some(Lookup::Flow(flow)) if mem.flow != Some(flow) => {
                *mem = Memory {
                    flow: Some(flow),
                    name: mem.name.take(),
                    ..Memory::default()
                };
            }
            _ => {}
        }
        let basic = classify_normalized(&t);
        if basic == Intent::Goodbye && intent.is_none() && w.is_empty() {
            *mem = Memory::default();
            return self.small_talk(Intent::Goodbye, ctx.now);
        }
        if mem.flow.is_none() {
            let asks_clock = matches!(basic, Intent::Time | Intent::Date);
            if !asks_clock && (w.date.is_some() || w.time.is_some()) {
                mem.flow = Some(Flow::Book);
            } else {
                return self.small_talk(basic, ctx.now);
            }
        }
        // Moves and cancels first use a spoken day to pick which appointment.
        let picking =
            matches!(mem.flow, Some(Flow::Reschedule | Flow::Cancel)) && mem.target.is_none();
        if !picking {
            apply_when(mem, &w);
        }
        let text = match mem.flow {
            Some(Flow::Book) => self.step_book(ctx, mem).await,
            Some(flow) => self.step_existing(flow, &t, &w, ctx, mem).await,
            None => return self.small_talk(basic, ctx.now),
        };
        Reply::say(text)
    }

    fn declined(&self, mem: &mut Memory) -> String {
        mem.awaiting = None;
        match mem.flow {
            Some(Flow::Cancel) => {
                *mem = Memory {
                    name: mem.name.take(),
                    ..Memory::default()
                };
                "All right, I'll keep your appointment as it is. Is there anything else?".into()
            }
            _ => {
                mem.time = None;
                mem.offered.clear();
                "No problem. What day and time would suit you better?".into()
            }
        }
    }

    /// The day to use when only a time was given: today if still ahead, else the next open day.
    fn day_for(&self, time: NaiveTime, now: DateTime<Utc>) -> NaiveDate {
        let s = self.tools.scheduler();
        let mut d = s.today(now);
        for _ in 0..8 {
            if s.is_open_on(d) && s.to_utc(d.and_time(time)).is_some_and(|t| t > now) {
                return d;
            }
            d += Duration::days(1);
        }
        d
    }

    /// Offers free times on the remembered day (and part of the day).
    async fn offer_day(&self, date: NaiveDate, ctx: &ToolContext, mem: &mut Memory) -> String {
        let s = self.tools.scheduler();
        let minutes = s.default_minutes;
        let slots = match s.free_slots(date, minutes, ctx.now).await {
            Ok(v) => v,
            Err(_) => return CALENDAR_DOWN.into(),
        };
        let period = mem.period;
        let fitting: Vec<NaiveDateTime> = slots
            .into_iter()
            .filter(|t| period.is_none_or(|p| p.contains(t.time())))
            .collect();
        let part = match period {
            Some(Period::Morning) => " in the morning",
            Some(Period::Afternoon) => " in the afternoon",
            None => "",
        };
        if !fitting.is_empty() {
            mem.offered = spread(&fitting, 3);
            return format!(
                "On {}{part} I have {} free. Which would suit you?",
                speech::date(date),
                list_times(&mem.offered, false)
            );
        }
        let from = date.and_time(match period {
            Some(Period::Afternoon) => NaiveTime::from_hms_opt(12, 0, 0).expect("noon"),
            _ => s.opens,
        });
        let alternatives = match s.nearest_free(from, minutes, ctx.now).await {
            Ok(v) => v,
            Err(_) => return CALENDAR_DOWN.into(),
        };
        mem.offered.clone_from(&alternatives);
        let day = speech::date(date);
        let why = if !s.is_open_on(date) {
            format!("we're closed on {day}")
        } else if date < s.today(ctx.now) {
            format!("{day} has passed")
        } else {
            format!("nothing is free on {day}{part}")
        };
        if alternatives.is_empty() {
            return format!("I'm sorry, {why}, and I have nothing free in the next two weeks.");
        }
        format!(
            "I'm sorry, {why}. The nearest free times are {}. Would one of those work?",
            list_alternatives(&alternatives, None)
        )
    }

    /// The free start time the caller asked for, or what to say instead:
    /// `question` when no day or time is known yet, the free times of a day
    /// given without a time, or the nearest free times when the time cannot
    /// be had (`current`, an appointment being moved, is not offered).
    async fn wanted_start(
        &self,
        question: String,
        current: Option<NaiveDateTime>,
        ctx: &ToolContext,
        mem: &mut Memory,
    ) -> Result<NaiveDateTime, String> {
        let date = match (mem.date, mem.time) {
            (Some(d), _) => d,
            (None, Some(time)) => {
                let d = self.day_for(time, ctx.now);
                mem.date = Some(d);
                d
            }
            (None, None) => return Err(question),
        };
        let Some(time) = mem.time else {
            return Err(self.offer_day(date, ctx, mem).await);
        };
        let start = date.and_time(time);
        match self.tools.scheduler().check(start, None, ctx.now).await {
            Err(_) => Err(CALENDAR_DOWN.into()),
            Ok(Ok(())) => Ok(start),
            Ok(Err((refusal, alternatives))) => {
                let alternatives = alternatives
                    .into_iter()
                    .filter(|t| Some(*t) != current)
                    .collect();
                Err(offer_instead(
                    mem,
                    start,
                    refusal.explain(),
                    alternatives,
                    false,
                ))
            }
        }
    }

    async fn step_book(&self, ctx: &ToolContext, mem: &mut Memory) -> String {
        mem.awaiting = None;
        let question = "Sure, I can book that. What day and time would you like?".to_owned();
        let start = match self.wanted_start(question, None, ctx, mem).await {
            Ok(start) => start,
            Err(say) => return say,
        };
        match &mem.name {
            None => {
                mem.awaiting = Some(Awaiting::Name);
                format!(
                    "{} is free. May I have your name, please?",
                    Self::spoken(start)
                )
            }
            Some(name) => {
                mem.awaiting = Some(Awaiting::Confirm);
                format!("{} for {name}. Shall I book it?", Self::spoken(start))
            }
        }
    }

    /// Picks the appointment to move or cancel, then asks or confirms.
    async fn step_existing(
        &self,
        flow: Flow,
        words: &str,
        w: &When,
        ctx: &ToolContext,
        mem: &mut Memory,
    ) -> String {
        mem.awaiting = None;
        let verb = if flow == Flow::Cancel {
            "cancel"
        } else {
            "move"
        };
        if mem.target.is_none() {
            if mem.candidates.is_empty() {
                let mine = match self.tools.call(ctx, Request::Find { name: None }).await {
                    Done::Found(mine) if !mine.is_empty() => mine,
                    Done::Found(_) | Done::Failed(ToolError::Withheld) => {
                        *mem = Memory {
                            name: mem.name.take(),
                            ..Memory::default()
                        };
                        return "I couldn't find an upcoming appointment booked from this phone number. \
                                Would you like to book a new one?"
                            .into();
                    }
                    _ => return CALENDAR_DOWN.into(),
                };
                mem.candidates = mine
                    .iter()
                    .map(|a: &Appointment| (a.id.clone(), self.tools.scheduler().to_local(a.start)))
                    .collect();
            }
            let chosen = if mem.candidates.len() == 1 {
                mem.candidates.first().cloned()
            } else {
                let offered: Vec<NaiveDateTime> = mem.candidates.iter().map(|c| c.1).collect();
                let picked = pick_offered(words, &offered);
                mem.candidates
                    .iter()
                    .find(|(_, start)| {
                        picked == Some(*start)
                            || (w.date == Some(start.date())
                                && w.time.is_none_or(|t| t == start.time()))
                            || (w.date.is_none() && w.time == Some(start.time()))
                    })
                    .cloned()
            };
            let Some(chosen) = chosen else {
                mem.awaiting = Some(Awaiting::Choice);
                let starts: Vec<NaiveDateTime> = mem.candidates.iter().map(|c| c.1).collect();
                return format!(
                    "You have appointments on {}. Which one would you like to {verb}?",
                    list_times(&starts, true)
                );
            };
            // A day that picked the appointment is not the new day; any other is.
            let identifies =
                w.date == Some(chosen.1.date()) && w.time.is_none_or(|t| t == chosen.1.time());
            if flow == Flow::Reschedule && !identifies {
                apply_when(mem, w);
            }
            mem.target = Some(chosen);
            mem.candidates.clear();
        }
        let (_, current) = mem.target.clone().expect("chosen above");
        if flow == Flow::Cancel {
            mem.awaiting = Some(Awaiting::Confirm);
            return format!(
                "Just to confirm: cancel your appointment on {}?",
                Self::spoken(current)
            );
        }
        let question = format!(
            "Your appointment is on {}. When would you like to move it to?",
            Self::spoken(current)
        );
        let start = match self.wanted_start(question, Some(current), ctx, mem).await {
            Ok(start) => start,
            Err(say) => return say,
        };
        mem.awaiting = Some(Awaiting::Confirm);
        format!(
            "Move your appointment from {} to {}. Shall I do that?",
            Self::spoken(current),
            Self::spoken(start)
        )
    }

    /// Does what the caller just confirmed.
    async fn execute(&self, ctx: &ToolContext, mem: &mut Memory) -> String {
        let flow = mem.flow;
        let name = mem.name.clone();
        let start = mem.date.zip(mem.time).map(|(d, t)| d.and_time(t));
        let target = mem.target.clone();
        let done = |mem: &mut Memory| {
            *mem = Memory {
                name: name.clone(),
                ..Memory::default()
            };
        };
        match (flow, start, target) {
            (Some(Flow::Book), Some(start), _) => {
                let request = Request::Book {
                    start,
                    name: name.clone().unwrap_or_default(),
                    minutes: None,
                    email: None,
                    phone: None,
                    reason: None,
                };
                match self.tools.call(ctx, request).await {
                    Done::Booked(_) => {
                        done(mem);
                        format!(
                            "You're all set, {}: {}. Is there anything else I can help you with?",
                            name.unwrap_or_default(),
                            Self::spoken(start)
                        )
                    }
                    Done::Refused {
                        refusal,
                        alternatives,
                        ..
                    } => offer_instead(mem, start, refusal.explain(), alternatives, true),
                    other => self.not_done(other, mem, done),
                }
            }
            (Some(Flow::Reschedule), Some(start), Some((id, _))) => {
                let request = Request::Reschedule {
                    target: Target::Id { appointment_id: id },
                    new_start: start,
                };
                match self.tools.call(ctx, request).await {
                    Done::Moved { .. } => {
                        done(mem);
                        format!(
                            "Done. Your appointment is now on {}. Anything else?",
                            Self::spoken(start)
                        )
                    }
                    Done::Refused {
                        refusal,
                        alternatives,
                        ..
                    } => offer_instead(mem, start, refusal.explain(), alternatives, true),
                    other => self.not_done(other, mem, done),
                }
            }
            (Some(Flow::Cancel), _, Some((id, current))) => {
                let request = Request::Cancel {
                    target: Target::Id { appointment_id: id },
                    reason: None,
                };
                match self.tools.call(ctx, request).await {
                    Done::Cancelled(_) => {
                        done(mem);
                        format!(
                            "Your appointment on {} is cancelled. Is there anything else?",
                            Self::spoken(current)
                        )
                    }
                    other => self.not_done(other, mem, done),
                }
            }
            _ => {
                done(mem);
                "Sorry, I lost track of that. What would you like to do?".into()
            }
        }
    }

    /// What to say when a confirmed change could not be made.
    fn not_done(&self, done: Done, mem: &mut Memory, reset: impl Fn(&mut Memory)) -> String {
        match done {
            Done::Failed(ToolError::NotYours(_) | ToolError::Withheld) => {
                reset(mem);
                GONE.into()
            }
            Done::Failed(ToolError::Limit(_)) => {
                reset(mem);
                "I'm sorry, I can't make any more changes on this call. \
                 Please call us again, or I can pass a message on. Is there anything else?"
                    .into()
            }
            _ => CALENDAR_DOWN.into(),
        }
    }

    async fn tell_mine(&self, ctx: &ToolContext) -> String {
        match self.tools.call(ctx, Request::Find { name: None }).await {
            Done::Found(mine) if !mine.is_empty() => {
                let starts: Vec<NaiveDateTime> = mine
                    .iter()
                    .map(|a| self.tools.scheduler().to_local(a.start))
                    .collect();
                format!(
                    "You have an appointment on {}. Anything else?",
                    list_times(&starts, true).replace(" or ", " and ")
                )
            }
            Done::Found(_) | Done::Failed(ToolError::Withheld) => {
                "I don't see any upcoming appointments for this phone number. Would you like to book one?"
                    .into()
            }
            _ => CALENDAR_DOWN.into(),
        }
    }
}

/// Takes what the caller said about the day and time into the memory.
fn apply_when(mem: &mut Memory, w: &When) {
    if let Some(d) = w.date {
        mem.date = Some(d);
        if w.time.is_none() {
            mem.time = None;
            mem.period = w.period;
        }
    }
    if let Some(time) = w.time {
        mem.time = Some(time);
    } else if w.period.is_some() {
        mem.time = None;
        mem.period = w.period;
    }
}

/// Up to `n` times spread over `times` (first, middle, last).
fn spread(times: &[NaiveDateTime], n: usize) -> Vec<NaiveDateTime> {
    if times.len() <= n {
        return times.to_vec();
    }
    (0..n)
        .map(|i| times[i * (times.len() - 1) / (n - 1)])
        .collect()
}

const GONE: &str =
    "I'm sorry, I can't find that appointment any more; it may have been cancelled already.";

/// Says why `start` cannot be had and offers `alternatives` (remembered
/// for "the first one"), or asks for another day when there are none.
/// `raced`: the time was free when offered and someone took it since.
fn offer_instead(
    mem: &mut Memory,
    start: NaiveDateTime,
    why: &str,
    alternatives: Vec<NaiveDateTime>,
    raced: bool,
) -> String {
    mem.awaiting = None;
    mem.time = None;
    let spoken = RulesAgent::spoken(start);
    let spoken = if raced {
        format!("{spoken} was just taken")
    } else {
        spoken
    };
    let text = if alternatives.is_empty() {
        format!("I'm sorry, {spoken} is not possible: {why}. What other day would work?")
    } else {
        format!(
            "I'm sorry, {spoken}: {why}. I could do {} instead. Would one of those work?",
            list_alternatives(&alternatives, Some(start.date()))
        )
    };
    mem.offered = alternatives;
    text
}

const CALENDAR_DOWN: &str =
    "I'm sorry, I can't reach the calendar right now. Please try again in a few minutes.";

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use serde_json::Value;

    use super::*;
    use crate::{
        calendar::{Calendar, Details, Scheduler, local::LocalCalendar},
        messages::MessageBook,
        session::{Archive, SessionStore},
        twilio::{
            number::CallerIdentity,
            webhook::{CallDetails, CallSid, Direction},
        },
    };

    const ME: &str = "+14155550100";
    const OTHER: &str = "+14155550111";

    /// A caller talking to the agent, with memory kept between turns as the
    /// session does.
    struct Caller {
        agent: RulesAgent,
        calendar: Arc<LocalCalendar>,
        sessions: Arc<SessionStore>,
        call_sid: CallSid,
        memory: Option<Value>,
        number: String,
        now: DateTime<Utc>,
        _dir: Arc<tempfile::TempDir>,
    }

    fn call_sid(n: u32) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).unwrap()
    }

    // Sunday 2026-11-22, 10 AM in New York.
    fn sunday_morning() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap()
    }

    fn caller() -> Caller {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let calendar = Arc::new(LocalCalendar::open(dir.path()).unwrap());
        let scheduler = Scheduler::new(
            calendar.clone(),
            &crate::config::BusinessConfig {
                name: "Acme Dental".into(),
                timezone: "America/New_York".parse().unwrap(),
                opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                closes: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                appointment_minutes: 30,
                booking_horizon_days: 90,
            },
        );
        let sessions = Arc::new(SessionStore::new(Archive::open(dir.path()).unwrap()));
        let call_sid = call_sid(1);
        sessions.begin(&call_sid, Direction::Inbound, &CallDetails::default());
        Caller {
            agent: RulesAgent::new(
                "Acme Dental",
                scheduler.timezone,
                Tools::new(scheduler, MessageBook::open(dir.path()).unwrap()),
            ),
            calendar,
            sessions,
            call_sid,
            memory: None,
            number: ME.into(),
            now: sunday_morning(),
            _dir: dir,
        }
    }

    impl Caller {
        fn as_number(&self, number: &str) -> Self {
            let call_sid = call_sid(self.sessions.live_count() as u32 + 1);
            self.sessions
                .begin(&call_sid, Direction::Inbound, &CallDetails::default());
            Self {
                agent: self.agent.clone(),
                calendar: self.calendar.clone(),
                sessions: self.sessions.clone(),
                call_sid,
                memory: None,
                number: number.into(),
                now: self.now,
                _dir: self._dir.clone(),
            }
        }

        async fn say(&mut self, words: &str) -> Reply {
            self.sessions
                .record(&self.call_sid, Role::User, words, None);
            let history = [Turn::spoken(Role::User, words, None, self.now)];
            let ctx = CallContext {
                call_sid: self.call_sid.clone(),
                caller: CallerIdentity::parse(Some(&self.number)),
                now: self.now,
                memory: self.memory.take(),
                deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(10),
                sessions: self.sessions.clone(),
            };
            let reply = self.agent.reply(&ctx, &history).await.unwrap();
            self.memory = reply.memory.clone();
            reply
        }

        /// Says each line and checks the reply contains the expected words.
        async fn script(&mut self, lines: &[(&str, &str)]) {
            for (words, expected) in lines {
                let reply = self.say(words).await;
                assert!(
                    reply.text.contains(expected),
                    "caller: {words:?}\n  agent: {:?}\n  expected to contain: {expected:?}",
                    reply.text
                );
            }
        }

        async fn booked(&self) -> Vec<(String, String)> {
            let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            let to = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
            let s = self.agent.tools.scheduler();
            self.calendar
                .list(from, to)
                .await
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        s.to_local(a.start).format("%Y-%m-%d %H:%M").to_string(),
                        a.name.clone(),
                    )
                })
                .collect()
        }

        async fn prebook(&self, local: &str, name: &str, phone: &str) {
            let start = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
            let s = self.agent.tools.scheduler();
            let start = s.to_utc(start).unwrap();
            self.calendar
                .book_if_free(
                    start,
                    start + Duration::minutes(30),
                    Details {
                        name: name.into(),
                        phone: Some(phone.into()),
                        ..Details::default()
                    },
                )
                .await
                .unwrap();
        }
    }

    fn booked(at: &str, name: &str) -> Vec<(String, String)> {
        vec![(at.to_owned(), name.to_owned())]
    }

    #[tokio::test]
    async fn books_step_by_step_asking_for_day_time_and_name() {
        let mut c = caller();
        c.script(&[
            ("Hi, I'd like to book an appointment", "What day and time"),
            (
                "tomorrow at 2 pm",
                "Monday, November 23rd at 2 PM is free. May I have your name",
            ),
            (
                "Ada Lovelace",
                "Monday, November 23rd at 2 PM for Ada Lovelace. Shall I book it?",
            ),
            (
                "yes",
                "You're all set, Ada Lovelace: Monday, November 23rd at 2 PM",
            ),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-23 14:00", "Ada Lovelace"));
        assert!(
            c.memory.as_ref().is_none_or(|m| m.get("flow").is_none()),
            "flow ends after booking"
        );
    }

    #[tokio::test]
    async fn books_in_one_breath_with_the_name_given_up_front() {
        let mut c = caller();
        c.script(&[
            (
                "Can I book tomorrow at 2 p.m.? My name is Ada Lovelace.",
                "for Ada Lovelace. Shall I book it?",
            ),
            ("yes please", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-23 14:00", "Ada Lovelace"));
    }

    #[tokio::test]
    async fn understands_next_tuesday_at_ten() {
        let mut c = caller();
        c.script(&[
            (
                "this is Grace Hopper, I'd like an appointment next Tuesday at 10",
                "Tuesday, November 24th at 10 AM for Grace Hopper",
            ),
            ("that's right", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-24 10:00", "Grace Hopper"));
    }

    #[tokio::test]
    async fn understands_the_14th_at_three_thirty() {
        let mut c = caller();
        c.script(&[
            (
                "Could I come in on the 14th at 3:30? This is Alan Turing",
                "Monday, December 14th at 3:30 PM for Alan Turing",
            ),
            ("yes", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-12-14 15:30", "Alan Turing"));
    }

    #[tokio::test]
    async fn friday_morning_offers_morning_times_and_takes_the_first_one() {
        let mut c = caller();
        c.script(&[
            (
                "Do you have anything Friday morning?",
                "On Friday, November 27th in the morning I have 9 AM",
            ),
            (
                "the first one",
                "Friday, November 27th at 9 AM is free. May I have your name",
            ),
            (
                "It's Katherine Johnson",
                "for Katherine Johnson. Shall I book it?",
            ),
            ("sure", "You're all set"),
        ])
        .await;
        assert_eq!(
            c.booked().await,
            booked("2026-11-27 09:00", "Katherine Johnson")
        );
    }

    #[tokio::test]
    async fn half_past_four_is_four_thirty_pm() {
        let mut c = caller();
        c.script(&[
            (
                "I want to book for tomorrow, half past four. My name is Ada.",
                "Monday, November 23rd at 4:30 PM for Ada",
            ),
            ("yes", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-23 16:30", "Ada"));
    }

    #[tokio::test]
    async fn a_correction_changes_the_time_before_booking() {
        let mut c = caller();
        c.script(&[
            (
                "book me tomorrow at 2, my name is Ada Lovelace",
                "at 2 PM for Ada Lovelace. Shall I book it?",
            ),
            (
                "no, make it 3",
                "Monday, November 23rd at 3 PM for Ada Lovelace. Shall I book it?",
            ),
            (
                "yes",
                "You're all set, Ada Lovelace: Monday, November 23rd at 3 PM",
            ),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-23 15:00", "Ada Lovelace"));
    }

    #[tokio::test]
    async fn a_plain_no_asks_for_another_time_and_books_nothing() {
        let mut c = caller();
        c.script(&[
            ("book me tomorrow at 2, my name is Ada", "Shall I book it?"),
            ("no", "What day and time would suit you better?"),
            (
                "Wednesday at 11 then",
                "Wednesday, November 25th at 11 AM for Ada. Shall I book it?",
            ),
            ("yes", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-25 11:00", "Ada"));
    }

    #[tokio::test]
    async fn a_taken_slot_gets_the_nearest_free_times() {
        let mut c = caller();
        c.prebook("2026-11-23 14:00", "Someone Else", OTHER).await;
        c.script(&[
            ("Can I book tomorrow at 2pm?", "I'm sorry, Monday, November 23rd at 2 PM: that time is already taken. I could do 1 PM, 1:30 PM or 2:30 PM instead"),
            ("2:30 works", "Monday, November 23rd at 2:30 PM is free. May I have your name"),
            ("Ada Lovelace", "Shall I book it?"),
            ("yes", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await.len(), 2);
    }

    #[tokio::test]
    async fn outside_hours_is_explained_with_alternatives() {
        let mut c = caller();
        c.script(&[(
            "I'd like to book tomorrow at 8 am",
            "that is outside our opening hours. I could do 9 AM, 9:30 AM or 10 AM instead",
        )])
        .await;
        c.script(&[("tomorrow at 6 pm", "outside our opening hours")])
            .await;
        assert!(c.booked().await.is_empty());
    }

    #[tokio::test]
    async fn weekends_are_closed_and_monday_is_offered() {
        let mut c = caller();
        c.script(&[(
            "can I book Saturday at 10?",
            "we are closed on weekends. I could do Monday, November 30th at 9 AM, 9:30 AM or 10 AM instead",
        )])
        .await;
    }

    #[tokio::test]
    async fn times_already_past_are_refused() {
        let mut c = caller();
        // Monday 2026-11-23, 3 PM in New York.
        c.now = Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap();
        c.script(&[("book me today at 10 am", "that time has already passed")])
            .await;
    }

    #[tokio::test]
    async fn a_time_without_a_day_means_the_next_open_day() {
        let mut c = caller();
        c.script(&[(
            "I'd like an appointment at 11, this is Ada",
            "Monday, November 23rd at 11 AM for Ada",
        )])
        .await;
    }

    #[tokio::test]
    async fn a_day_without_a_time_offers_free_times() {
        let mut c = caller();
        c.script(&[
            (
                "Can I make an appointment for tomorrow?",
                "On Monday, November 23rd I have 9 AM, 12:30 PM or 4:30 PM free",
            ),
            ("12:30 please", "Monday, November 23rd at 12:30 PM is free"),
        ])
        .await;
    }

    #[tokio::test]
    async fn december_third_at_two() {
        let mut c = caller();
        c.script(&[
            (
                "book December 3rd at 2 for Ada. My name is Ada",
                "Thursday, December 3rd at 2 PM for Ada",
            ),
            ("ok", "You're all set"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-12-03 14:00", "Ada"));
    }

    #[tokio::test]
    async fn afternoon_availability_is_listed() {
        let mut c = caller();
        c.script(&[(
            "What times do you have on Thursday afternoon?",
            "On Thursday, November 26th in the afternoon I have 12 PM",
        )])
        .await;
    }

    #[tokio::test]
    async fn reschedules_the_callers_appointment() {
        let mut c = caller();
        c.prebook("2026-11-23 14:00", "Ada Lovelace", ME).await;
        c.script(&[
            ("I need to reschedule my appointment", "Your appointment is on Monday, November 23rd at 2 PM. When would you like to move it to?"),
            ("Wednesday at 11", "Move your appointment from Monday, November 23rd at 2 PM to Wednesday, November 25th at 11 AM. Shall I do that?"),
            ("yes", "Done. Your appointment is now on Wednesday, November 25th at 11 AM"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-25 11:00", "Ada Lovelace"));
    }

    #[tokio::test]
    async fn rescheduling_onto_a_taken_time_offers_others() {
        let mut c = caller();
        c.prebook("2026-11-23 14:00", "Ada Lovelace", ME).await;
        c.prebook("2026-11-24 10:00", "Someone Else", OTHER).await;
        c.script(&[
            (
                "can I move my appointment to Tuesday at 10?",
                "I'm sorry, Tuesday, November 24th at 10 AM: that time is already taken",
            ),
            ("the first one", "Shall I do that?"),
            ("yes", "Done."),
        ])
        .await;
        assert_eq!(c.booked().await.len(), 2);
    }

    #[tokio::test]
    async fn cancels_after_confirming() {
        let mut c = caller();
        c.prebook("2026-11-24 09:30", "Ada Lovelace", ME).await;
        c.script(&[
            (
                "I want to cancel my appointment",
                "Just to confirm: cancel your appointment on Tuesday, November 24th at 9:30 AM?",
            ),
            (
                "yes",
                "Your appointment on Tuesday, November 24th at 9:30 AM is cancelled",
            ),
        ])
        .await;
        assert!(c.booked().await.is_empty());
    }

    #[tokio::test]
    async fn saying_no_to_a_cancel_keeps_the_appointment() {
        let mut c = caller();
        c.prebook("2026-11-24 09:30", "Ada Lovelace", ME).await;
        c.script(&[
            (
                "please cancel my booking",
                "cancel your appointment on Tuesday",
            ),
            ("no, keep it", "I'll keep your appointment"),
        ])
        .await;
        assert_eq!(c.booked().await.len(), 1);
    }

    #[tokio::test]
    async fn nothing_to_cancel_from_this_number() {
        let mut c = caller();
        c.script(&[(
            "I'd like to cancel my appointment",
            "couldn't find an upcoming appointment booked from this phone number",
        )])
        .await;
    }

    #[tokio::test]
    async fn another_callers_appointment_cannot_be_cancelled() {
        let c = caller();
        c.prebook("2026-11-24 09:30", "Ada Lovelace", ME).await;
        let mut stranger = c.as_number(OTHER);
        stranger
            .script(&[(
                "cancel the appointment on Tuesday at 9:30",
                "couldn't find an upcoming appointment",
            )])
            .await;
        assert_eq!(c.booked().await.len(), 1);
    }

    #[tokio::test]
    async fn with_several_appointments_the_caller_picks_one() {
        let mut c = caller();
        c.prebook("2026-11-23 14:00", "Ada Lovelace", ME).await;
        c.prebook("2026-11-25 10:00", "Ada Lovelace", ME).await;
        c.script(&[
            ("I need to cancel an appointment", "You have appointments on Monday, November 23rd at 2 PM or Wednesday, November 25th at 10 AM. Which one would you like to cancel?"),
            ("the one on Wednesday", "cancel your appointment on Wednesday, November 25th at 10 AM?"),
            ("yes", "is cancelled"),
        ])
        .await;
        assert_eq!(c.booked().await, booked("2026-11-23 14:00", "Ada Lovelace"));
    }

    #[tokio::test]
    async fn tells_the_caller_when_their_appointment_is() {
        let mut c = caller();
        c.script(&[(
            "when is my appointment?",
            "I don't see any upcoming appointments",
        )])
        .await;
        c.prebook("2026-11-24 09:30", "Ada Lovelace", ME).await;
        c.script(&[(
            "when is my appointment?",
            "You have an appointment on Tuesday, November 24th at 9:30 AM",
        )])
        .await;
    }

    #[tokio::test]
    async fn goodbye_ends_the_call_even_mid_booking() {
        let mut c = caller();
        c.script(&[("I'd like to book an appointment", "What day and time")])
            .await;
        let r = c.say("never mind, goodbye").await;
        assert!(r.end_call && r.text.contains("Acme Dental"), "{r:?}");
        let r = c.say("no thanks, that's all").await;
        assert!(r.end_call);
    }

    #[tokio::test]
    async fn a_slot_taken_between_question_and_yes_is_not_double_booked() {
        let mut c = caller();
        c.script(&[(
            "book tomorrow at 2pm for Ada, my name is Ada",
            "Shall I book it?",
        )])
        .await;
        c.prebook("2026-11-23 14:00", "Quicker Caller", OTHER).await;
        c.script(&[("yes", "was just taken")]).await;
        assert_eq!(
            c.booked().await,
            booked("2026-11-23 14:00", "Quicker Caller")
        );
    }

    #[tokio::test]
    async fn small_talk_and_nonsense_still_get_sensible_answers() {
        let mut c = caller();
        c.script(&[
            ("what time is it", "It's 10 AM here"),
            ("what day is it", "Today is Sunday, November 22nd"),
            ("what can you do", "book, move or cancel"),
            ("asdf </Say> qwerty", "Sorry, I didn't quite get that"),
            ("hello", "How can I help"),
        ])
        .await;
        c.script(&[
            ("I want to book", "What day and time"),
            ("purple elephants", "What day and time"),
        ])
        .await;
    }

    #[tokio::test]
    async fn names_are_picked_up_from_everyday_phrasing() {
        assert_eq!(
            extract_name("my name is ada lovelace", false).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(
            extract_name("Hi, this is Grace Hopper calling", false).as_deref(),
            Some("Grace Hopper")
        );
        assert_eq!(extract_name("name's Alan", false).as_deref(), Some("Alan"));
        assert_eq!(
            extract_name("It's Katherine Johnson", true).as_deref(),
            Some("Katherine Johnson")
        );
        assert_eq!(
            extract_name("Ada Lovelace", true).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(extract_name("Ada Lovelace", false), None);
        assert_eq!(extract_name("this is great", false), None);
        assert_eq!(extract_name("yes", true), None);
    }

    #[test]
    fn intents_follow_everyday_phrasing() {
        let cases = [
            ("What time is it?", Intent::Time),
            ("Could you tell me the time please", Intent::Time),
            ("What day is it today?", Intent::Date),
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
    fn phrases_match_whole_words_only() {
        assert!(has_phrase("thanks that's all", "that's all"));
        assert!(has_phrase("bye", "bye"));
        assert!(has_phrase("ok bye now", "bye"));
        assert!(!has_phrase("goodbye", "bye"));
        assert!(!has_phrase("byes", "bye"));
        assert!(!has_phrase("a bypass", "by"));
        assert!(!has_phrase("", "bye"));
        assert!(!has_phrase("bye", ""));
        assert!(has_phrase("café au lait", "au lait"));
    }

    #[test]
    fn normalize_keeps_words_and_apostrophes() {
        assert_eq!(normalize("  That’s ALL, thanks!! "), "that's all thanks");
    }
}
