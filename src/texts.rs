//! Text confirmations: after a booking, move or cancellation, one SMS to the
//! caller's number with the business's name, the day and time in business
//! time, and how to change it.
//!
//! A text never blocks or undoes anything: it is sent from its own task a
//! moment after the change (by then the caller has heard the confirmation),
//! only to a caller with a real number, and its outcome — Twilio's message
//! id, or Twilio's error code and message (21608 trial account, 21610
//! unsubscribed, 21614 landline, …) — is logged and kept in the call's
//! session. A retried webhook replays the turn instead of running its tools
//! again, so it sends nothing twice.

use std::{sync::Arc, time::Duration};

use chrono::NaiveDateTime;

use crate::{
    agent::speech,
    clock::Clock,
    session::{SessionStore, TextRecord},
    twilio::{client::TwilioClient, number::PhoneNumber, webhook::CallSid},
};

/// How long after the change the text goes out.
const DELAY: Duration = Duration::from_secs(2);

/// What a text confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new appointment at this local time.
    Booked(NaiveDateTime),
    /// An appointment moved to this local time.
    Moved(NaiveDateTime),
    /// The appointment at this local time was cancelled.
    Cancelled(NaiveDateTime),
}

/// Sends the confirmations.
pub struct Texter {
    twilio: Arc<TwilioClient>,
    sessions: Arc<SessionStore>,
    business: String,
    delay: Duration,
    clock: Clock,
}

impl Texter {
    /// Texts through `twilio` for `business`, keeping outcomes (timed by
    /// `clock`) in `sessions`.
    pub fn new(
        twilio: Arc<TwilioClient>,
        sessions: Arc<SessionStore>,
        business: String,
        clock: Clock,
    ) -> Self {
        Self {
            twilio,
            sessions,
            business,
            delay: DELAY,
            clock,
        }
    }

    /// The text for a change.
    pub fn body(&self, change: Change, callback: Option<&str>) -> String {
        let when = |t: NaiveDateTime| speech::date_time(t.date(), t.time());
        let what = match change {
            Change::Booked(t) => format!("you're booked for {}", when(t)),
            Change::Moved(t) => format!("your appointment is moved to {}", when(t)),
            Change::Cancelled(t) => format!("your appointment on {} is cancelled", when(t)),
        };
        let change_it = match (change, callback) {
            (Change::Cancelled(_), Some(n)) => format!(" To book again, call us at {n}."),
            (_, Some(n)) => format!(" To change or cancel it, call us at {n}."),
            (Change::Cancelled(_), None) => " To book again, just call us.".to_owned(),
            (_, None) => " To change or cancel it, just call us.".to_owned(),
        };
        format!("{}: {what}.{change_it}", self.business)
    }

    /// Sends the text for `change` to `to` a moment from now, in the
    /// background, and records the outcome on the call.
    pub fn confirm(self: &Arc<Self>, call_sid: &CallSid, to: &PhoneNumber, change: Change) {
        let body = self.body(change, self.twilio.phone_number.as_deref());
        let (this, call_sid, to) = (Arc::clone(self), call_sid.clone(), to.clone());
        tokio::spawn(async move {
            tokio::time::sleep(this.delay).await;
            let record = match this.twilio.send_sms(&to, &body).await {
                Ok(sent) => {
                    tracing::info!(call_sid = %call_sid, sms = %sent.sid, "confirmation texted");
                    TextRecord {
                        at: (this.clock)(),
                        body,
                        sid: Some(sent.sid),
                        error: None,
                    }
                }
                Err(e) => {
                    let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
                    tracing::warn!(call_sid = %call_sid, error = %e, "confirmation text not sent{hint}");
                    TextRecord {
                        at: (this.clock)(),
                        body,
                        sid: None,
                        error: Some(format!("{e}{hint}")),
                    }
                }
            };
            this.sessions.record_text(&call_sid, record).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::{config::Config, session::Archive};

    #[test]
    fn texts_name_the_business_the_local_time_and_how_to_change_it() {
        let dir = tempfile::tempdir().unwrap();
        let texter = Texter::new(
            Arc::new(TwilioClient::new(&Config::defaults().twilio)),
            Arc::new(SessionStore::new(Archive::open(dir.path()).unwrap())),
            "Acme Dental".into(),
            crate::clock::system_clock(),
        );
        let t = NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_hms_opt(15, 0, 0)
            .unwrap();
        assert_eq!(
            texter.body(Change::Booked(t), Some("+14155550199")),
            "Acme Dental: you're booked for Tuesday, November 24th at 3 PM. \
             To change or cancel it, call us at +14155550199."
        );
        assert!(
            texter
                .body(Change::Cancelled(t), None)
                .contains("cancelled. To book again")
        );
    }
}
