//! Appointment reminders: each booked appointment's reminder goes out once,
//! `REMINDER_LEAD_MINUTES` before it (or at once when that time has passed
//! already at booking), by text or by an outbound call
//! (`REMINDER_CHANNEL`).
//!
//! What is due lives in SQLite under `DATA_DIR` (`reminders.db`), not in
//! memory: a booking or a move (re)schedules its reminder, a cancellation
//! drops it, and a reminder is *claimed* in one `BEGIN IMMEDIATE`
//! transaction before it is sent, so neither a restart nor several
//! instances sharing the file send one twice. Just before sending, the
//! appointment is looked up again: one that was cancelled or moved since
//! gets no stale reminder. The check runs every second against the
//! injected clock.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::{
    agent::speech,
    calendar::{Appointment, Scheduler},
    clock::Clock,
    config::ReminderChannel,
    metrics::{Delivery, Metrics},
    session::SessionStore,
    twilio::{
        client::{NewCall, TwilioClient},
        number::PhoneNumber,
        webhook::CallSid,
    },
};

/// How often due reminders are looked for.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What can go wrong with the reminder book.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// The database failed.
    #[error("reminder database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("DATA_DIR {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The blocking task failed.
    #[error("reminder task: {0}")]
    Task(String),
}

/// A reminder that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The appointment it is for.
    pub appointment_id: String,
    /// Where it goes.
    pub phone: String,
    /// The appointment's start when the reminder was scheduled.
    pub start: DateTime<Utc>,
}

/// The reminders to send, durable.
#[derive(Clone)]
pub struct ReminderBook {
    conn: Arc<Mutex<Connection>>,
}

impl ReminderBook {
    /// Opens (or creates) `reminders.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, ReminderError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ReminderError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("reminders.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS reminders (
                appointment_id TEXT PRIMARY KEY,
                phone          TEXT NOT NULL,
                start_utc      INTEGER NOT NULL,
                due_utc        INTEGER NOT NULL,
                sent_at        INTEGER
            );
            CREATE INDEX IF NOT EXISTS reminders_due ON reminders (sent_at, due_utc);",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, ReminderError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| ReminderError::Task(e.to_string()))?
        .map_err(ReminderError::from)
    }

    /// Schedules (or reschedules, unsent) the reminder of an appointment.
    pub async fn schedule(
        &self,
        appointment_id: &str,
        phone: &PhoneNumber,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<(), ReminderError> {
        let (id, phone) = (appointment_id.to_owned(), phone.to_string());
        let (start, due) = (start.timestamp(), due.timestamp());
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO reminders (appointment_id, phone, start_utc, due_utc, sent_at)
                 VALUES (?1, ?2, ?3, ?4, NULL)
                 ON CONFLICT (appointment_id) DO UPDATE SET
                   phone = excluded.phone, start_utc = excluded.start_utc,
                   due_utc = excluded.due_utc, sent_at = NULL",
                params![id, phone, start, due],
            )
            .map(|_| ())
        })
        .await
    }

    /// Drops the reminder of a cancelled appointment.
    pub async fn drop_for(&self, appointment_id: &str) -> Result<(), ReminderError> {
        let id = appointment_id.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM reminders WHERE appointment_id = ?1",
                params![id],
            )
            .map(|_| ())
        })
        .await
    }

    /// Claims every reminder due at `now` that nobody has sent: each is
    /// marked sent in the same transaction, so it is claimed exactly once.
    pub async fn claim_due(&self, now: DateTime<Utc>) -> Result<Vec<Due>, ReminderError> {
        let now = now.timestamp();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<Due> = {
                let mut stmt = tx.prepare(
                    "SELECT appointment_id, phone, start_utc FROM reminders
                     WHERE sent_at IS NULL AND due_utc <= ?1 ORDER BY due_utc LIMIT 50",
                )?;
                stmt.query_map(params![now], |row| {
                    Ok(Due {
                        appointment_id: row.get(0)?,
                        phone: row.get(1)?,
                        start: DateTime::from_timestamp(row.get(2)?, 0).unwrap_or_default(),
                    })
                })?
                .collect::<Result<_, _>>()?
            };
            for d in &due {
                tx.execute(
                    "UPDATE reminders SET sent_at = ?1 WHERE appointment_id = ?2",
                    params![now, d.appointment_id],
                )?;
            }
            tx.commit()?;
            Ok(due)
        })
        .await
    }
}

/// Sends the reminders that are due.
pub struct Reminders {
    /// What is due.
    pub book: ReminderBook,
    /// How long before an appointment its reminder goes out.
    pub lead: chrono::Duration,
    /// Text or call.
    pub channel: ReminderChannel,
    /// To check appointments are still as booked, and to speak times.
    pub scheduler: Scheduler,
    /// Texts and calls.
    pub twilio: Arc<TwilioClient>,
    /// Where reminder calls are registered.
    pub sessions: Arc<SessionStore>,
    /// The business's name.
    pub business: String,
    /// Absolute URLs for reminder calls: the outbound webhook and the status callback.
    pub call_urls: (String, String),
    /// Where reminders sent and failed are counted.
    pub metrics: Arc<Metrics>,
}

impl Reminders {
    /// Schedules the reminder of a booked or moved appointment.
    pub async fn schedule(&self, a: &Appointment, phone: &PhoneNumber) {
        let due = a.start - self.lead;
        if let Err(e) = self.book.schedule(&a.id, phone, a.start, due).await {
            tracing::error!(error = %e, "could not schedule a reminder");
        }
    }

    /// Drops the reminder of a cancelled appointment.
    pub async fn cancel(&self, a: &Appointment) {
        if let Err(e) = self.book.drop_for(&a.id).await {
            tracing::error!(error = %e, "could not drop a reminder");
        }
    }

    /// What the reminder says.
    pub fn words(&self, a: &Appointment) -> String {
        let local = self.scheduler.to_local(a.start);
        let first = a.name.split_whitespace().next().unwrap_or("there");
        format!(
            "Hi {first}, this is {} reminding you of your appointment on {}.",
            self.business,
            speech::date_time(local.date(), local.time())
        )
    }

    /// Sends every reminder due at `now`; returns how many went out.
    pub async fn run_due(&self, now: DateTime<Utc>) -> usize {
        let due = match self.book.claim_due(now).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "could not read due reminders");
                return 0;
            }
        };
        let mut sent = 0;
        for d in due {
            // No stale reminder: the appointment must still be there, as booked.
            let current = match self.scheduler.calendar().get(&d.appointment_id).await {
                Ok(Some(a)) if a.start == d.start && a.start > now => a,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "calendar unavailable for a reminder; skipped");
                    continue;
                }
            };
            let Ok(to) = PhoneNumber::parse(&d.phone) else {
                continue;
            };
            if self.send(&current, &to).await {
                sent += 1;
                self.metrics.reminder(Delivery::Sent);
            } else {
                self.metrics.reminder(Delivery::Failed);
            }
        }
        sent
    }

    async fn send(&self, a: &Appointment, to: &PhoneNumber) -> bool {
        let words = self.words(a);
        match self.channel {
            ReminderChannel::Sms => {
                let callback = self
                    .twilio
                    .phone_number
                    .as_deref()
                    .map(|n| format!(" To move or cancel it, call us at {n}."))
                    .unwrap_or_default();
                match self
                    .twilio
                    .send_sms(to, &format!("{words}{callback}"))
                    .await
                {
                    Ok(m) => {
                        tracing::info!(sms = %m.sid, "reminder texted");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reminder text not sent");
                        false
                    }
                }
            }
            ReminderChannel::Call => {
                let Some(from) = self
                    .twilio
                    .phone_number
                    .as_deref()
                    .and_then(|n| PhoneNumber::parse(n).ok())
                else {
                    tracing::warn!("reminder call not placed: TWILIO_PHONE_NUMBER is not set");
                    return false;
                };
                let call = NewCall {
                    to: to.clone(),
                    from: from.clone(),
                    url: self.call_urls.0.clone(),
                    status_callback: self.call_urls.1.clone(),
                    machine_detection: true,
                };
                match self.twilio.create_call(&call).await {
                    Ok(placed) => {
                        let Ok(sid) = CallSid::parse(&placed.sid) else {
                            return false;
                        };
                        let greeting =
                            format!("{words} Would you like to keep it, move it or cancel it?");
                        self.sessions
                            .begin_outbound(&sid, from.as_str(), to.as_str(), Some(greeting), false)
                            .await;
                        tracing::info!(call_sid = %sid, "reminder call placed");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reminder call not placed");
                        false
                    }
                }
            }
        }
    }

    /// Checks for due reminders every [`CHECK_EVERY`] until dropped.
    pub async fn run(self: Arc<Self>, clock: Clock) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.run_due(clock()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test]
    async fn a_due_reminder_is_claimed_once_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let book = ReminderBook::open(dir.path()).unwrap();
        let phone = PhoneNumber::parse("+14155550100").unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap();
        book.schedule("a1", &phone, at(15), at(14)).await.unwrap();
        book.schedule("a2", &phone, at(16), at(15)).await.unwrap();
        book.schedule("a3", &phone, at(17), at(12)).await.unwrap();
        book.drop_for("a3").await.unwrap();
        assert!(book.claim_due(at(13)).await.unwrap().is_empty());
        let due = book.claim_due(at(14)).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].appointment_id, "a1");
        assert!(book.claim_due(at(14)).await.unwrap().is_empty(), "once");
        drop(book);
        let again = ReminderBook::open(dir.path()).unwrap();
        let due = again.claim_due(at(16)).await.unwrap();
        let ids: Vec<&str> = due.iter().map(|d| d.appointment_id.as_str()).collect();
        assert_eq!(
            ids,
            ["a2"],
            "a1 was sent before the restart, a3 was dropped"
        );
        // A move reschedules, unsent.
        again.schedule("a1", &phone, at(18), at(17)).await.unwrap();
        assert_eq!(again.claim_due(at(17)).await.unwrap().len(), 1);
    }
}
