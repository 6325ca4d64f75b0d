//! Reminders in PostgreSQL (`DATABASE_URL`): table `frontdesk.reminders`,
//! shared by every instance.
//!
//! A claim is one statement: it picks the due, unsent rows with
//! `FOR UPDATE SKIP LOCKED` and marks them sent, so instances checking at
//! the same moment each take different reminders and none is sent twice.

use chrono::{DateTime, Utc};

use super::{Due, ReminderError};
use crate::{
    postgres::{PgError, Postgres},
    twilio::number::PhoneNumber,
};

/// The reminders to send, in PostgreSQL.
#[derive(Clone, Debug)]
pub(super) struct PgReminders {
    db: Postgres,
}

impl PgReminders {
    pub(super) fn new(db: Postgres) -> Self {
        Self { db }
    }

    pub(super) async fn schedule(
        &self,
        appointment_id: &str,
        phone: &PhoneNumber,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<(), ReminderError> {
        let phone = phone.to_string();
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO frontdesk.reminders (appointment_id, phone, start_at, due_at, sent_at)
                         VALUES ($1, $2, $3, $4, NULL)
                         ON CONFLICT (appointment_id) DO UPDATE SET
                             phone = excluded.phone, start_at = excluded.start_at,
                             due_at = excluded.due_at, sent_at = NULL",
                    )
                    .await?;
                c.execute(&stmt, &[&appointment_id, &phone, &start, &due])
                    .await?;
                Ok::<_, PgError>(())
            })
            .await?;
        Ok(())
    }

    pub(super) async fn drop_for(&self, appointment_id: &str) -> Result<(), ReminderError> {
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached("DELETE FROM frontdesk.reminders WHERE appointment_id = $1")
                    .await?;
                c.execute(&stmt, &[&appointment_id]).await?;
                Ok::<_, PgError>(())
            })
            .await?;
        Ok(())
    }

    pub(super) async fn claim_due(&self, now: DateTime<Utc>) -> Result<Vec<Due>, ReminderError> {
        let rows = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(
                        "UPDATE frontdesk.reminders SET sent_at = $1
                         WHERE appointment_id IN (
                             SELECT appointment_id FROM frontdesk.reminders
                             WHERE sent_at IS NULL AND due_at <= $1
                             ORDER BY due_at LIMIT 50
                             FOR UPDATE SKIP LOCKED)
                         RETURNING appointment_id, phone, start_at, due_at",
                    )
                    .await?;
                Ok(c.query(&stmt, &[&now]).await?)
            })
            .await?;
        let mut due: Vec<(DateTime<Utc>, Due)> = rows
            .iter()
            .map(|r| {
                (
                    r.get("due_at"),
                    Due {
                        appointment_id: r.get("appointment_id"),
                        phone: r.get("phone"),
                        start: r.get("start_at"),
                    },
                )
            })
            .collect();
        due.sort_by_key(|d| d.0);
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }
}
