//! A calendar that counts: wraps the configured backend and records, in
//! [`Metrics`], every booking, move and cancellation that succeeded and
//! every operation the backend failed.
//!
//! It sits between the scheduler and the backend, so whatever reaches the
//! calendar — the LLM's tools, the built-in agent, the streaming agent —
//! is counted once, where it happens. A taken time or an unknown id is an
//! answer, not a failure: only [`CalendarError::Unavailable`] counts as an
//! error.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Appointment, Busy, Calendar, CalendarError, Details, SharedCalendar};
use crate::metrics::{AppointmentChange, CalendarOp, Metrics};

/// The backend, counted.
pub struct Metered {
    inner: SharedCalendar,
    metrics: Arc<Metrics>,
}

impl Metered {
    /// Counts what `inner` does in `metrics`.
    pub fn new(inner: SharedCalendar, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count<T>(
        &self,
        op: CalendarOp,
        change: Option<AppointmentChange>,
        result: Result<T, CalendarError>,
    ) -> Result<T, CalendarError> {
        match &result {
            Ok(_) => {
                if let Some(change) = change {
                    self.metrics.appointment(change);
                }
            }
            Err(CalendarError::Unavailable(_)) => self.metrics.calendar_error(op),
            Err(CalendarError::Conflict | CalendarError::NotFound) => {}
        }
        result
    }
}

#[async_trait]
impl Calendar for Metered {
    async fn busy(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError> {
        let r = self.inner.busy(from, to).await;
        self.count(CalendarOp::Busy, None, r)
    }

    async fn book_if_free(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        who: Details,
    ) -> Result<Appointment, CalendarError> {
        let r = self.inner.book_if_free(start, end, who).await;
        self.count(CalendarOp::Book, Some(AppointmentChange::Booked), r)
    }

    async fn move_if_free(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let r = self.inner.move_if_free(id, start, end).await;
        self.count(CalendarOp::Move, Some(AppointmentChange::Moved), r)
    }

    async fn cancel(&self, id: &str) -> Result<Appointment, CalendarError> {
        let r = self.inner.cancel(id).await;
        self.count(CalendarOp::Cancel, Some(AppointmentChange::Cancelled), r)
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, CalendarError> {
        let r = self.inner.get(id).await;
        self.count(CalendarOp::Get, None, r)
    }

    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError> {
        let r = self.inner.list(from, to).await;
        self.count(CalendarOp::List, None, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local::LocalCalendar;

    /// A backend that is down.
    struct Down;

    #[async_trait]
    impl Calendar for Down {
        async fn busy(
            &self,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<Busy>, CalendarError> {
            Err(CalendarError::Unavailable("down".into()))
        }
        async fn book_if_free(
            &self,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
            _: Details,
        ) -> Result<Appointment, CalendarError> {
            Err(CalendarError::Unavailable("down".into()))
        }
        async fn move_if_free(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Appointment, CalendarError> {
            Err(CalendarError::Conflict)
        }
        async fn cancel(&self, _: &str) -> Result<Appointment, CalendarError> {
            Err(CalendarError::NotFound)
        }
        async fn get(&self, _: &str) -> Result<Option<Appointment>, CalendarError> {
            Ok(None)
        }
        async fn list(
            &self,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<Appointment>, CalendarError> {
            Ok(Vec::new())
        }
    }

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[tokio::test]
    async fn changes_that_succeed_and_backend_failures_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let cal = Metered::new(
            Arc::new(LocalCalendar::open(dir.path()).unwrap()),
            Arc::clone(&metrics),
        );
        let t = |h| {
            DateTime::parse_from_rfc3339(&format!("2026-11-23T{h:02}:00:00Z"))
                .unwrap()
                .to_utc()
        };
        let who = Details {
            name: "Ada".into(),
            phone: None,
            email: None,
            reason: None,
        };
        let a = cal.book_if_free(t(14), t(15), who.clone()).await.unwrap();
        assert!(cal.book_if_free(t(14), t(15), who).await.is_err(), "taken");
        cal.move_if_free(&a.id, t(16), t(17)).await.unwrap();
        cal.cancel(&a.id).await.unwrap();

        let down = Metered::new(Arc::new(Down), Arc::clone(&metrics));
        assert!(down.busy(t(9), t(10)).await.is_err());
        assert!(down.move_if_free("x", t(9), t(10)).await.is_err());
        assert!(down.cancel("x").await.is_err());

        let text = metrics.encode(0);
        for line in [
            r#"frontdesk_appointment_changes_total{change="booked"} 1"#,
            r#"frontdesk_appointment_changes_total{change="moved"} 1"#,
            r#"frontdesk_appointment_changes_total{change="cancelled"} 1"#,
            r#"frontdesk_calendar_errors_total{operation="busy"} 1"#,
            // A taken time and an unknown id are answers, not failures.
            r#"frontdesk_calendar_errors_total{operation="book"} 0"#,
            r#"frontdesk_calendar_errors_total{operation="move"} 0"#,
            r#"frontdesk_calendar_errors_total{operation="cancel"} 0"#,
        ] {
            assert!(has(&text, line), "{line} in\n{text}");
        }
    }
}
