//! The call log in PostgreSQL (`DATABASE_URL`): table `frontdesk.call_log`,
//! shared by every instance.
//!
//! Each ended call is one row: the session as JSON text (exactly as serde
//! wrote it), plus the columns the log is searched by (start, end, the two
//! numbers). A row is committed before `save` returns.

use tokio_postgres::Row;

use super::{ArchiveError, Search};
use crate::{
    postgres::{PgError, Postgres},
    session::Session,
};

/// The call log in PostgreSQL.
#[derive(Clone, Debug)]
pub(super) struct PgArchive {
    db: Postgres,
}

fn sessions(rows: &[Row]) -> Result<Vec<Session>, ArchiveError> {
    rows.iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(ArchiveError::from))
        .collect()
}

impl PgArchive {
    pub(super) fn new(db: Postgres) -> Self {
        Self { db }
    }

    pub(super) async fn save(&self, session: &Session) -> Result<(), ArchiveError> {
        let record = serde_json::to_string(session)?;
        let ended_at = session.ended_at.unwrap_or_else(chrono::Utc::now);
        self.db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO frontdesk.call_log
                             (call_sid, started_at, ended_at, from_number, to_number, record)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (call_sid) DO UPDATE SET
                             started_at = excluded.started_at, ended_at = excluded.ended_at,
                             from_number = excluded.from_number, to_number = excluded.to_number,
                             record = excluded.record",
                    )
                    .await?;
                c.execute(
                    &stmt,
                    &[
                        &session.call_sid.as_str(),
                        &session.started_at,
                        &ended_at,
                        &session.from,
                        &session.to,
                        &record,
                    ],
                )
                .await?;
                Ok::<_, PgError>(())
            })
            .await?;
        Ok(())
    }

    pub(super) async fn load(&self, call_sid: &str) -> Result<Option<Session>, ArchiveError> {
        let row = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached("SELECT record FROM frontdesk.call_log WHERE call_sid = $1")
                    .await?;
                Ok(c.query_opt(&stmt, &[&call_sid]).await?)
            })
            .await?;
        Ok(row
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)))
            .transpose()?)
    }

    pub(super) async fn search(&self, search: &Search) -> Result<Vec<Session>, ArchiveError> {
        let limit = i64::from(search.limit);
        let rows = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                // The numbers are E.164 (`+` and digits): the digits searched
                // for may be any part of either, found as plain text.
                let stmt = c
                    .prepare_cached(
                        "SELECT record FROM frontdesk.call_log
                         WHERE ($1::text IS NULL
                                OR strpos(replace(coalesce(from_number, ''), '+', ''), $1) > 0
                                OR strpos(replace(coalesce(to_number, ''), '+', ''), $1) > 0)
                           AND ($2::timestamptz IS NULL OR started_at >= $2)
                           AND ($3::timestamptz IS NULL OR started_at < $3)
                         ORDER BY ended_at DESC LIMIT $4",
                    )
                    .await?;
                Ok(c.query(
                    &stmt,
                    &[
                        &search.digits,
                        &search.started_from,
                        &search.started_before,
                        &limit,
                    ],
                )
                .await?)
            })
            .await?;
        sessions(&rows)
    }

    pub(super) async fn recent(&self, limit: u32) -> Result<Vec<Session>, ArchiveError> {
        let limit = i64::from(limit);
        let rows = self
            .db
            .timed(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached(
                        "SELECT record FROM frontdesk.call_log ORDER BY ended_at DESC LIMIT $1",
                    )
                    .await?;
                Ok(c.query(&stmt, &[&limit]).await?)
            })
            .await?;
        sessions(&rows)
    }
}
