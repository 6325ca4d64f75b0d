//! The built-in agent's one way to the calendar: every lookup, booking,
//! move and cancel of the dialogue goes through [`Desk`], on behalf of the
//! caller on the line (their number, this turn's time).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::memory::Held;
use crate::{
    agent::tools::{ToolContext, Tools},
    calendar::{CalendarError, Details, Outcome, Refusal},
};

/// Why a calendar action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The time cannot be had: why, and the nearest free times.
    Refused(Refusal, Vec<NaiveDateTime>),
    /// The appointment is not there any more.
    Gone,
    /// The calendar cannot be reached.
    Down,
}

fn down(e: &CalendarError) -> Trouble {
    tracing::warn!(error = %e, "calendar failed during a rules-agent turn");
    match e {
        CalendarError::NotFound => Trouble::Gone,
        _ => Trouble::Down,
    }
}

/// The calendar, as the caller on the line may use it.
pub struct Desk<'a> {
    tools: &'a Tools,
    ctx: &'a ToolContext,
}

impl<'a> Desk<'a> {
    /// The desk for one turn.
    pub fn new(tools: &'a Tools, ctx: &'a ToolContext) -> Self {
        Self { tools, ctx }
    }

    /// Today, in the business's zone.
    pub fn today(&self) -> NaiveDate {
        self.tools.scheduler.today(self.ctx.now)
    }

    /// Now, local.
    pub fn now(&self) -> NaiveDateTime {
        self.tools.scheduler.to_local(self.ctx.now)
    }

    /// Opening and closing time.
    pub fn hours(&self) -> (NaiveTime, NaiveTime) {
        (self.tools.scheduler.opens, self.tools.scheduler.closes)
    }

    /// Whether the business is open on `date`.
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.tools.scheduler.is_open_on(date)
    }

    /// Free start times on `date`.
    pub async fn free_slots(&self, date: NaiveDate) -> Result<Vec<NaiveDateTime>, Trouble> {
        let s = &self.tools.scheduler;
        s.free_slots(date, s.default_minutes, self.ctx.now)
            .await
            .map_err(|e| down(&e))
    }

    /// The free times nearest to `wanted`.
    pub async fn nearest_free(&self, wanted: NaiveDateTime) -> Result<Vec<NaiveDateTime>, Trouble> {
        let s = &self.tools.scheduler;
        s.nearest_free(wanted, s.default_minutes, self.ctx.now)
            .await
            .map_err(|e| down(&e))
    }

    /// Whether `start` could be booked now.
    pub async fn check(&self, start: NaiveDateTime) -> Result<(), Trouble> {
        match self.tools.scheduler.check(start, None, self.ctx.now).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((refusal, alternatives))) => Err(Trouble::Refused(refusal, alternatives)),
            Err(e) => Err(down(&e)),
        }
    }

    fn outcome(r: Result<Outcome, CalendarError>) -> Result<String, Trouble> {
        match r {
            Ok(Outcome::Done(a)) => Ok(a.id),
            Ok(Outcome::Refused {
                refusal,
                alternatives,
            }) => Err(Trouble::Refused(refusal, alternatives)),
            Err(e) => Err(down(&e)),
        }
    }

    /// Books `start` for `name` from the caller's number; the new id.
    pub async fn book(&self, start: NaiveDateTime, name: &str) -> Result<String, Trouble> {
        let details = Details {
            name: name.to_owned(),
            phone: self
                .ctx
                .caller
                .clone()
                .filter(|c| !crate::calendar::digits(c).is_empty()),
            ..Details::default()
        };
        Self::outcome(
            self.tools
                .scheduler
                .book(start, None, details, self.ctx.now)
                .await,
        )
    }

    /// Moves the caller's appointment `id` to `start`.
    pub async fn reschedule(&self, id: &str, start: NaiveDateTime) -> Result<String, Trouble> {
        Self::outcome(
            self.tools
                .scheduler
                .reschedule(id, start, self.ctx.now)
                .await,
        )
    }

    /// Cancels the caller's appointment `id`.
    pub async fn cancel(&self, id: &str) -> Result<(), Trouble> {
        self.tools
            .scheduler
            .calendar()
            .cancel(id)
            .await
            .map(|_| ())
            .map_err(|e| down(&e))
    }

    /// The caller's upcoming appointments (none for a withheld number).
    pub async fn mine(&self) -> Result<Vec<Held>, Trouble> {
        let caller = self
            .ctx
            .caller
            .as_deref()
            .filter(|c| !crate::calendar::digits(c).is_empty());
        let Some(caller) = caller else {
            return Ok(Vec::new());
        };
        let s = &self.tools.scheduler;
        let found = s
            .find(Some(caller), None, self.ctx.now)
            .await
            .map_err(|e| down(&e))?;
        Ok(found
            .into_iter()
            .map(|a| (a.id, s.to_local(a.start)))
            .collect())
    }
}
