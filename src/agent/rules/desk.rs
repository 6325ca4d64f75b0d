//! The built-in agent's one way to the calendar: every look at free times,
//! every booking, move and cancellation, and every look at the caller's own
//! appointments goes through [`Tools::call`] — the safety envelope that acts
//! only for the caller on the line, limits side effects and records each
//! call in the transcript — on behalf of this turn's caller. What it takes
//! from the scheduler is only the business's facts (time zone, hours, open
//! days, appointment length), never the calendar.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::memory::Held;
use crate::{
    agent::tools::{Done, Request, Target, ToolContext, ToolError, Tools},
    calendar::Refusal,
};

/// How many alternatives to offer.
const ALTERNATIVES: usize = 3;
/// How many days ahead to look for alternatives.
const SEARCH_DAYS: i64 = 14;

/// Why a calendar action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The time cannot be had: why, and the nearest free times.
    Refused(Refusal, Vec<NaiveDateTime>),
    /// The appointment is not (or no longer) the caller's.
    Gone,
    /// This call has made as many changes as it may.
    Limit,
    /// The calendar cannot be reached.
    Down,
}

fn failed(done: Done) -> Trouble {
    match done {
        Done::Refused {
            refusal,
            alternatives,
            ..
        } => Trouble::Refused(refusal, alternatives),
        Done::Failed(ToolError::NotYours(_) | ToolError::Withheld) => Trouble::Gone,
        Done::Failed(ToolError::Limit(_)) => Trouble::Limit,
        _ => Trouble::Down,
    }
}

/// The calendar, as the caller on the line may use it.
pub struct Desk<'a> {
    tools: &'a Tools,
    ctx: &'a ToolContext,
    timezone: Tz,
    opens: NaiveTime,
    closes: NaiveTime,
    minutes: i64,
}

impl<'a> Desk<'a> {
    /// The desk for one turn.
    pub fn new(tools: &'a Tools, ctx: &'a ToolContext) -> Self {
        let s = tools.scheduler();
        Self {
            tools,
            ctx,
            timezone: s.timezone,
            opens: s.opens,
            closes: s.closes,
            minutes: i64::from(s.default_minutes),
        }
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.timezone).naive_local()
    }

    /// Now, local.
    pub fn now(&self) -> NaiveDateTime {
        self.local(self.ctx.now)
    }

    /// Today, in the business's zone.
    pub fn today(&self) -> NaiveDate {
        self.now().date()
    }

    /// Opening and closing time.
    pub fn hours(&self) -> (NaiveTime, NaiveTime) {
        (self.opens, self.closes)
    }

    /// Whether the business is open on `date`.
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.tools.scheduler().is_open_on(date)
    }

    /// Puts the caller through to a person; `false` when nobody can take
    /// the call (no transfer number, or the office is closed).
    pub async fn transfer(&self) -> bool {
        let request = Request::Transfer { reason: None };
        self.tools.call(self.ctx, request).await == Done::Transferring
    }

    /// Keeps a message for the business; the callback number read digit by
    /// digit, or why it was not kept (`None`: ask for a callback number).
    pub async fn take_message(&self, name: &str, message: &str) -> Result<String, Option<Trouble>> {
        let request = Request::TakeMessage {
            name: name.to_owned(),
            message: message.to_owned(),
            callback_number: None,
        };
        match self.tools.call(self.ctx, request).await {
            Done::MessageTaken(m) => Ok(m
                .callback_number
                .as_deref()
                .map(crate::agent::speech::digits)
                .unwrap_or_default()),
            Done::Failed(ToolError::NeedCallback) => Err(None),
            other => Err(Some(failed(other))),
        }
    }

    /// Free start times on `date`, or why that day has none to offer.
    pub async fn free(
        &self,
        date: NaiveDate,
    ) -> Result<Result<Vec<NaiveDateTime>, Refusal>, Trouble> {
        let request = Request::CheckAvailability {
            date,
            minutes: None,
        };
        match self.tools.call(self.ctx, request).await {
            Done::Availability { free, .. } => Ok(free),
            other => Err(failed(other)),
        }
    }

    /// The free times nearest to `wanted`: that day's closest, else the
    /// first ones of the days after.
    pub async fn nearest_free(&self, wanted: NaiveDateTime) -> Result<Vec<NaiveDateTime>, Trouble> {
        let first = wanted.date().max(self.today());
        for ahead in 0..=SEARCH_DAYS {
            let day = first + Duration::days(ahead);
            let mut slots = match self.free(day).await? {
                Ok(slots) => slots,
                Err(Refusal::TooFarAhead) => break,
                Err(_) => continue,
            };
            if slots.is_empty() {
                continue;
            }
            if ahead == 0 && day == wanted.date() {
                slots.sort_by_key(|t| ((*t - wanted).num_minutes().abs(), *t));
            }
            slots.truncate(ALTERNATIVES);
            slots.sort();
            return Ok(slots);
        }
        Ok(Vec::new())
    }

    /// Whether `start` could be booked now; why not, with alternatives.
    pub async fn check(&self, start: NaiveDateTime) -> Result<(), Trouble> {
        let refusal = match self.free(start.date()).await? {
            Err(refusal) => refusal,
            Ok(slots) => {
                // Free slots are on the half hour; a quarter-hour start is
                // free when the slots around it are.
                let step = Duration::minutes(30);
                let floor = start.with_minute(start.minute() / 30 * 30).unwrap_or(start);
                let free = slots.contains(&start)
                    || (start.minute() % 15 == 0
                        && slots.contains(&floor)
                        && (floor + step >= start + Duration::minutes(self.minutes)
                            || slots.contains(&(floor + step))));
                if free {
                    return Ok(());
                }
                if start <= self.now() {
                    Refusal::InPast
                } else if start.time() < self.opens
                    || (start + Duration::minutes(self.minutes)).time() > self.closes
                    || (start + Duration::minutes(self.minutes)).date() != start.date()
                {
                    Refusal::OutsideHours
                } else if start.minute() % 15 != 0 || start.second() != 0 {
                    Refusal::OffGrid
                } else {
                    Refusal::Taken
                }
            }
        };
        Err(Trouble::Refused(refusal, self.nearest_free(start).await?))
    }

    /// Books `start` for `name` from the caller's number; the new id.
    pub async fn book(&self, start: NaiveDateTime, name: &str) -> Result<String, Trouble> {
        let request = Request::Book {
            start,
            name: name.to_owned(),
            minutes: None,
            email: None,
            phone: None,
            reason: None,
        };
        match self.tools.call(self.ctx, request).await {
            Done::Booked(a) => Ok(a.id),
            other => Err(failed(other)),
        }
    }

    /// Moves the caller's appointment `id` to `start`; its id.
    pub async fn reschedule(&self, id: &str, start: NaiveDateTime) -> Result<String, Trouble> {
        let request = Request::Reschedule {
            target: Target::Id {
                appointment_id: id.to_owned(),
            },
            new_start: start,
        };
        match self.tools.call(self.ctx, request).await {
            Done::Moved { to, .. } => Ok(to.id),
            other => Err(failed(other)),
        }
    }

    /// Cancels the caller's appointment `id`.
    pub async fn cancel(&self, id: &str) -> Result<(), Trouble> {
        let request = Request::Cancel {
            target: Target::Id {
                appointment_id: id.to_owned(),
            },
            reason: None,
        };
        match self.tools.call(self.ctx, request).await {
            Done::Cancelled(_) => Ok(()),
            other => Err(failed(other)),
        }
    }

    /// The caller's upcoming appointments (none for a withheld number).
    pub async fn mine(&self) -> Result<Vec<Held>, Trouble> {
        match self
            .tools
            .call(self.ctx, Request::Find { name: None })
            .await
        {
            Done::Found(found) => Ok(found
                .into_iter()
                .map(|a| (a.id, self.local(a.start)))
                .collect()),
            Done::Failed(ToolError::Withheld) => Ok(Vec::new()),
            other => Err(failed(other)),
        }
    }
}
