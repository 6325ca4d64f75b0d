//! The one error shape of the HTTP API, and the error outcomes each group of
//! operations documents.
//!
//! Every error answer — from a handler, a guard (401, 403, 413) or poem
//! itself (a parameter or body that does not parse, a wrong
//! `Content-Type`) — is an [`ErrorBody`] in JSON. Fields without a value are
//! left out rather than sent as `null`, so the body always matches its
//! schema. `http::app` turns errors raised outside handlers into this shape
//! in one place.

use poem::{
    Response,
    http::{StatusCode, header},
};
use poem_openapi::{ApiResponse, Object, payload::Json, types::Example};

/// What went wrong, in the same shape on every route.
#[derive(Debug, Clone, Default, PartialEq, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// What to do about it, for the common cases.
    pub hint: Option<String>,
    /// The configuration variables that are missing (when the server is not
    /// set up for the request).
    pub missing: Option<Vec<String>>,
    /// Twilio's error code, when Twilio refused (e.g. 21219).
    pub code: Option<i64>,
    /// Twilio's error message, when Twilio refused.
    pub message: Option<String>,
    /// Twilio's documentation link for the error.
    pub more_info: Option<String>,
}

impl Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: "to_number: must be in E.164 form, like +14155551234".into(),
            ..Self::default()
        }
    }
}

impl ErrorBody {
    /// An error with just a message.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            ..Self::default()
        }
    }

    /// The same, as a JSON payload.
    pub fn json(error: impl Into<String>) -> Json<Self> {
        Json(Self::new(error))
    }

    /// `error` with the advice to retry: the answer of a route whose store
    /// is out of reach for now (503).
    pub fn unavailable(error: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.into(),
            hint: Some(
                "the database or calendar it is kept in cannot be reached; retry in a moment"
                    .into(),
            ),
            ..Self::default()
        })
    }

    /// The body as a complete response with `status`.
    pub fn into_response(self, status: StatusCode) -> Response {
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self))
            .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec());
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
    }
}

/// Turns any error poem raises outside a handler (a query parameter or body
/// that does not parse, an unsupported `Content-Type`, an unknown route)
/// into an [`ErrorBody`] with the same status. Responses a handler or guard
/// built itself pass through unchanged.
pub async fn to_json(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let message = match err.downcast_ref::<poem_openapi::error::ParseRequestPayloadError>() {
        Some(e) => format!("malformed request body: {}", e.reason),
        None => err.to_string().replace('`', ""),
    };
    let hint = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Some(
            "send the Content-Type this operation documents (application/json for the REST API, \
             application/x-www-form-urlencoded for the webhooks)"
                .to_owned(),
        ),
        _ => None,
    };
    ErrorBody {
        error: message,
        hint,
        ..ErrorBody::default()
    }
    .into_response(status)
}

/// Errors of a listing (`GET /sessions`, `GET /appointments`).
#[derive(ApiResponse)]
pub enum ListError {
    /// A query parameter is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `Authorization: Bearer <API_TOKEN>` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        /// `Bearer`, as RFC 6750 asks.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// Something failed on the server's side (the call log or the calendar
    /// could not be read).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The store the answer comes from is out of reach for now (the
    /// database is down or restarting, the calendar backend fails); retry
    /// shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// Errors of a lookup of one call (`GET /session/{call_sid}`).
#[derive(ApiResponse)]
pub enum LookupError {
    /// `Authorization: Bearer <API_TOKEN>` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        /// `Bearer`, as RFC 6750 asks.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// No such call, live or in the call log.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The call log could not be read.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The call log's database is out of reach for now; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
