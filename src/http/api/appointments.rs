//! `GET /appointments`: the booked appointments of the configured calendar.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json};

use super::{ApiError, ErrorBody};
use crate::{calendar::Appointment, state::AppState};

#[derive(Tags)]
enum ApiTags {
    /// The calendar.
    Appointments,
}

/// One appointment; times are RFC 3339 with the business's UTC offset.
#[derive(Debug, Object)]
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
pub struct AppointmentList {
    /// The business's time zone (`BUSINESS_TIMEZONE`).
    pub timezone: String,
    /// Earliest first.
    pub appointments: Vec<AppointmentView>,
}

/// Appointment routes.
pub struct AppointmentsApi;

/// A `YYYY-MM-DD` query parameter.
pub(super) fn parse_day(name: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|r| {
        NaiveDate::parse_from_str(r.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::BadRequest(ErrorBody::new(format!(
                "{name} must be a date like 2026-11-24"
            )))
        })
    })
    .transpose()
}

#[OpenApi(tag = "ApiTags::Appointments")]
impl AppointmentsApi {
    /// Booked appointments from `from` to `to` inclusive (local dates in the
    /// business's zone); by default from today for the next 90 days.
    #[oai(path = "/appointments", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        /// First day, `YYYY-MM-DD` (default today).
        from: Query<Option<String>>,
        /// Last day, `YYYY-MM-DD` (default 90 days after `from`).
        to: Query<Option<String>>,
    ) -> Result<Json<AppointmentList>, ApiError> {
        let s = state.tools.scheduler();
        let now = (state.clock)();
        let first = parse_day("from", from.0.as_deref())?.unwrap_or_else(|| s.today(now));
        let last = parse_day("to", to.0.as_deref())?.unwrap_or(first + Duration::days(90));
        if last < first {
            return Err(ApiError::BadRequest(ErrorBody::new(
                "to must not be before from",
            )));
        }
        let bound = |d: NaiveDate| {
            s.to_utc(d.and_time(NaiveTime::MIN))
                .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
        };
        let (start, end) = (bound(first), bound(last + Duration::days(1)));
        let found = s.calendar().list(start, end).await.map_err(|e| {
            tracing::error!(error = %e, "calendar read failed");
            ApiError::Internal(ErrorBody::new(format!(
                "the calendar could not be read: {e}"
            )))
        })?;
        let tz = s.timezone;
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
