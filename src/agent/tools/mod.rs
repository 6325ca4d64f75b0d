//! The calendar tools and their safety envelope.
//!
//! Every agent reaches the calendar through [`Tools`]: the LLM agent and
//! streaming mode's function calls with a tool name and the arguments as the
//! model sent them ([`Tools::dispatch`]), the built-in agent with typed
//! requests ([`Tools::call`]). Either way one path runs, and it:
//!
//! - acts for the caller on the line only ([`ToolContext::caller`]): finding,
//!   moving and cancelling touch only appointments booked from the caller's
//!   own number, whatever id, name, phone or start the model passes; a
//!   withheld caller has none; nothing about another caller is ever in a
//!   result;
//! - checks the arguments strictly ([`args`]): invalid JSON, wrong types,
//!   times off the quarter hour or with seconds, lengths out of range are
//!   errors the model can act on, and the tool does not run; the calendar's
//!   rules add hours, weekends, the past and `BOOKING_HORIZON_DAYS`;
//! - limits side effects: at most [`BOOKINGS_PER_TURN`] booking and
//!   [`CHANGES_PER_TURN`] move or cancellation per caller turn, and
//!   [`BOOKINGS_PER_CALL`] and [`CHANGES_PER_CALL`] per call, counted from the
//!   transcript;
//! - records every call that ran in the transcript as a typed
//!   [`ToolCall`] the moment it finishes. A call that changes the calendar
//!   runs to completion, record included, in its own task, so a turn that is
//!   abandoned half-way (its deadline passed) still leaves the booking it made
//!   in the transcript.
//!
//! A refusal is a result, not an error, and carries what the agent can say
//! ("3 PM is taken; 3:30 and 4:00 are free"). Times in and out are local
//! wall-clock times in `BUSINESS_TIMEZONE`, written `YYYY-MM-DDTHH:MM`.

pub mod args;
pub mod schema;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json, value::RawValue};

pub use self::{
    args::{ArgError, Request, Target, format_local},
    schema::{TOOL_NAMES, ToolDef, definitions},
};
use super::{gate::Gate, speech};
use crate::{
    calendar::{Appointment, CalendarError, Details, Outcome, Refusal, Scheduler},
    messages::{Message, MessageBook, NewMessage},
    reminders::Reminders,
    session::{Effect, EffectCounts, SessionStore, ToolCall},
    texts::{Change, Texter},
    twilio::{
        number::{CallerIdentity, PhoneNumber},
        webhook::CallSid,
    },
};

/// Bookings one caller turn may make.
pub const BOOKINGS_PER_TURN: u32 = 1;
/// Moves and cancellations one caller turn may make.
pub const CHANGES_PER_TURN: u32 = 1;
/// Bookings one call may make.
pub const BOOKINGS_PER_CALL: u32 = 3;
/// Moves and cancellations one call may make.
pub const CHANGES_PER_CALL: u32 = 5;
/// Messages one caller turn may leave.
pub const MESSAGES_PER_TURN: u32 = 1;
/// Messages one call may leave.
pub const MESSAGES_PER_CALL: u32 = 3;

/// Who is calling and when: everything the envelope acts for.
#[derive(Clone)]
pub struct ToolContext {
    /// The call.
    pub call_sid: CallSid,
    /// Who is on the line.
    pub caller: CallerIdentity,
    /// Now.
    pub now: DateTime<Utc>,
    /// Where tool calls are recorded and side effects counted.
    pub sessions: Arc<SessionStore>,
    /// The turn's gate: side effects wait until the caller's words are
    /// final, and records are held until then.
    pub gate: Arc<Gate>,
}

/// Why a tool call did not do what it was asked; the text is for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments were refused; the tool did not run.
    #[error("{0}")]
    Arguments(#[from] ArgError),
    /// The caller's number is withheld, so they have no appointments to find.
    #[error(
        "the caller's number is withheld, so no existing appointment can be found, moved or \
         cancelled on this call; they can book a new one, or you can take a message"
    )]
    Withheld,
    /// No appointment booked from the caller's number matches.
    #[error("{0}")]
    NotYours(String),
    /// A side-effect limit was reached.
    #[error("{0}")]
    Limit(String),
    /// The calendar failed.
    #[error(
        "the calendar is unavailable right now; apologise and offer to take a message or call back"
    )]
    CalendarUnavailable,
    /// Nobody to transfer to (no `TRANSFER_NUMBER`).
    #[error("nobody can come to the phone right now; offer to take a message")]
    NoTransfer,
    /// Outside business hours nobody is there to take the call.
    #[error(
        "the office is closed right now, so nobody can come to the phone; offer to take a message"
    )]
    Closed,
    /// A withheld caller left no number to call back.
    #[error("the caller's number is withheld: ask for a number to call them back on")]
    NeedCallback,
    /// The message could not be stored.
    #[error("the message could not be saved right now; apologise and ask the caller to call back")]
    MessagesUnavailable,
    /// The caller had not finished speaking; nothing was done (the turn
    /// this belonged to is being dropped, so no model sees it).
    #[error("the caller had not finished speaking; nothing was done")]
    NotFinal,
}

/// What a tool call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// `check_availability`: the free starts, or why the day is closed.
    Availability {
        /// The day asked about.
        date: NaiveDate,
        /// Free local start times, or why none can be had that day.
        free: Result<Vec<NaiveDateTime>, Refusal>,
    },
    /// Booked.
    Booked(Appointment),
    /// Moved from a local start.
    Moved {
        /// Where it was.
        from: NaiveDateTime,
        /// Where it is now.
        to: Appointment,
    },
    /// Cancelled.
    Cancelled(Appointment),
    /// The caller's own upcoming appointments.
    Found(Vec<Appointment>),
    /// The time cannot be had; the nearest free times instead.
    Refused {
        /// The local time asked for.
        requested: NaiveDateTime,
        /// Why.
        refusal: Refusal,
        /// Nearest free local times.
        alternatives: Vec<NaiveDateTime>,
    },
    /// `end_call`.
    Ending,
    /// `transfer_call`: the caller is about to be connected.
    Transferring,
    /// `take_message`: the message is kept.
    MessageTaken(Message),
    /// Nothing happened, for this reason.
    Failed(ToolError),
}

impl Done {
    /// What it changed in the calendar.
    pub fn effect(&self) -> Option<Effect> {
        match self {
            Self::Booked(_) => Some(Effect::Booked),
            Self::Moved { .. } => Some(Effect::Moved),
            Self::Cancelled(_) => Some(Effect::Cancelled),
            Self::MessageTaken(_) => Some(Effect::Message),
            _ => None,
        }
    }
}

/// A tool call's result as a model gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The structured result, sent back to the model.
    pub value: Value,
    /// The tool asked to end the call.
    pub end_call: bool,
    /// The tool asked to connect the caller to a person.
    pub transfer: bool,
}

/// Ids for calls made without one (typed calls, models that send none).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh tool-call id.
pub fn new_call_id() -> String {
    format!("call_fd{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// The calendar tools inside the safety envelope.
#[derive(Clone)]
pub struct Tools {
    scheduler: Scheduler,
    messages: MessageBook,
    transfer_number: Option<PhoneNumber>,
    texter: Option<Arc<Texter>>,
    reminders: Option<Arc<Reminders>>,
}

impl Tools {
    /// Tools over `scheduler`, keeping messages in `messages`.
    pub fn new(scheduler: Scheduler, messages: MessageBook) -> Self {
        Self {
            scheduler,
            messages,
            transfer_number: None,
            texter: None,
            reminders: None,
        }
    }

    /// Schedules (and drops) appointment reminders as appointments change.
    pub fn with_reminders(mut self, reminders: Option<Arc<Reminders>>) -> Self {
        self.reminders = reminders;
        self
    }

    /// Texts the caller after each booking, move or cancellation.
    pub fn with_texts(mut self, texter: Option<Arc<Texter>>) -> Self {
        self.texter = texter;
        self
    }

    /// Callers who ask for a person are connected to `number`.
    pub fn with_transfer(mut self, number: Option<PhoneNumber>) -> Self {
        self.transfer_number = number;
        self
    }

    /// Where callers who ask for a person are connected.
    pub fn transfer_number(&self) -> Option<&PhoneNumber> {
        self.transfer_number.as_ref()
    }

    /// The scheduling rules, for planning (free times, the business's
    /// days and hours). Anything that reads or changes a caller's
    /// appointments goes through [`Self::call`] or [`Self::dispatch`].
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Runs a tool call as a model sent it: the tool's name and the
    /// arguments' JSON text. `id` is the model's id for the call.
    pub async fn dispatch(
        &self,
        ctx: &ToolContext,
        id: &str,
        name: &str,
        arguments: &str,
    ) -> ToolResult {
        let started = std::time::Instant::now();
        let request = args::parse(name, arguments, self.example_start(ctx.now));
        let (done, value) = self
            .run(
                ctx,
                id.to_owned(),
                name.to_owned(),
                arguments.to_owned(),
                request,
            )
            .await;
        crate::ledger::tool_call(started.elapsed());
        ToolResult {
            value,
            end_call: done == Done::Ending,
            transfer: done == Done::Transferring,
        }
    }

    /// Runs a typed tool call (the built-in agent's way in).
    pub async fn call(&self, ctx: &ToolContext, request: Request) -> Done {
        let started = std::time::Instant::now();
        let (name, arguments) = (request.name().to_owned(), request.arguments());
        let (done, _) = self
            .run(ctx, new_call_id(), name, arguments, Ok(request))
            .await;
        crate::ledger::tool_call(started.elapsed());
        done
    }

    /// The one path every call takes: check, limit, act, record.
    async fn run(
        &self,
        ctx: &ToolContext,
        id: String,
        name: String,
        arguments: String,
        request: Result<Request, ArgError>,
    ) -> (Done, Value) {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let done = Done::Failed(e.into());
                let value = self.to_json(&done);
                record(ctx, id, name, arguments, &value, None).await;
                return (done, value);
            }
        };
        // Nothing that changes anything runs before the caller's words are
        // final (a turn started on partial results waits here).
        if request.waits_for_final_words() && !ctx.gate.cleared().await {
            let done = Done::Failed(ToolError::NotFinal);
            let value = self.to_json(&done);
            return (done, value);
        }
        let _at_calendar = request.uses_calendar().then(|| ctx.gate.calendar_call());
        if !request.has_side_effect() {
            let done = self.act(ctx, request).await;
            let value = self.to_json(&done);
            record(ctx, id, name, arguments, &value, None).await;
            return (done, value);
        }
        // A side effect finishes and is recorded even if this turn is
        // abandoned while it runs.
        let (tools, task_ctx) = (self.clone(), ctx.clone());
        let task = tokio::spawn(async move {
            let done = match tools.allowance(&task_ctx, &request).await {
                Some(refusal) => Done::Failed(refusal),
                None => tools.act(&task_ctx, request).await,
            };
            let value = tools.to_json(&done);
            record(&task_ctx, id, name, arguments, &value, done.effect()).await;
            tools.text_caller(&task_ctx, &done);
            tools.keep_reminders(&task_ctx, &done).await;
            (done, value)
        });
        task.await.unwrap_or_else(|e| {
            tracing::error!(call_sid = %ctx.call_sid, error = %e, "a tool task failed");
            let done = Done::Failed(ToolError::CalendarUnavailable);
            let value = self.to_json(&done);
            (done, value)
        })
    }

    /// Schedules, moves or drops the reminder of a changed appointment.
    async fn keep_reminders(&self, ctx: &ToolContext, done: &Done) {
        let Some(reminders) = &self.reminders else {
            return;
        };
        match (done, ctx.caller.number()) {
            (Done::Booked(a) | Done::Moved { to: a, .. }, Some(number)) => {
                reminders.schedule(a, number).await;
            }
            (Done::Cancelled(a), _) => reminders.cancel(a).await,
            _ => {}
        }
    }

    /// Texts a confirmation of a change to a caller with a number.
    fn text_caller(&self, ctx: &ToolContext, done: &Done) {
        let (Some(texter), Some(number)) = (&self.texter, ctx.caller.number()) else {
            return;
        };
        let local = |t| self.scheduler.to_local(t);
        let change = match done {
            Done::Booked(a) => Change::Booked(local(a.start)),
            Done::Moved { to, .. } => Change::Moved(local(to.start)),
            Done::Cancelled(a) => Change::Cancelled(local(a.start)),
            _ => return,
        };
        texter.confirm(&ctx.call_sid, number, change);
    }

    /// Whether the call may make this change now; the refusal if not.
    async fn allowance(&self, ctx: &ToolContext, request: &Request) -> Option<ToolError> {
        let used = ctx.sessions.effects(&ctx.call_sid).await;
        refuse_over_limit(&used, request)
    }

    /// Does what was asked, for the caller on the line.
    async fn act(&self, ctx: &ToolContext, request: Request) -> Done {
        let s = &self.scheduler;
        let result = match request {
            Request::CheckAvailability { date, minutes } => {
                self.availability(date, minutes, ctx.now).await
            }
            Request::Book {
                start,
                name,
                minutes,
                email,
                phone,
                reason,
            } => {
                // The booking belongs to the number on the line; a number
                // the caller gave by voice is kept as a callback note.
                let own = ctx.caller.phone();
                let callback = phone.filter(|p| Some(p.as_str()) != own);
                let reason = match (reason, callback) {
                    (r, None) => r,
                    (None, Some(p)) => Some(format!("callback number {p}")),
                    (Some(r), Some(p)) => Some(format!("{r}; callback number {p}")),
                };
                let details = Details {
                    name,
                    phone: own.map(str::to_owned),
                    email,
                    reason,
                };
                s.book(start, minutes, details, ctx.now)
                    .await
                    .map(|o| outcome(o, start, Done::Booked))
            }
            Request::Find { name } => Ok(match self.mine(ctx).await {
                Ok(mine) => {
                    let name = name.map(|n| n.to_lowercase());
                    Done::Found(
                        mine.into_iter()
                            .filter(|a| {
                                name.as_ref()
                                    .is_none_or(|n| a.name.to_lowercase().contains(n.as_str()))
                            })
                            .collect(),
                    )
                }
                Err(done) => done,
            }),
            Request::Reschedule { target, new_start } => match self.resolve(ctx, &target).await {
                Ok(current) => {
                    let from = s.to_local(current.start);
                    s.reschedule(&current.id, new_start, ctx.now)
                        .await
                        .map(|o| outcome(o, new_start, |to| Done::Moved { from, to }))
                }
                Err(done) => Ok(done),
            },
            Request::Cancel { target, .. } => match self.resolve(ctx, &target).await {
                Ok(current) => s.calendar().cancel(&current.id).await.map(Done::Cancelled),
                Err(done) => Ok(done),
            },
            Request::EndCall { .. } => Ok(Done::Ending),
            Request::Transfer { reason } => Ok(if self.transfer_number.is_none() {
                Done::Failed(ToolError::NoTransfer)
            } else if !s.is_open_at(ctx.now) {
                Done::Failed(ToolError::Closed)
            } else {
                ctx.sessions.begin_transfer(&ctx.call_sid, reason).await;
                Done::Transferring
            }),
            Request::TakeMessage {
                name,
                message,
                callback_number,
            } => {
                let caller_number = ctx.caller.phone().map(str::to_owned);
                let Some(callback_number) = callback_number.or_else(|| caller_number.clone())
                else {
                    return Done::Failed(ToolError::NeedCallback);
                };
                let new = NewMessage {
                    call_sid: ctx.call_sid.to_string(),
                    caller_number,
                    name,
                    message,
                    callback_number: Some(callback_number),
                };
                return match self.messages.take(new, ctx.now).await {
                    Ok(m) => Done::MessageTaken(m),
                    Err(e) => {
                        tracing::error!(call_sid = %ctx.call_sid, error = %e, "could not keep a message");
                        Done::Failed(ToolError::MessagesUnavailable)
                    }
                };
            }
        };
        result.unwrap_or_else(|e| match e {
            CalendarError::NotFound => Done::Failed(ToolError::NotYours(
                "that appointment no longer exists; it may have been cancelled already".into(),
            )),
            e => {
                tracing::warn!(call_sid = %ctx.call_sid, error = %e, "calendar failed during a tool call");
                Done::Failed(ToolError::CalendarUnavailable)
            }
        })
    }

    async fn availability(
        &self,
        date: NaiveDate,
        minutes: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Done, CalendarError> {
        let s = &self.scheduler;
        let closed = if date < s.today(now) {
            Some(Refusal::InPast)
        } else if date > s.last_bookable_day(now) {
            Some(Refusal::TooFarAhead)
        } else if !s.is_open_on(date) {
            Some(Refusal::Weekend)
        } else {
            None
        };
        let free = match closed {
            Some(refusal) => Err(refusal),
            None => Ok(s
                .free_slots(date, minutes.unwrap_or(s.default_minutes), now)
                .await?),
        };
        Ok(Done::Availability { date, free })
    }

    /// The caller's own upcoming appointments, or why there are none to see.
    async fn mine(&self, ctx: &ToolContext) -> Result<Vec<Appointment>, Done> {
        let Some(number) = ctx.caller.number() else {
            return Err(Done::Failed(ToolError::Withheld));
        };
        self.scheduler
            .booked_from(number, ctx.now)
            .await
            .map_err(|e| {
                tracing::warn!(call_sid = %ctx.call_sid, error = %e, "calendar failed during a tool call");
                Done::Failed(ToolError::CalendarUnavailable)
            })
    }

    /// One of the caller's own appointments, or why there is none.
    async fn resolve(&self, ctx: &ToolContext, target: &Target) -> Result<Appointment, Done> {
        let mine = self.mine(ctx).await?;
        let found = match target {
            Target::Id { appointment_id } => mine.into_iter().find(|a| &a.id == appointment_id),
            Target::Start { start } => mine
                .into_iter()
                .find(|a| self.scheduler.to_local(a.start) == *start),
        };
        found.ok_or_else(|| {
            Done::Failed(ToolError::NotYours(match target {
                Target::Id { .. } => "no upcoming appointment with that id was booked from the \
                                      caller's number; use find_appointments to see theirs"
                    .into(),
                Target::Start { start } => format!(
                    "no upcoming appointment booked from the caller's number starts at {}; \
                     use find_appointments to see theirs",
                    format_local(*start)
                ),
            }))
        })
    }

    /// A valid future start to show in error messages: the next open day,
    /// an hour after opening.
    fn example_start(&self, now: DateTime<Utc>) -> NaiveDateTime {
        let s = &self.scheduler;
        let mut day = s.today(now) + Duration::days(1);
        while !s.is_open_on(day) {
            day += Duration::days(1);
        }
        let opening = day.and_time(s.first_slot());
        let later = opening + Duration::hours(1);
        if later.time() < s.closes {
            later
        } else {
            opening
        }
    }

    fn spoken(t: NaiveDateTime) -> String {
        speech::date_time(t.date(), t.time())
    }

    /// An appointment as the model sees it (the caller's own only).
    fn describe(&self, a: &Appointment) -> Value {
        let start = self.scheduler.to_local(a.start);
        json!({
            "appointment_id": a.id,
            "start": format_local(start),
            "end": format_local(self.scheduler.to_local(a.end)),
            "spoken": Self::spoken(start),
            "name": a.name,
            "reason": a.reason,
        })
    }

    /// The result as the model gets it.
    fn to_json(&self, done: &Done) -> Value {
        match done {
            Done::Availability { date, free } => match free {
                Ok(free) => json!({
                    "date": date.to_string(),
                    "day": speech::date(*date),
                    "open": true,
                    "free": free.iter().map(|t| t.format("%H:%M").to_string()).collect::<Vec<_>>(),
                    "free_spoken": free.iter().map(|t| speech::time(t.time())).collect::<Vec<_>>(),
                }),
                Err(refusal) => json!({
                    "date": date.to_string(), "open": false, "reason": refusal.explain(), "free": []
                }),
            },
            Done::Booked(a) => self.with(a, json!({"ok": true, "booked": true})),
            Done::Moved { from, to } => {
                self.with(to, json!({"ok": true, "moved_from": format_local(*from)}))
            }
            Done::Cancelled(a) => self.with(a, json!({"ok": true, "cancelled": true})),
            Done::Found(found) => json!({
                "appointments": found.iter().map(|a| self.describe(a)).collect::<Vec<_>>()
            }),
            Done::Refused {
                requested,
                refusal,
                alternatives,
            } => json!({
                "ok": false,
                "requested": format_local(*requested),
                "reason": refusal.explain(),
                "alternatives": alternatives.iter().map(|t| format_local(*t)).collect::<Vec<_>>(),
                "alternatives_spoken": alternatives.iter().map(|t| Self::spoken(*t)).collect::<Vec<_>>(),
            }),
            Done::Ending => json!({ "ok": true }),
            Done::Transferring => json!({
                "ok": true,
                "transferring": true,
                "note": "the caller is connected to a person after your next words"
            }),
            Done::MessageTaken(m) => json!({
                "ok": true,
                "message_taken": true,
                "name": m.name,
                "message": m.message,
                "callback_number": m.callback_number,
                "callback_spoken": m.callback_number.as_deref().map(speech::digits),
            }),
            Done::Failed(e) => json!({ "ok": false, "error": e.to_string() }),
        }
    }

    fn with(&self, a: &Appointment, extra: Value) -> Value {
        let mut v = self.describe(a);
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }
}

/// A booking or move outcome as a [`Done`].
fn outcome(o: Outcome, requested: NaiveDateTime, done: impl FnOnce(Appointment) -> Done) -> Done {
    match o {
        Outcome::Done(a) => done(a),
        Outcome::Refused {
            refusal,
            alternatives,
        } => Done::Refused {
            requested,
            refusal,
            alternatives,
        },
    }
}

/// The limit a change would break, given what the call has done.
fn refuse_over_limit(used: &EffectCounts, request: &Request) -> Option<ToolError> {
    let (turn, call, turn_max, call_max, what) = match request {
        Request::Book { .. } => (
            used.turn_bookings,
            used.call_bookings,
            BOOKINGS_PER_TURN,
            BOOKINGS_PER_CALL,
            "booking",
        ),
        Request::Reschedule { .. } | Request::Cancel { .. } => (
            used.turn_changes,
            used.call_changes,
            CHANGES_PER_TURN,
            CHANGES_PER_CALL,
            "change to an existing appointment",
        ),
        Request::TakeMessage { .. } => (
            used.turn_messages,
            used.call_messages,
            MESSAGES_PER_TURN,
            MESSAGES_PER_CALL,
            "message",
        ),
        _ => return None,
    };
    if call >= call_max {
        return Some(ToolError::Limit(format!(
            "this call has reached its limit ({call_max}) for this kind of change; nothing was \
             done: tell the caller and offer to take a message for the business"
        )));
    }
    if turn >= turn_max {
        return Some(ToolError::Limit(format!(
            "only one {what} per caller turn; nothing was done: tell the caller what was done \
             and confirm the next one with them before asking again"
        )));
    }
    None
}

/// Writes a call that ran into the transcript.
async fn record(
    ctx: &ToolContext,
    id: String,
    name: String,
    arguments: String,
    result: &Value,
    effect: Option<Effect>,
) {
    let result = RawValue::from_string(result.to_string())
        .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("valid JSON"));
    ctx.gate
        .record_tool(
            &ctx.sessions,
            &ctx.call_sid,
            ToolCall {
                id,
                name,
                arguments,
                result,
                effect,
            },
        )
        .await;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use crate::session::at_once;

    use super::*;
    use crate::{
        session::{Archive, Role},
        twilio::webhook::{CallDetails, Direction},
    };

    const ME: &str = "+14155550100";
    const OTHER: &str = "+14155550111";

    struct Bench {
        tools: Tools,
        sessions: Arc<SessionStore>,
        _dir: tempfile::TempDir,
    }

    fn bench() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::new(
            crate::calendar::tests::scheduler("America/New_York", dir.path()),
            MessageBook::open(dir.path()).unwrap(),
        );
        let sessions = Arc::new(SessionStore::new(Archive::open(dir.path()).unwrap()));
        Bench {
            tools,
            sessions,
            _dir: dir,
        }
    }

    impl Bench {
        /// A live call from `from`, as Twilio would send it.
        fn call(&self, n: u32, from: Option<&str>) -> ToolContext {
            let call_sid = CallSid::parse(&format!("CA{n:032x}")).unwrap();
            let details = CallDetails {
                from: from.map(str::to_owned),
                ..CallDetails::default()
            };
            at_once(self.sessions.begin(&call_sid, Direction::Inbound, &details));
            ToolContext {
                caller: at_once(self.sessions.caller(&call_sid)),
                call_sid,
                // Monday 2026-11-23, 8 AM in New York.
                now: Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap(),
                sessions: Arc::clone(&self.sessions),
                gate: Arc::new(Gate::confirmed()),
            }
        }

        fn caller_says(&self, ctx: &ToolContext, words: &str) {
            at_once(self.sessions.record(&ctx.call_sid, Role::User, words, None));
        }

        async fn run(&self, ctx: &ToolContext, name: &str, args: Value) -> Value {
            self.tools
                .dispatch(ctx, &new_call_id(), name, &args.to_string())
                .await
                .value
        }

        fn tool_entries(&self, ctx: &ToolContext) -> Vec<Arc<ToolCall>> {
            at_once(self.sessions.snapshot(&ctx.call_sid))
                .unwrap()
                .conversation_history
                .iter()
                .filter_map(|t| t.tool.clone())
                .collect()
        }
    }

    #[test]
    fn definitions_name_the_interface_tools_with_object_schemas() {
        let defs = definitions();
        let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        assert_eq!(names, TOOL_NAMES);
        for d in defs {
            assert_eq!(d.parameters["type"], "object", "{}", d.name);
        }
    }

    #[tokio::test]
    async fn check_book_find_reschedule_cancel_through_the_dispatcher() {
        let b = bench();
        let me = b.call(1, Some(ME));
        b.caller_says(&me, "what's free tomorrow?");
        let free = b
            .run(&me, "check_availability", json!({"date": "2026-11-24"}))
            .await;
        assert_eq!(free["free"][0], "09:00");
        assert_eq!(free["free"].as_array().unwrap().len(), 16);

        b.caller_says(&me, "book 3 pm, Ada Lovelace");
        let booked = b
            .run(
                &me,
                "book_appointment",
                json!({"start": "2026-11-24T15:00", "name": "Ada Lovelace"}),
            )
            .await;
        assert_eq!(booked["ok"], true, "{booked}");
        assert_eq!(booked["spoken"], "Tuesday, November 24th at 3 PM");
        let id = booked["appointment_id"].as_str().unwrap().to_owned();

        let found = b.run(&me, "find_appointments", json!({})).await;
        assert_eq!(found["appointments"][0]["appointment_id"], id.as_str());

        b.caller_says(&me, "move it to 4");
        let moved = b
            .run(
                &me,
                "reschedule_appointment",
                json!({"start": "2026-11-24T15:00", "new_start": "2026-11-24T16:00"}),
            )
            .await;
        assert_eq!(moved["start"], "2026-11-24T16:00", "{moved}");
        assert_eq!(moved["moved_from"], "2026-11-24T15:00");

        b.caller_says(&me, "actually cancel it");
        let cancelled = b
            .run(&me, "cancel_appointment", json!({"appointment_id": id}))
            .await;
        assert_eq!(cancelled["cancelled"], true, "{cancelled}");
        let found = b.run(&me, "find_appointments", json!({})).await;
        assert_eq!(found["appointments"], json!([]));

        // Every call is in the transcript, typed, with its effect.
        let effects: Vec<Option<Effect>> = b.tool_entries(&me).iter().map(|t| t.effect).collect();
        assert_eq!(
            effects,
            [
                None,
                Some(Effect::Booked),
                None,
                Some(Effect::Moved),
                Some(Effect::Cancelled),
                None
            ]
        );
    }

    #[tokio::test]
    async fn another_callers_appointment_cannot_be_seen_moved_or_cancelled_by_id_name_or_start() {
        let b = bench();
        let owner = b.call(1, Some(ME));
        let booked = b
            .run(
                &owner,
                "book_appointment",
                json!({"start": "2026-11-24T15:00", "name": "Ada Lovelace", "reason": "root canal"}),
            )
            .await;
        let id = booked["appointment_id"].as_str().unwrap().to_owned();

        let stranger = b.call(2, Some(OTHER));
        for (name, args) in [
            ("find_appointments", json!({"name": "a"})),
            ("find_appointments", json!({"phone": ME})),
            (
                "find_appointments",
                json!({"name": "Ada Lovelace", "phone": ME}),
            ),
            (
                "reschedule_appointment",
                json!({"appointment_id": id, "new_start": "2026-11-24T16:00"}),
            ),
            (
                "reschedule_appointment",
                json!({"start": "2026-11-24T15:00", "new_start": "2026-11-24T16:00"}),
            ),
            ("cancel_appointment", json!({"appointment_id": id})),
            ("cancel_appointment", json!({"start": "2026-11-24T15:00"})),
        ] {
            b.caller_says(&stranger, "next");
            let result = b.run(&stranger, name, args.clone()).await.to_string();
            for secret in ["Ada", "root canal", ME, &id] {
                assert!(
                    !result.contains(secret),
                    "{name} {args} leaked {secret:?}: {result}"
                );
            }
        }
        // Still there, unchanged.
        let found = b.run(&owner, "find_appointments", json!({})).await;
        assert_eq!(found["appointments"][0]["start"], "2026-11-24T15:00");
    }

    #[tokio::test]
    async fn withheld_callers_have_no_appointments_but_can_book() {
        let b = bench();
        let owner = b.call(1, Some(ME));
        b.run(
            &owner,
            "book_appointment",
            json!({"start": "2026-11-24T15:00", "name": "Ada Lovelace"}),
        )
        .await;
        for (n, from) in [
            Some("Anonymous"),
            Some("Restricted"),
            Some("Unavailable"),
            Some("+266696687"),
            Some("client:alice"),
            Some("sip:alice@example.com"),
            Some(""),
            None,
        ]
        .into_iter()
        .enumerate()
        {
            let ctx = b.call(10 + n as u32, from);
            assert_eq!(ctx.caller, CallerIdentity::Withheld, "{from:?}");
            let found = b.run(&ctx, "find_appointments", json!({})).await;
            assert!(found["appointments"].is_null(), "{from:?}: {found}");
            assert!(found["error"].as_str().unwrap().contains("withheld"));
            let cancel = b
                .run(
                    &ctx,
                    "cancel_appointment",
                    json!({"start": "2026-11-24T15:00"}),
                )
                .await;
            assert!(!cancel.to_string().contains("Ada"), "{cancel}");
            assert_eq!(cancel["ok"], false);
        }
        let anon = b.call(30, Some("Anonymous"));
        let booked = b
            .run(
                &anon,
                "book_appointment",
                json!({"start": "2026-11-25T10:00", "name": "Grace Hopper", "phone": ME}),
            )
            .await;
        assert_eq!(booked["ok"], true, "{booked}");
        // A number given by voice does not make the booking someone else's.
        let found = b.run(&owner, "find_appointments", json!({})).await;
        assert_eq!(found["appointments"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn side_effects_are_limited_per_turn_and_per_call() {
        let b = bench();
        let me = b.call(1, Some(ME));
        b.caller_says(&me, "book me everything");
        let mut ok = 0;
        for hour in 9..16 {
            let r = b
                .run(
                    &me,
                    "book_appointment",
                    json!({"start": format!("2026-11-24T{hour:02}:00"), "name": "Ada"}),
                )
                .await;
            if r["ok"] == true {
                ok += 1;
            } else {
                assert!(
                    r["error"].as_str().unwrap().contains("per caller turn"),
                    "{r}"
                );
            }
        }
        assert_eq!(ok, 1, "one booking per turn");
        for hour in [10, 11, 12, 13] {
            b.caller_says(&me, "and another");
            b.run(
                &me,
                "book_appointment",
                json!({"start": format!("2026-11-25T{hour:02}:00"), "name": "Ada"}),
            )
            .await;
        }
        let found = b.run(&me, "find_appointments", json!({})).await;
        assert_eq!(
            found["appointments"].as_array().unwrap().len(),
            BOOKINGS_PER_CALL as usize
        );
        // Every attempt is in the transcript, refused ones included.
        assert_eq!(b.tool_entries(&me).len(), 7 + 4 + 1);
    }

    #[tokio::test]
    async fn bad_arguments_are_results_and_the_tool_does_not_run() {
        let b = bench();
        let me = b.call(1, Some(ME));
        for (name, raw) in [
            (
                "book_appointment",
                r#"{"start": "2026-11-24T15:00", "name": "Ada""#,
            ),
            (
                "book_appointment",
                r#"{"start": "2036-11-24T15:07", "name": "Ada"}"#,
            ),
            (
                "book_appointment",
                r#"{"start": "2026-11-24T15:00", "name": "Ada", "duration_minutes": 100000}"#,
            ),
            ("check_availability", r#"{"date": "tomorrow"}"#),
            ("cancel_appointment", "{}"),
            ("launch_rockets", "{}"),
        ] {
            let r = b.tools.dispatch(&me, "call_x", name, raw).await;
            assert!(r.value["error"].is_string(), "{name}: {}", r.value);
            assert!(!r.end_call);
            // The example in the message is a real future time.
            if let Some(e) = r.value["error"].as_str().filter(|e| e.contains("like 20")) {
                assert!(e.contains("2026-11-24"), "{e}");
            }
        }
        let found = b.run(&me, "find_appointments", json!({})).await;
        assert_eq!(found["appointments"], json!([]));
        assert!(
            b.tools
                .dispatch(&me, "call_y", "end_call", "{}")
                .await
                .end_call
        );
        // Far-future and ancient days are closed, not errors.
        for date in ["2036-01-07", "9999-01-04", "2026-11-20"] {
            let r = b
                .run(&me, "check_availability", json!({ "date": date }))
                .await;
            assert_eq!(r["open"], false, "{date}: {r}");
        }
        let far = b
            .run(
                &me,
                "book_appointment",
                json!({"start": "2036-11-24T15:00", "name": "Ada"}),
            )
            .await;
        assert_eq!(far["ok"], false);
        assert_eq!(far["reason"], Refusal::TooFarAhead.explain());
    }

    #[tokio::test]
    async fn a_booking_is_recorded_even_when_the_turn_is_abandoned_while_it_runs() {
        let b = bench();
        let me = b.call(1, Some(ME));
        b.caller_says(&me, "book it");
        let mut turn = Box::pin(b.tools.dispatch(
            &me,
            "call_1",
            "book_appointment",
            r#"{"start": "2026-11-24T15:00", "name": "Ada"}"#,
        ));
        // One poll starts the booking; then the turn is dropped, as a turn
        // whose deadline passed is.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(turn.as_mut().poll(&mut cx).is_pending());
        drop(turn);
        for _ in 0..400 {
            if !b.tool_entries(&me).is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let found = b.run(&me, "find_appointments", json!({})).await;
        let booked = found["appointments"].as_array().unwrap().len();
        let recorded = b
            .tool_entries(&me)
            .iter()
            .filter(|t| t.effect == Some(Effect::Booked))
            .count();
        assert_eq!((booked, recorded), (1, 1), "the booking and its record");
    }

    #[tokio::test]
    async fn before_the_final_words_reading_runs_unrecorded_and_booking_waits() {
        let b = bench();
        let mut ctx = b.call(40, Some("+14155550100"));
        let gate = Arc::new(Gate::pending());
        ctx.gate = Arc::clone(&gate);
        let free = b
            .run(&ctx, "check_availability", json!({"date": "2026-11-23"}))
            .await;
        assert_eq!(free["open"], true, "{free}");
        let history = |b: &Bench| {
            at_once(b.sessions.snapshot(&ctx.call_sid))
                .unwrap()
                .conversation_history
        };
        assert!(
            history(&b).is_empty(),
            "nothing recorded before the final words"
        );
        let booking = {
            let (tools, ctx) = (b.tools.clone(), ctx.clone());
            tokio::spawn(async move {
                let args = json!({"start": "2026-11-23T14:00", "name": "Ada Lovelace"});
                tools
                    .dispatch(&ctx, "call_book", "book_appointment", &args.to_string())
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !booking.is_finished(),
            "the booking waits for the final words"
        );
        assert!(history(&b).is_empty());
        assert!(
            gate.confirm(&b.sessions, &ctx.call_sid, "Book me at 2.", Some(0.9))
                .await
        );
        let booked = booking.await.unwrap();
        assert_eq!(booked.value["booked"], true, "{}", booked.value);
        let h = history(&b);
        let roles: Vec<_> = h
            .iter()
            .map(|t| (t.role, t.tool.as_ref().map(|c| c.name.clone())))
            .collect();
        assert_eq!(
            roles,
            [
                (Role::User, None),
                (Role::Tool, Some("check_availability".to_owned())),
                (Role::Tool, Some("book_appointment".to_owned())),
            ]
        );
        assert_eq!(&*h[0].content, "Book me at 2.");
    }

    #[tokio::test]
    async fn a_dropped_turn_books_nothing_and_leaves_no_trace() {
        let b = bench();
        let mut ctx = b.call(41, Some("+14155550100"));
        let gate = Arc::new(Gate::pending());
        ctx.gate = Arc::clone(&gate);
        let booking = {
            let (tools, ctx) = (b.tools.clone(), ctx.clone());
            tokio::spawn(async move {
                let args = json!({"start": "2026-11-23T15:00", "name": "Ada Lovelace"});
                tools
                    .dispatch(&ctx, "call_book", "book_appointment", &args.to_string())
                    .await
            })
        };
        tokio::task::yield_now().await;
        gate.drop_turn();
        let r = booking.await.unwrap();
        assert_eq!(r.value["ok"], false, "{}", r.value);
        let after = b
            .sessions
            .snapshot(&ctx.call_sid)
            .await
            .unwrap()
            .conversation_history;
        assert!(after.is_empty(), "{after:?}");
        let mut ctx2 = ctx.clone();
        ctx2.gate = Arc::new(Gate::confirmed());
        let mine = b.run(&ctx2, "find_appointments", json!({})).await;
        assert_eq!(mine["appointments"], json!([]), "{mine}");
    }
}
