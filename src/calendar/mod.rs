//! Appointments: the [`Calendar`] seam and the availability rules on top.
//!
//! A [`Calendar`] stores appointments (the built-in calendar: SQLite under
//! `DATA_DIR`, [`local::LocalCalendar`], or PostgreSQL when `DATABASE_URL`
//! is set, [`postgres::PgCalendar`]; or [`google::GoogleCalendar`]) and
//! offers one atomic operation that matters: book (or move) *only if the
//! time is still free*.
//! [`Scheduler`] holds the business rules every booking goes through: the
//! business's hours, Monday to Friday, in `BUSINESS_TIMEZONE` (DST included),
//! no times in the past, no overlaps, and the nearest free alternatives
//! when a time cannot be had. All times a caller says are local wall-clock
//! times in the business's zone; storage is in UTC instants.

pub mod google;
pub mod local;
pub mod metered;
pub mod postgres;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{config::BusinessConfig, twilio::number::PhoneNumber};

/// A booked appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// The calendar's id for it (the event id with Google).
    pub id: String,
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// Who it is for.
    pub name: String,
    /// The caller's phone number.
    pub phone: Option<String>,
    /// The caller's email.
    pub email: Option<String>,
    /// What it is for.
    pub reason: Option<String>,
}

/// A busy interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// What a calendar backend can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CalendarError {
    /// The time overlaps another appointment (found during the atomic check).
    #[error("that time is already taken")]
    Conflict,
    /// No appointment with that id.
    #[error("no such appointment")]
    NotFound,
    /// The backend refused or failed (storage, Google).
    #[error("the calendar is unavailable: {0}")]
    Unavailable(String),
}

/// Where appointments live.
#[async_trait]
pub trait Calendar: Send + Sync {
    /// Busy intervals overlapping `[from, to)`.
    async fn busy(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError>;

    /// Books `[start, end)` for `who` if nothing overlaps it, atomically.
    async fn book_if_free(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        who: Details,
    ) -> Result<Appointment, CalendarError>;

    /// Moves an appointment if nothing else overlaps the new time, atomically.
    async fn move_if_free(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError>;

    /// Cancels an appointment.
    async fn cancel(&self, id: &str) -> Result<Appointment, CalendarError>;

    /// One appointment.
    async fn get(&self, id: &str) -> Result<Option<Appointment>, CalendarError>;

    /// Appointments starting in `[from, to)`, earliest first.
    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError>;
}

/// A shared calendar.
pub type SharedCalendar = Arc<dyn Calendar>;

/// Why a time cannot be booked, with the nearest free times to offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// Someone else has it.
    Taken,
    /// Saturday or Sunday.
    Weekend,
    /// Before opening or after closing (or it would run past closing).
    OutsideHours,
    /// Already past.
    InPast,
    /// Not a real local time (skipped by a DST change).
    NonexistentTime,
    /// Later than the booking horizon (`BOOKING_HORIZON_DAYS`).
    TooFarAhead,
    /// Not on the quarter hour (:00, :15, :30, :45, no seconds).
    OffGrid,
}

impl Refusal {
    /// In words.
    pub fn explain(&self) -> &'static str {
        match self {
            Self::Taken => "that time is already taken",
            Self::Weekend => "we are closed on weekends",
            Self::OutsideHours => "that is outside our opening hours",
            Self::InPast => "that time has already passed",
            Self::NonexistentTime => {
                "that time does not exist on that day because of the clock change"
            }
            Self::TooFarAhead => "that is further ahead than we book",
            Self::OffGrid => {
                "appointments start on the hour, quarter past, half past or quarter to"
            }
        }
    }
}

/// What a booking or move attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done(Appointment),
    /// Refused; `alternatives` are the nearest free local start times.
    Refused {
        /// Why.
        refusal: Refusal,
        /// Nearest free times, earliest first.
        alternatives: Vec<NaiveDateTime>,
    },
}

/// The business rules over a [`Calendar`].
#[derive(Clone)]
pub struct Scheduler {
    calendar: SharedCalendar,
    /// The zone all local times are in.
    pub timezone: Tz,
    /// Opening time.
    pub opens: NaiveTime,
    /// Closing time.
    pub closes: NaiveTime,
    /// Default appointment length.
    pub default_minutes: u32,
    /// How many days ahead can be booked.
    pub horizon_days: u32,
}

/// The grid appointments start on, in minutes.
pub const GRID_MINUTES: u32 = 15;

/// How many alternatives to offer.
const ALTERNATIVES: usize = 3;
/// How far ahead to look for alternatives and availability.
const SEARCH_DAYS: i64 = 14;

impl Scheduler {
    /// Rules for `business` over `calendar`.
    pub fn new(calendar: SharedCalendar, business: &BusinessConfig) -> Self {
        Self {
            calendar,
            timezone: business.timezone,
            opens: business.opens,
            closes: business.closes,
            default_minutes: business.appointment_minutes,
            horizon_days: business.booking_horizon_days,
        }
    }

    /// The calendar underneath.
    pub fn calendar(&self) -> &SharedCalendar {
        &self.calendar
    }

    /// The grid free times are offered on.
    fn step(&self, minutes: u32) -> Duration {
        Duration::minutes(i64::from(minutes.clamp(15, 30)))
    }

    /// Local wall-clock time → instant. A time skipped by DST is `None`; a
    /// repeated one takes the earlier instant.
    pub fn to_utc(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }

    /// Instant → local wall-clock time.
    pub fn to_local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.timezone).naive_local()
    }

    /// Today's date in the business's zone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.to_local(now).date()
    }

    /// The last day that can be booked.
    pub fn last_bookable_day(&self, now: DateTime<Utc>) -> NaiveDate {
        self.today(now) + Duration::days(i64::from(self.horizon_days))
    }

    /// Whether `t` is on the booking grid (a quarter hour, no seconds).
    pub fn on_grid(t: NaiveDateTime) -> bool {
        t.minute() % GRID_MINUTES == 0 && t.second() == 0 && t.nanosecond() == 0
    }

    /// The first grid time at or after the opening time.
    pub fn first_slot(&self) -> NaiveTime {
        let minutes = self.opens.hour() * 60 + self.opens.minute();
        let extra = u32::from(self.opens.second() > 0 || self.opens.nanosecond() > 0);
        let aligned = (minutes + extra).div_ceil(GRID_MINUTES) * GRID_MINUTES;
        NaiveTime::from_hms_opt(aligned / 60, aligned % 60, 0).unwrap_or(self.opens)
    }

    /// Whether the business is open at the instant `now`.
    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        let local = self.to_local(now);
        self.is_open_on(local.date()) && local.time() >= self.opens && local.time() < self.closes
    }

    /// Whether the business is open on `date`.
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Checks the rules that need no calendar lookup.
    fn rule_check(
        &self,
        start: NaiveDateTime,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), Refusal> {
        if !Self::on_grid(start) {
            return Err(Refusal::OffGrid);
        }
        if !self.is_open_on(start.date()) {
            return Err(Refusal::Weekend);
        }
        let end = start + Duration::minutes(i64::from(minutes));
        if start.time() < self.opens || end.date() != start.date() || end.time() > self.closes {
            return Err(Refusal::OutsideHours);
        }
        let start_utc = self.to_utc(start).ok_or(Refusal::NonexistentTime)?;
        let end_utc = self.to_utc(end).ok_or(Refusal::NonexistentTime)?;
        if start_utc <= now {
            return Err(Refusal::InPast);
        }
        if start.date() > self.last_bookable_day(now) {
            return Err(Refusal::TooFarAhead);
        }
        Ok((start_utc, end_utc))
    }

    /// Whether `start` (local) could be booked now, without booking it.
    pub async fn check(
        &self,
        start: NaiveDateTime,
        minutes: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), (Refusal, Vec<NaiveDateTime>)>, CalendarError> {
        let minutes = minutes.unwrap_or(self.default_minutes);
        let refusal = match self.rule_check(start, minutes, now) {
            Err(r) => Some(r),
            Ok((s, e)) => {
                let busy = self.calendar.busy(s, e).await?;
                busy.iter()
                    .any(|b| b.start < e && s < b.end)
                    .then_some(Refusal::Taken)
            }
        };
        match refusal {
            None => Ok(Ok(())),
            Some(r) => Ok(Err((r, self.nearest_free(start, minutes, now).await?))),
        }
    }

    /// Free start times on `date` for an appointment of `minutes`.
    pub async fn free_slots(
        &self,
        date: NaiveDate,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<NaiveDateTime>, CalendarError> {
        self.free_slots_between(date, date, minutes, now).await
    }

    async fn free_slots_between(
        &self,
        first: NaiveDate,
        last: NaiveDate,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<NaiveDateTime>, CalendarError> {
        // A window wide enough for any zone offset (local midnight itself may
        // not exist on a DST day); each slot is checked exactly below.
        let from = first.and_time(NaiveTime::MIN).and_utc() - Duration::days(1);
        let to = (last + Duration::days(2))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let busy = self.calendar.busy(from, to).await?;
        let mut free = Vec::new();
        let step = self.step(minutes);
        let mut date = first;
        while date <= last {
            if self.is_open_on(date) {
                let mut t = date.and_time(self.first_slot());
                while t.date() == date && t.time() < self.closes {
                    if let Ok((s, e)) = self.rule_check(t, minutes, now)
                        && !busy.iter().any(|b| b.start < e && s < b.end)
                    {
                        free.push(t);
                    }
                    t += step;
                }
            }
            date += Duration::days(1);
        }
        Ok(free)
    }

    /// The free times nearest to `wanted` (same day first, then the next days).
    pub async fn nearest_free(
        &self,
        wanted: NaiveDateTime,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<NaiveDateTime>, CalendarError> {
        let today = self.today(now);
        let first = wanted.date().max(today).min(self.last_bookable_day(now));
        let mut same_day = self.free_slots(first, minutes, now).await?;
        if !same_day.is_empty() {
            let target = if wanted.date() == first {
                wanted
            } else if wanted.date() > first {
                first.and_time(self.closes)
            } else {
                first.and_time(self.opens)
            };
            same_day.sort_by_key(|t| ((*t - target).num_minutes().abs(), *t));
            same_day.truncate(ALTERNATIVES);
            same_day.sort();
            return Ok(same_day);
        }
        let mut later = self
            .free_slots_between(
                first + Duration::days(1),
                first + Duration::days(SEARCH_DAYS),
                minutes,
                now,
            )
            .await?;
        later.truncate(ALTERNATIVES);
        Ok(later)
    }

    /// Books `start` (local) if the rules and the calendar allow it.
    pub async fn book(
        &self,
        start: NaiveDateTime,
        minutes: Option<u32>,
        details: Details,
        now: DateTime<Utc>,
    ) -> Result<Outcome, CalendarError> {
        let minutes = minutes.unwrap_or(self.default_minutes);
        let (s, e) = match self.rule_check(start, minutes, now) {
            Ok(v) => v,
            Err(refusal) => return self.refuse(refusal, start, minutes, now).await,
        };
        match self.calendar.book_if_free(s, e, details).await {
            Ok(a) => Ok(Outcome::Done(a)),
            Err(CalendarError::Conflict) => self.refuse(Refusal::Taken, start, minutes, now).await,
            Err(e) => Err(e),
        }
    }

    /// Moves appointment `id` to `new_start` (local), keeping its length.
    pub async fn reschedule(
        &self,
        id: &str,
        new_start: NaiveDateTime,
        now: DateTime<Utc>,
    ) -> Result<Outcome, CalendarError> {
        let current = self
            .calendar
            .get(id)
            .await?
            .ok_or(CalendarError::NotFound)?;
        let minutes = u32::try_from((current.end - current.start).num_minutes())
            .unwrap_or(self.default_minutes);
        let (s, e) = match self.rule_check(new_start, minutes, now) {
            Ok(v) => v,
            Err(refusal) => return self.refuse(refusal, new_start, minutes, now).await,
        };
        match self.calendar.move_if_free(id, s, e).await {
            Ok(a) => Ok(Outcome::Done(a)),
            Err(CalendarError::Conflict) => {
                self.refuse(Refusal::Taken, new_start, minutes, now).await
            }
            Err(e) => Err(e),
        }
    }

    async fn refuse(
        &self,
        refusal: Refusal,
        wanted: NaiveDateTime,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Outcome, CalendarError> {
        let alternatives = self.nearest_free(wanted, minutes, now).await?;
        Ok(Outcome::Refused {
            refusal,
            alternatives,
        })
    }

    /// Upcoming appointments booked from `phone` (compared by its digits).
    /// There is deliberately no search by name: a caller finds only what
    /// was booked from their own number.
    pub async fn booked_from(
        &self,
        phone: &PhoneNumber,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError> {
        let all = self
            .calendar
            .list(now - Duration::hours(1), now + Duration::days(366))
            .await?;
        let phone = digits(phone.as_str());
        Ok(all
            .into_iter()
            .filter(|a| a.phone.as_deref().map(digits).as_ref() == Some(&phone))
            .collect())
    }
}

/// Who an appointment is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Reason.
    pub reason: Option<String>,
}

/// The digits of a phone number, for comparing numbers written differently.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    pub fn scheduler(tz: &str, dir: &std::path::Path) -> Scheduler {
        let cal = Arc::new(local::LocalCalendar::open(dir).unwrap());
        Scheduler {
            calendar: cal,
            timezone: tz.parse().unwrap(),
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            closes: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            default_minutes: 30,
            horizon_days: 90,
        }
    }

    fn at(d: (i32, u32, u32), h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(d.0, d.1, d.2)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn who(name: &str) -> Details {
        Details {
            name: name.into(),
            phone: Some("+14155550100".into()),
            ..Default::default()
        }
    }

    // Monday 2026-11-23, 08:00 in New York.
    fn monday_morning() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn the_last_slot_of_the_day_fits_and_one_past_closing_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("America/New_York", dir.path());
        let now = monday_morning();
        let last = s
            .book(at((2026, 11, 24), 16, 30), None, who("A"), now)
            .await
            .unwrap();
        assert!(matches!(last, Outcome::Done(_)));
        let late = s
            .book(at((2026, 11, 24), 16, 45), None, who("B"), now)
            .await
            .unwrap();
        assert!(
            matches!(
                late,
                Outcome::Refused {
                    refusal: Refusal::OutsideHours,
                    ..
                }
            ),
            "{late:?}"
        );
        let early = s
            .book(at((2026, 11, 24), 8, 30), None, who("B"), now)
            .await
            .unwrap();
        assert!(matches!(
            early,
            Outcome::Refused {
                refusal: Refusal::OutsideHours,
                ..
            }
        ));
        let slots = s
            .free_slots(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), 30, now)
            .await
            .unwrap();
        assert_eq!(slots.len(), 15, "16 half hours minus the booked 16:30");
        assert_eq!(
            slots.last().unwrap().time(),
            NaiveTime::from_hms_opt(16, 0, 0).unwrap()
        );
    }

    #[tokio::test]
    async fn weekends_and_the_past_are_refused_with_alternatives() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("America/New_York", dir.path());
        let now = monday_morning();
        match s
            .book(at((2026, 11, 28), 10, 0), None, who("A"), now)
            .await
            .unwrap()
        {
            Outcome::Refused {
                refusal: Refusal::Weekend,
                alternatives,
            } => {
                assert_eq!(
                    alternatives[0],
                    at((2026, 11, 30), 9, 0),
                    "next Monday at opening"
                );
            }
            other => panic!("{other:?}"),
        }
        let past = s
            .book(at((2026, 11, 20), 10, 0), None, who("A"), now)
            .await
            .unwrap();
        assert!(matches!(
            past,
            Outcome::Refused {
                refusal: Refusal::InPast,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn overlaps_are_refused_with_the_nearest_free_times() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("America/New_York", dir.path());
        let now = monday_morning();
        assert!(matches!(
            s.book(at((2026, 11, 24), 15, 0), Some(60), who("A"), now)
                .await
                .unwrap(),
            Outcome::Done(_)
        ));
        // 15:30 overlaps the 15:00-16:00 appointment.
        match s
            .book(at((2026, 11, 24), 15, 30), None, who("B"), now)
            .await
            .unwrap()
        {
            Outcome::Refused {
                refusal: Refusal::Taken,
                alternatives,
            } => {
                assert_eq!(
                    alternatives,
                    vec![
                        at((2026, 11, 24), 14, 30),
                        at((2026, 11, 24), 16, 0),
                        at((2026, 11, 24), 16, 30)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // Back to back is fine.
        assert!(matches!(
            s.book(at((2026, 11, 24), 16, 0), None, who("C"), now)
                .await
                .unwrap(),
            Outcome::Done(_)
        ));
    }

    #[tokio::test]
    async fn dst_changes_keep_local_business_hours() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("America/New_York", dir.path());
        // New York springs forward on Sunday 2027-03-14.
        let now = Utc.with_ymd_and_hms(2027, 3, 10, 12, 0, 0).unwrap();
        // Friday before: 9 AM local is 14:00 UTC (EST).
        match s
            .book(at((2027, 3, 12), 9, 0), None, who("A"), now)
            .await
            .unwrap()
        {
            Outcome::Done(a) => assert_eq!(
                a.start,
                Utc.with_ymd_and_hms(2027, 3, 12, 14, 0, 0).unwrap()
            ),
            other => panic!("{other:?}"),
        }
        // Monday after: 9 AM local is 13:00 UTC (EDT); the day still has 16 slots.
        let monday = NaiveDate::from_ymd_opt(2027, 3, 15).unwrap();
        let slots = s.free_slots(monday, 30, now).await.unwrap();
        assert_eq!(slots.len(), 16);
        match s
            .book(at((2027, 3, 15), 9, 0), None, who("B"), now)
            .await
            .unwrap()
        {
            Outcome::Done(a) => assert_eq!(
                a.start,
                Utc.with_ymd_and_hms(2027, 3, 15, 13, 0, 0).unwrap()
            ),
            other => panic!("{other:?}"),
        }
        // An appointment stored before the change reads back at the same local time.
        let listed = s
            .calendar()
            .list(
                Utc.with_ymd_and_hms(2027, 3, 12, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2027, 3, 16, 0, 0, 0).unwrap(),
            )
            .await
            .unwrap();
        let local: Vec<NaiveTime> = listed.iter().map(|a| s.to_local(a.start).time()).collect();
        assert_eq!(local, vec![NaiveTime::from_hms_opt(9, 0, 0).unwrap(); 2]);
        // The gap and the repeated hour.
        assert!(
            s.to_utc(at((2027, 3, 14), 2, 30)).is_none(),
            "02:30 does not exist"
        );
        let ambiguous = s.to_utc(at((2027, 11, 7), 1, 30)).unwrap();
        assert_eq!(
            ambiguous,
            Utc.with_ymd_and_hms(2027, 11, 7, 5, 30, 0).unwrap(),
            "the earlier 1:30"
        );
    }

    #[tokio::test]
    async fn a_time_skipped_by_a_weekday_dst_change_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = scheduler("Africa/Cairo", dir.path());
        // Egypt springs forward at midnight into the last Friday of April:
        // on Friday 2027-04-30 local times 00:00-00:59 do not exist.
        s.opens = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        s.closes = NaiveTime::from_hms_opt(23, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2027, 4, 1, 0, 0, 0).unwrap();
        match s
            .book(at((2027, 4, 30), 0, 30), None, who("A"), now)
            .await
            .unwrap()
        {
            Outcome::Refused {
                refusal,
                alternatives,
            } => {
                assert_eq!(refusal, Refusal::NonexistentTime);
                assert!(
                    alternatives
                        .iter()
                        .all(|t| t.time() >= NaiveTime::from_hms_opt(1, 0, 0).unwrap()),
                    "{alternatives:?}"
                );
                assert!(!alternatives.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let slots = s
            .free_slots(NaiveDate::from_ymd_opt(2027, 4, 30).unwrap(), 30, now)
            .await
            .unwrap();
        assert_eq!(
            slots.len(),
            44,
            "23 hours less the missing one, two slots each"
        );
    }

    #[tokio::test]
    async fn booked_from_matches_the_number_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("UTC", dir.path());
        let now = monday_morning();
        s.book(at((2026, 11, 24), 10, 0), None, who("Ada Lovelace"), now)
            .await
            .unwrap();
        let mut written_otherwise = who("Alan Turing");
        written_otherwise.phone = Some("1 (415) 555-0100".into());
        s.book(at((2026, 11, 24), 11, 0), None, written_otherwise, now)
            .await
            .unwrap();
        let mine = PhoneNumber::parse("+14155550100").unwrap();
        assert_eq!(s.booked_from(&mine, now).await.unwrap().len(), 2);
        let other = PhoneNumber::parse("+14155550199").unwrap();
        assert!(s.booked_from(&other, now).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn starts_off_the_quarter_hour_or_past_the_horizon_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = scheduler("UTC", dir.path());
        let now = monday_morning();
        let refused = |o: Outcome| match o {
            Outcome::Refused {
                refusal,
                alternatives,
            } => (refusal, alternatives),
            other => panic!("{other:?}"),
        };
        let (why, alts) = refused(
            s.book(at((2026, 11, 24), 14, 7), None, who("A"), now)
                .await
                .unwrap(),
        );
        assert_eq!(why, Refusal::OffGrid);
        assert!(alts.iter().all(|t| Scheduler::on_grid(*t)), "{alts:?}");
        let seconds = at((2026, 11, 24), 15, 0) + Duration::seconds(59);
        let (why, _) = refused(s.book(seconds, None, who("A"), now).await.unwrap());
        assert_eq!(why, Refusal::OffGrid);
        assert!(matches!(
            s.book(at((2026, 11, 24), 10, 45), None, who("A"), now)
                .await
                .unwrap(),
            Outcome::Done(_)
        ));
        // 90 days from Monday 2026-11-23 is Sunday 2027-02-21: the Friday
        // before is the last bookable weekday, the Monday after is too far.
        assert!(matches!(
            s.book(at((2027, 2, 19), 10, 0), None, who("A"), now)
                .await
                .unwrap(),
            Outcome::Done(_)
        ));
        for far in [
            at((2027, 2, 22), 10, 0),
            at((2036, 1, 7), 10, 0),
            at((9999, 1, 4), 10, 0),
        ] {
            let (why, alts) = refused(s.book(far, None, who("A"), now).await.unwrap());
            assert_eq!(why, Refusal::TooFarAhead, "{far}");
            assert!(
                alts.iter().all(|t| t.date() <= s.last_bookable_day(now)),
                "{alts:?}"
            );
        }
    }

    #[tokio::test]
    async fn free_slots_start_on_the_grid_when_the_business_opens_off_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = scheduler("UTC", dir.path());
        s.opens = NaiveTime::from_hms_opt(8, 10, 0).unwrap();
        let slots = s
            .free_slots(
                NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
                30,
                monday_morning(),
            )
            .await
            .unwrap();
        assert_eq!(slots[0].time(), NaiveTime::from_hms_opt(8, 15, 0).unwrap());
        assert!(slots.iter().all(|t| Scheduler::on_grid(*t)));
    }
}
