//! Appointment reminders: each booked appointment's reminder goes out once,
//! `REMINDER_LEAD_MINUTES` before it (or at once when that time has passed
//! already at booking), by text or by an outbound call
//! (`REMINDER_CHANNEL`).
//!
//! What is due lives in a database, not in memory — SQLite under
//! `DATA_DIR` (`reminders.db`, [`sqlite`]) or, when `DATABASE_URL` is set,
//! PostgreSQL (`frontdesk.reminders`, [`postgres`]): a booking or a move
//! (re)schedules its reminder, a cancellation drops it, and a reminder is
//! *claimed* (marked sent) in one transaction before it is sent, so neither
//! a restart nor several instances send one twice. Just before sending, the
//! appointment is looked up again: one that was cancelled or moved since
//! gets no stale reminder. The check runs every second against the
//! injected clock.

mod postgres;
mod sqlite;

use std::{path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    agent::speech,
    calendar::{Appointment, Scheduler},
    clock::Clock,
    config::ReminderChannel,
    metrics::{Delivery, Metrics},
    postgres::{PgError, Postgres},
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
    /// The SQLite database failed.
    #[error("reminder database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed or is out of reach.
    #[error("reminder database: {0}")]
    Postgres(#[from] PgError),
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
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteReminders),
    Postgres(postgres::PgReminders),
}

impl ReminderBook {
    /// Opens (or creates) `reminders.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, ReminderError> {
        Ok(Self {
            backend: Backend::Sqlite(sqlite::SqliteReminders::open(data_dir)?),
        })
    }

    /// The reminders in PostgreSQL (whose schema [`Postgres::connect`] created).
    pub fn postgres(db: Postgres) -> Self {
        Self {
            backend: Backend::Postgres(postgres::PgReminders::new(db)),
        }
    }

    /// Schedules (or reschedules, unsent) the reminder of an appointment.
    pub async fn schedule(
        &self,
        appointment_id: &str,
        phone: &PhoneNumber,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<(), ReminderError> {
        match &self.backend {
            Backend::Sqlite(b) => b.schedule(appointment_id, phone, start, due).await,
            Backend::Postgres(b) => b.schedule(appointment_id, phone, start, due).await,
        }
    }

    /// Drops the reminder of a cancelled appointment.
    pub async fn drop_for(&self, appointment_id: &str) -> Result<(), ReminderError> {
        match &self.backend {
            Backend::Sqlite(b) => b.drop_for(appointment_id).await,
            Backend::Postgres(b) => b.drop_for(appointment_id).await,
        }
    }

    /// Claims every reminder due at `now` that nobody has sent (at most 50
    /// at a time, earliest first): each is marked sent in the same
    /// transaction, so it is claimed exactly once, across restarts and
    /// instances.
    pub async fn claim_due(&self, now: DateTime<Utc>) -> Result<Vec<Due>, ReminderError> {
        match &self.backend {
            Backend::Sqlite(b) => b.claim_due(now).await,
            Backend::Postgres(b) => b.claim_due(now).await,
        }
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
