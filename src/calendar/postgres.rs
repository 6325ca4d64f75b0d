//! The built-in calendar in PostgreSQL (`DATABASE_URL`), shared by every
//! instance: table `frontdesk.appointments`.
//!
//! Atomicity: the database, not this code, forbids double booking. The
//! table carries an exclusion constraint over each live appointment's time
//! range (`tstzrange(start_at, end_at, '[)') WITH &&`, cancelled rows
//! ignored), so of any number of instances racing for one slot exactly one
//! insert (or move) succeeds; the others get SQLSTATE 23P01, which is
//! [`CalendarError::Conflict`]. No check-then-insert window exists.
//!
//! Left alone, racing inserts deadlock inside the constraint check (each
//! waits for the other's transaction, and the server takes a second to
//! notice and abort one). So each booking or move first takes a
//! transaction-scoped advisory lock on every UTC day its range touches, in
//! ascending order, in the same statement: bookings that could overlap
//! share a day and queue instead of deadlocking, other days are not held
//! up. The lock only orders the racers; the constraint still decides. A
//! deadlock that happens anyway (ranges over a month long, which the
//! scheduler never makes) is retried.
//!
//! Durability: each booking, move and cancellation is one statement,
//! committed before the method returns, so the caller is told only about
//! what is on the server. A database that is down or slow is
//! [`CalendarError::Unavailable`] within [`crate::postgres::QUERY_TIMEOUT`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::{Row, error::SqlState};

use super::{Appointment, Busy, Calendar, CalendarError, Details};
use crate::postgres::{PgError, Postgres};

/// The built-in calendar, in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgCalendar {
    db: Postgres,
}

impl PgCalendar {
    /// The calendar in `db` (whose schema [`Postgres::connect`] created).
    pub fn new(db: Postgres) -> Self {
        Self { db }
    }
}

fn db_err(e: PgError) -> CalendarError {
    CalendarError::Unavailable(format!("calendar database: {e}"))
}

/// How often a change the server aborted as a deadlock victim is retried.
const DEADLOCK_RETRIES: usize = 5;

/// The first key of the per-day booking locks (`pg_advisory_xact_lock(int,
/// int)`), so they meet no other lock of the database.
const DAY_LOCKS: i32 = 0x6664_0001;

/// At most this many days are locked for one range.
const MAX_LOCKED_DAYS: i64 = 31;

/// The UTC days (days since 1970-01-01) that `[start, end)` touches.
fn days(start: DateTime<Utc>, end: DateTime<Utc>) -> (i32, i32) {
    let first = start.timestamp().div_euclid(86_400);
    let last = (end.timestamp() - 1)
        .div_euclid(86_400)
        .clamp(first, first + MAX_LOCKED_DAYS - 1);
    let day = |d: i64| i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX });
    (day(first), day(last))
}

/// The locks taken before a change, as a `locked` CTE of one row: the
/// parameters `$first` and `$last` are the first and last day from [`days`].
fn lock_days(first: u8, last: u8) -> String {
    format!(
        "WITH locked AS (
             SELECT count(pg_advisory_xact_lock({DAY_LOCKS}, d)) AS days
             FROM generate_series(${first}::int, ${last}::int) AS d)"
    )
}

/// What a failed change means: an overlap is an answer, not a failure.
fn change_err(e: PgError) -> CalendarError {
    if e.is(&SqlState::EXCLUSION_VIOLATION) {
        CalendarError::Conflict
    } else {
        db_err(e)
    }
}

const COLUMNS: &str = "id, start_at, end_at, name, phone, email, reason";

fn to_appointment(row: &Row) -> Appointment {
    Appointment {
        id: row.get("id"),
        start: row.get("start_at"),
        end: row.get("end_at"),
        name: row.get("name"),
        phone: row.get("phone"),
        email: row.get("email"),
        reason: row.get("reason"),
    }
}

/// A new appointment id: random, so instances never collide.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: the time and a counter are still unique here, and
        // the primary key refuses a clash rather than overwriting.
        let t = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes = t.to_be_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("apt-{hex}")
}

#[async_trait]
impl Calendar for PgCalendar {
    async fn busy(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError> {
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(
                        "SELECT start_at, end_at FROM frontdesk.appointments
                         WHERE NOT cancelled AND start_at < $2 AND $1 < end_at
                         ORDER BY start_at",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&from, &to]).await?;
                Ok(rows
                    .iter()
                    .map(|r| Busy {
                        start: r.get(0),
                        end: r.get(1),
                    })
                    .collect())
            })
            .await
            .map_err(db_err)
    }

    async fn book_if_free(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        who: Details,
    ) -> Result<Appointment, CalendarError> {
        let id = new_id();
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "{}
                         INSERT INTO frontdesk.appointments (id, start_at, end_at, name, phone, email, reason)
                         SELECT $1, $2, $3, $4, $5, $6, $7 FROM locked RETURNING {COLUMNS}",
                        lock_days(8, 9)
                    ))
                    .await?;
                let (first, last) = days(start, end);
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                    &id, &start, &end, &who.name, &who.phone, &who.email, &who.reason, &first, &last,
                ];
                let mut attempt = 0;
                loop {
                    match c.query_one(&stmt, &params).await.map_err(PgError::from) {
                        Err(e) if e.is(&SqlState::T_R_DEADLOCK_DETECTED) && attempt < DEADLOCK_RETRIES => {
                            attempt += 1;
                        }
                        other => return other.map(|row| to_appointment(&row)),
                    }
                }
            })
            .await
            .map_err(change_err)
    }

    async fn move_if_free(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let row = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "{}
                         UPDATE frontdesk.appointments SET start_at = $2, end_at = $3
                         FROM locked
                         WHERE id = $1 AND NOT cancelled
                         RETURNING {COLUMNS}",
                        lock_days(4, 5)
                    ))
                    .await?;
                let (first, last) = days(start, end);
                let mut attempt = 0;
                loop {
                    match c
                        .query_opt(&stmt, &[&id, &start, &end, &first, &last])
                        .await
                        .map_err(PgError::from)
                    {
                        Err(e)
                            if e.is(&SqlState::T_R_DEADLOCK_DETECTED)
                                && attempt < DEADLOCK_RETRIES =>
                        {
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            })
            .await
            .map_err(change_err)?;
        row.map(|r| to_appointment(&r))
            .ok_or(CalendarError::NotFound)
    }

    async fn cancel(&self, id: &str) -> Result<Appointment, CalendarError> {
        let row = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "UPDATE frontdesk.appointments SET cancelled = true
                         WHERE id = $1 AND NOT cancelled RETURNING {COLUMNS}"
                    ))
                    .await?;
                Ok(c.query_opt(&stmt, &[&id]).await?)
            })
            .await
            .map_err(db_err)?;
        row.map(|r| to_appointment(&r))
            .ok_or(CalendarError::NotFound)
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, CalendarError> {
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM frontdesk.appointments WHERE id = $1 AND NOT cancelled"
                    ))
                    .await?;
                Ok(c.query_opt(&stmt, &[&id]).await?.map(|r| to_appointment(&r)))
            })
            .await
            .map_err(db_err)
    }

    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError> {
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM frontdesk.appointments
                         WHERE NOT cancelled AND start_at >= $1 AND start_at < $2
                         ORDER BY start_at"
                    ))
                    .await?;
                let rows = c.query(&stmt, &[&from, &to]).await?;
                Ok(rows.iter().map(to_appointment).collect())
            })
            .await
            .map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_range_locks_the_utc_days_it_touches() {
        let t = |d, h| Utc.with_ymd_and_hms(2030, 1, d, h, 0, 0).unwrap();
        let jan7 = i32::try_from(t(7, 0).timestamp() / 86_400).unwrap();
        assert_eq!(days(t(7, 9), t(7, 10)), (jan7, jan7));
        assert_eq!(
            days(t(7, 23), t(8, 0)),
            (jan7, jan7),
            "the end is exclusive"
        );
        assert_eq!(days(t(7, 23), t(8, 1)), (jan7, jan7 + 1));
        assert_eq!(
            days(t(1, 0), t(1, 0) + chrono::Duration::days(400)).1 - days(t(1, 0), t(2, 0)).0,
            30
        );
    }

    #[test]
    fn ids_are_distinct_and_look_like_the_built_in_ones() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(a.starts_with("apt-") && a.len() == 20, "{a}");
    }
}
