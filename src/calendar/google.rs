//! Google Calendar, through `google-calendar3`.
//!
//! Credentials come from `GOOGLE_APPLICATION_CREDENTIALS`: a service-account
//! key (`"type": "service_account"`), or an OAuth client file (`installed`
//! or `web`) whose user consent is asked once at start and cached under
//! `DATA_DIR` (`google-token.json`). The appointment id is the event id.
//!
//! Availability comes from `freebusy.query`; bookings are `events.insert`,
//! moves `events.patch`, cancels `events.delete`. Google has no
//! check-and-insert, so bookings through this server are serialised by a
//! lock, checked against the calendar right before inserting, and checked
//! again right after: if another writer slipped an overlapping event in
//! meanwhile, the later-created event is removed, so one booking wins.
//!
//! A service account cannot invite attendees without domain-wide
//! delegation (Google answers 403 `forbiddenForServiceAccounts`), so with
//! one the caller's email goes into the description instead; with user
//! credentials the caller is invited. Every call has a timeout, and Google's
//! errors become [`CalendarError`]s, which the tools turn into results the
//! agent can say.

use std::{collections::HashMap, path::Path, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use google_calendar3::{
    CalendarHub,
    api::{
        Event, EventAttendee, EventDateTime, EventExtendedProperties, FreeBusyRequest,
        FreeBusyRequestItem, Scope,
    },
    hyper_rustls, hyper_util, yup_oauth2,
};

use super::{Appointment, Busy, Calendar, CalendarError, Details};

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// How long one Google request may take.
const TIMEOUT: Duration = Duration::from_secs(6);

fn http_client<B>() -> Result<hyper_util::client::legacy::Client<Connector, B>, CalendarError>
where
    B: google_calendar3::hyper::body::Body + Send,
    B::Data: Send,
{
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| CalendarError::Unavailable(format!("no TLS root certificates: {e}")))?
        // http only for a local fake; Google itself is always https.
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

/// Google Calendar as the appointment store.
pub struct GoogleCalendar {
    hub: CalendarHub<Connector>,
    calendar_id: String,
    timezone: String,
    invite_attendees: bool,
    write_lock: tokio::sync::Mutex<()>,
}

fn unavailable(e: impl std::fmt::Display) -> CalendarError {
    CalendarError::Unavailable(format!("Google Calendar: {e}"))
}

/// Maps a Google error; 404 and 410 mean the event is gone.
fn google_error(e: google_calendar3::Error) -> CalendarError {
    use google_calendar3::Error;
    match &e {
        Error::BadRequest(v) => {
            let code = v["error"]["code"].as_u64().unwrap_or_default();
            if code == 404 || code == 410 {
                return CalendarError::NotFound;
            }
            let message = v["error"]["message"].as_str().unwrap_or("request refused");
            unavailable(format!("{code} {message}"))
        }
        Error::Failure(resp) => {
            let status = resp.status();
            if status == 404 || status == 410 {
                return CalendarError::NotFound;
            }
            unavailable(format!("HTTP {status}"))
        }
        _ => unavailable(e),
    }
}

async fn timed<T>(
    fut: impl Future<Output = google_calendar3::Result<T>>,
) -> Result<T, CalendarError> {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(google_error(e)),
        Err(_) => Err(unavailable("no answer in time")),
    }
}

const PROP_NAME: &str = "frontdesk_name";
const PROP_PHONE: &str = "frontdesk_phone";
const PROP_EMAIL: &str = "frontdesk_email";
const PROP_REASON: &str = "frontdesk_reason";

impl GoogleCalendar {
    /// Connects with the credentials file; `base_url` overrides Google's
    /// (for a local fake), and `token_cache` is where user consent is kept.
    pub async fn connect(
        credentials: &Path,
        calendar_id: &str,
        timezone: &str,
        base_url: Option<&str>,
        token_cache: &Path,
    ) -> Result<Self, CalendarError> {
        let raw = tokio::fs::read_to_string(credentials).await.map_err(|e| {
            CalendarError::Unavailable(format!(
                "GOOGLE_APPLICATION_CREDENTIALS {}: {e}",
                credentials.display()
            ))
        })?;
        let json: serde_json::Value = serde_json::from_str(&raw).map_err(|e| {
            CalendarError::Unavailable(format!("GOOGLE_APPLICATION_CREDENTIALS is not JSON: {e}"))
        })?;
        let client = yup_oauth2::client::CustomHyperClientBuilder::from(http_client()?);
        let (hub, invite_attendees) = if json["type"] == "service_account" {
            let key = yup_oauth2::parse_service_account_key(&raw)
                .map_err(|e| CalendarError::Unavailable(format!("service-account key: {e}")))?;
            let auth = yup_oauth2::ServiceAccountAuthenticator::with_client(key, client)
                .build()
                .await
                .map_err(|e| CalendarError::Unavailable(format!("service account: {e}")))?;
            (CalendarHub::new(http_client()?, auth), false)
        } else if json.get("installed").is_some() || json.get("web").is_some() {
            let secret = yup_oauth2::parse_application_secret(&raw)
                .map_err(|e| CalendarError::Unavailable(format!("OAuth client file: {e}")))?;
            let auth = yup_oauth2::InstalledFlowAuthenticator::with_client(
                secret,
                yup_oauth2::InstalledFlowReturnMethod::HTTPRedirect,
                client,
            )
            .persist_tokens_to_disk(token_cache.to_path_buf())
            .build()
            .await
            .map_err(|e| CalendarError::Unavailable(format!("OAuth: {e}")))?;
            // Ask for consent now, at start, rather than in the middle of a call.
            auth.token(&[Scope::Full.as_ref()])
                .await
                .map_err(|e| CalendarError::Unavailable(format!("OAuth consent: {e}")))?;
            (CalendarHub::new(http_client()?, auth), true)
        } else {
            return Err(CalendarError::Unavailable(
                "GOOGLE_APPLICATION_CREDENTIALS must be a service-account key or an OAuth client file"
                    .into(),
            ));
        };
        let mut hub = hub;
        if let Some(base) = base_url {
            let base = format!("{}/", base.trim_end_matches('/'));
            hub.base_url(base.clone());
            hub.root_url(base);
        }
        Ok(Self {
            hub,
            calendar_id: calendar_id.to_owned(),
            timezone: timezone.to_owned(),
            invite_attendees,
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn to_appointment(&self, e: &Event) -> Option<Appointment> {
        if e.status.as_deref() == Some("cancelled") {
            return None;
        }
        let props = e
            .extended_properties
            .as_ref()
            .and_then(|p| p.private.clone())
            .unwrap_or_default();
        let get = |k: &str| props.get(k).cloned().filter(|v| !v.is_empty());
        Some(Appointment {
            id: e.id.clone()?,
            start: e.start.as_ref()?.date_time?,
            end: e.end.as_ref()?.date_time?,
            name: get(PROP_NAME)
                .or_else(|| e.summary.clone())
                .unwrap_or_default(),
            phone: get(PROP_PHONE),
            email: get(PROP_EMAIL),
            reason: get(PROP_REASON),
        })
    }

    fn when(&self, t: DateTime<Utc>) -> EventDateTime {
        EventDateTime {
            date_time: Some(t),
            time_zone: Some(self.timezone.clone()),
            ..Default::default()
        }
    }

    /// Events overlapping `[from, to)`, as Google has them.
    async fn events_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>, CalendarError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut call = self
                .hub
                .events()
                .list(&self.calendar_id)
                .time_min(from)
                .time_max(to)
                .single_events(true)
                .order_by("startTime")
                .max_results(250)
                .add_scope(Scope::Full);
            if let Some(p) = &page {
                call = call.page_token(p);
            }
            let (_, events) = timed(call.doit()).await?;
            out.extend(events.items.unwrap_or_default());
            match events.next_page_token {
                Some(p) if !p.is_empty() => page = Some(p),
                _ => return Ok(out),
            }
        }
    }

    async fn overlapping(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        except: Option<&str>,
    ) -> Result<Vec<Event>, CalendarError> {
        Ok(self
            .events_between(start, end)
            .await?
            .into_iter()
            .filter(|e| {
                e.status.as_deref() != Some("cancelled")
                    && e.transparency.as_deref() != Some("transparent")
            })
            .filter(|e| except.is_none_or(|x| e.id.as_deref() != Some(x)))
            .filter(|e| {
                let s = e.start.as_ref().and_then(|d| d.date_time);
                let t = e.end.as_ref().and_then(|d| d.date_time);
                // All-day events (no date_time) block the day too.
                match (s, t) {
                    (Some(s), Some(t)) => s < end && start < t,
                    _ => true,
                }
            })
            .collect())
    }
}

#[async_trait]
impl Calendar for GoogleCalendar {
    async fn busy(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError> {
        let req = FreeBusyRequest {
            time_min: Some(from),
            time_max: Some(to),
            items: Some(vec![FreeBusyRequestItem {
                id: Some(self.calendar_id.clone()),
            }]),
            ..Default::default()
        };
        let (_, resp) = timed(self.hub.freebusy().query(req).add_scope(Scope::Full).doit()).await?;
        let calendars = resp.calendars.unwrap_or_default();
        let Some(cal) = calendars.get(&self.calendar_id) else {
            return Err(unavailable(format!(
                "no free/busy answer for calendar {}",
                self.calendar_id
            )));
        };
        if let Some(err) = cal.errors.as_ref().and_then(|e| e.first()) {
            // An inaccessible calendar is an error, never "free".
            return Err(unavailable(format!(
                "calendar {}: {}",
                self.calendar_id,
                err.reason.as_deref().unwrap_or("error")
            )));
        }
        Ok(cal
            .busy
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(Busy {
                    start: p.start?,
                    end: p.end?,
                })
            })
            .collect())
    }

    async fn book_if_free(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        who: Details,
    ) -> Result<Appointment, CalendarError> {
        let _guard = self.write_lock.lock().await;
        if !self.overlapping(start, end, None).await?.is_empty() {
            return Err(CalendarError::Conflict);
        }
        let mut props = HashMap::from([(PROP_NAME.to_owned(), who.name.clone())]);
        for (k, v) in [
            (PROP_PHONE, &who.phone),
            (PROP_EMAIL, &who.email),
            (PROP_REASON, &who.reason),
        ] {
            if let Some(v) = v {
                props.insert(k.to_owned(), v.clone());
            }
        }
        let mut description = format!("Booked by phone through frontdesk.\nName: {}", who.name);
        for (label, v) in [
            ("Phone", &who.phone),
            ("Email", &who.email),
            ("Reason", &who.reason),
        ] {
            if let Some(v) = v {
                description.push_str(&format!("\n{label}: {v}"));
            }
        }
        let attendees = who
            .email
            .as_ref()
            .filter(|_| self.invite_attendees)
            .map(|email| {
                vec![EventAttendee {
                    email: Some(email.clone()),
                    display_name: Some(who.name.clone()),
                    ..Default::default()
                }]
            });
        let event = Event {
            summary: Some(match &who.reason {
                Some(r) => format!("{} ({r})", who.name),
                None => format!("Appointment: {}", who.name),
            }),
            description: Some(description),
            start: Some(self.when(start)),
            end: Some(self.when(end)),
            attendees,
            extended_properties: Some(EventExtendedProperties {
                private: Some(props),
                shared: None,
            }),
            ..Default::default()
        };
        let send = if self.invite_attendees { "all" } else { "none" };
        let (_, created) = timed(
            self.hub
                .events()
                .insert(event, &self.calendar_id)
                .send_updates(send)
                .add_scope(Scope::Full)
                .doit(),
        )
        .await?;
        let id = created
            .id
            .clone()
            .ok_or_else(|| unavailable("the new event has no id"))?;
        // Another writer (another server, a person in the calendar UI) may
        // have added an overlapping event meanwhile: the earlier one wins.
        let others = self.overlapping(start, end, Some(&id)).await?;
        let ours = created.created.unwrap_or_else(Utc::now);
        if others.iter().any(|o| o.created.is_none_or(|c| c <= ours)) {
            let _ = timed(
                self.hub
                    .events()
                    .delete(&self.calendar_id, &id)
                    .send_updates("none")
                    .add_scope(Scope::Full)
                    .doit(),
            )
            .await;
            return Err(CalendarError::Conflict);
        }
        self.to_appointment(&created)
            .ok_or_else(|| unavailable("the new event came back incomplete"))
    }

    async fn move_if_free(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let _guard = self.write_lock.lock().await;
        if !self.overlapping(start, end, Some(id)).await?.is_empty() {
            return Err(CalendarError::Conflict);
        }
        let patch = Event {
            start: Some(self.when(start)),
            end: Some(self.when(end)),
            ..Default::default()
        };
        let send = if self.invite_attendees { "all" } else { "none" };
        let (_, event) = timed(
            self.hub
                .events()
                .patch(patch, &self.calendar_id, id)
                .send_updates(send)
                .add_scope(Scope::Full)
                .doit(),
        )
        .await?;
        self.to_appointment(&event).ok_or(CalendarError::NotFound)
    }

    async fn cancel(&self, id: &str) -> Result<Appointment, CalendarError> {
        let current = self.get(id).await?.ok_or(CalendarError::NotFound)?;
        let send = if self.invite_attendees { "all" } else { "none" };
        timed(
            self.hub
                .events()
                .delete(&self.calendar_id, id)
                .send_updates(send)
                .add_scope(Scope::Full)
                .doit(),
        )
        .await?;
        Ok(current)
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, CalendarError> {
        match timed(
            self.hub
                .events()
                .get(&self.calendar_id, id)
                .add_scope(Scope::Full)
                .doit(),
        )
        .await
        {
            Ok((_, e)) => Ok(self.to_appointment(&e)),
            Err(CalendarError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, CalendarError> {
        Ok(self
            .events_between(from, to)
            .await?
            .iter()
            .filter_map(|e| self.to_appointment(e))
            .filter(|a| a.start >= from && a.start < to)
            .collect())
    }
}
