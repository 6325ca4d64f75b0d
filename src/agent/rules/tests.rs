//! The built-in agent's conversations, as a caller has them: each test is
//! a phone call, turn by turn, against a real calendar in a temporary
//! directory, with memory kept between turns as the session keeps it.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::Value;

use super::RulesAgent;
use crate::session::at_once;
use crate::{
    agent::{Agent, CallContext, Reply, tools::Tools},
    calendar::{Calendar, Details, Scheduler, local::LocalCalendar},
    messages::MessageBook,
    session::{Archive, Role, SessionStore, Turn},
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
    at_once(sessions.begin(&call_sid, Direction::Inbound, &CallDetails::default()));
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
        let call_sid = call_sid(at_once(self.sessions.live_count()) as u32 + 1);
        at_once(
            self.sessions
                .begin(&call_sid, Direction::Inbound, &CallDetails::default()),
        );
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
            .record(&self.call_sid, Role::User, words, None)
            .await;
        let history = [Turn::spoken(Role::User, words, None, self.now)];
        let ctx = CallContext {
            call_sid: self.call_sid.clone(),
            caller: CallerIdentity::parse(Some(&self.number)),
            now: self.now,
            memory: self.memory.take(),
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(10),
            sessions: self.sessions.clone(),
            gate: std::sync::Arc::new(crate::agent::gate::Gate::confirmed()),
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
