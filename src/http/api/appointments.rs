//! `GET /appointments`: the booked appointments of the configured calendar.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json, types::Example};

use super::error::{ErrorBody, ListError};
use crate::{
    calendar::{Appointment, CalendarError},
    http::auth::ApiAuth,
    state::AppState,
};

#[derive(Tags)]
enum ApiTags {
    /// The calendar.
    Appointments,
}

/// One appointment; times are RFC 3339 with the business's UTC offset.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AppointmentView {
    /// The calendar's id (the event id with Google Calendar).
    pub id: String,
    /// Start, e.g. `2026-11-24T14:00:00-05:00`.
    pub start: DateTime<FixedOffset>,
    /// End.
    pub end: DateTime<FixedOffset>,
    /// Who it is for.
    pub name: String,
    /// The number it was booked from.
    pub phone: Option<String>,
    /// Email, if given.
    pub email: Option<String>,
    /// What it is for.
    pub reason: Option<String>,
}

/// Appointments in a range.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AppointmentList {
    /// The business's time zone (`BUSINESS_TIMEZONE`).
    pub timezone: String,
    /// Earliest first.
    pub appointments: Vec<AppointmentView>,
}

impl Example for AppointmentView {
    fn example() -> Self {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).expect("a valid example time");
        Self {
            id: "a1b2c3".into(),
            start: at("2026-11-25T10:00:00-05:00"),
            end: at("2026-11-25T10:30:00-05:00"),
            name: "Ada Lovelace".into(),
            phone: Some("+14155550100".into()),
            email: None,
            reason: Some("cleaning".into()),
        }
    }
}

impl Example for AppointmentList {
    fn example() -> Self {
        Self {
            timezone: "America/New_York".into(),
            appointments: vec![AppointmentView::example()],
        }
    }
}

/// Appointment routes.
pub struct AppointmentsApi;

pub(super) fn example_from() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, 11, 24)
}

pub(super) fn example_to() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, 11, 30)
}

#[OpenApi(tag = "ApiTags::Appointments")]
impl AppointmentsApi {
    /// Booked appointments between two days, inclusive.
    ///
    /// Days are local dates in the business's zone; by default from today
    /// for the next 90 days.
    #[oai(path = "/appointments", method = "get")]
    async fn list(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// First day, `YYYY-MM-DD` (default today).
        #[oai(example = "example_from")]
        from: Query<Option<NaiveDate>>,
        /// Last day, `YYYY-MM-DD`, not before `from` (default 90 days after `from`).
        #[oai(example = "example_to")]
        to: Query<Option<NaiveDate>>,
    ) -> Result<Json<AppointmentList>, ListError> {
        let s = state.tools.scheduler();
        let now = (state.clock)();
        let first = from.0.unwrap_or_else(|| s.today(now));
        let last =
            to.0.or_else(|| first.checked_add_signed(Duration::days(90)))
                .unwrap_or(first);
        if last < first {
            return Err(ListError::BadRequest(ErrorBody::json(
                "to must not be before from",
            )));
        }
        let tz = s.timezone;
        let bound = |d: NaiveDate| {
            s.to_utc(d.and_time(NaiveTime::MIN))
                .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
        };
        let (start, end) = (bound(first), bound(last.succ_opt().unwrap_or(last)));
        let found = s.calendar().list(start, end).await.map_err(|e| {
            tracing::error!(error = %e, "calendar read failed");
            let error = format!("the calendar could not be read: {e}");
            match e {
                CalendarError::Unavailable(_) => {
                    ListError::Unavailable(ErrorBody::unavailable(error))
                }
                _ => ListError::Internal(ErrorBody::json(error)),
            }
        })?;
        let local = |t: DateTime<Utc>| t.with_timezone(&tz).fixed_offset();
        Ok(Json(AppointmentList {
            timezone: tz.name().to_owned(),
            appointments: found
                .into_iter()
                .map(|a: Appointment| AppointmentView {
                    start: local(a.start),
                    end: local(a.end),
                    id: a.id,
                    name: a.name,
                    phone: a.phone,
                    email: a.email,
                    reason: a.reason,
                })
                .collect(),
        }))
    }
}
