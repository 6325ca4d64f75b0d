//! Messages in PostgreSQL (`DATABASE_URL`): table `frontdesk.messages`,
//! shared by every instance. A message is committed before `take` returns.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Message, MessageError, NewMessage};
use crate::postgres::Postgres;

/// The messages taken, in PostgreSQL.
#[derive(Clone, Debug)]
pub(super) struct PgMessages {
    db: Postgres,
}

const COLUMNS: &str = "id, taken_at, call_sid, caller_number, name, message, callback_number";

fn to_message(row: &Row) -> Message {
    Message {
        id: row.get("id"),
        taken_at: row.get("taken_at"),
        call_sid: row.get("call_sid"),
        caller_number: row.get("caller_number"),
        name: row.get("name"),
        message: row.get("message"),
        callback_number: row.get("callback_number"),
    }
}

impl PgMessages {
    pub(super) fn new(db: Postgres) -> Self {
        Self { db }
    }

    pub(super) async fn take(
        &self,
        m: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Message, MessageError> {
        let row = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "INSERT INTO frontdesk.messages
                             (taken_at, call_sid, caller_number, name, message, callback_number)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                    ))
                    .await?;
                Ok(c.query_one(
                    &stmt,
                    &[
                        &now,
                        &m.call_sid,
                        &m.caller_number,
                        &m.name,
                        &m.message,
                        &m.callback_number,
                    ],
                )
                .await?)
            })
            .await?;
        Ok(to_message(&row))
    }

    pub(super) async fn list(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<Message>, MessageError> {
        let limit = i64::from(limit);
        let rows = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM frontdesk.messages
                         WHERE ($1::timestamptz IS NULL OR taken_at >= $1)
                           AND ($2::timestamptz IS NULL OR taken_at < $2)
                         ORDER BY taken_at DESC, id DESC LIMIT $3"
                    ))
                    .await?;
                Ok(c.query(&stmt, &[&from, &to, &limit]).await?)
            })
            .await?;
        Ok(rows.iter().map(to_message).collect())
    }
}
