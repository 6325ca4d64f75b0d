//! `POST /make-call` and `POST /calls/{call_sid}/hangup`: placing and ending
//! calls through Twilio's REST API.
//!
//! Numbers are checked as E.164 before Twilio is asked; a Twilio error comes
//! back with Twilio's own `code` and `message` plus a hint in plain words.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags, param::Path, payload::Json, types::Example,
};

use super::{error::ErrorBody, example_call_sid, not_null};
use crate::{
    config::CallMode,
    http::auth::ApiAuth,
    state::AppState,
    twilio::{
        client::{NewCall, TwilioError},
        number::PhoneNumber,
        webhook::{CallSid, mask_number},
    },
};

#[derive(Tags)]
enum ApiTags {
    /// Placing and ending calls through Twilio.
    Calls,
}

/// How the call's audio is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Mode {
    /// TwiML turns with `<Gather input="speech">` (works on trial accounts).
    Gather,
    /// Media Streams bridged to Deepgram's Voice Agent.
    Stream,
}

/// A call to place. Optional fields may be left out, not sent as `null`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct MakeCall {
    /// Who to call, in E.164 form (`+14155551234`). Required; optional in the
    /// schema only so that leaving it out gets an error that names it.
    #[oai(deserialize_with = "not_null")]
    pub to_number: Option<String>,
    /// The caller ID, in E.164 form; default `TWILIO_PHONE_NUMBER`.
    #[oai(deserialize_with = "not_null")]
    pub from_number: Option<String>,
    /// What the receptionist says first when the call is answered.
    #[oai(validator(max_length = 1000), deserialize_with = "not_null")]
    pub initial_message: Option<String>,
    /// Detect answering machines and leave a voicemail message instead.
    #[oai(deserialize_with = "not_null")]
    pub machine_detection: Option<bool>,
    /// `gather` (default) or `stream`.
    #[oai(deserialize_with = "not_null")]
    pub mode: Option<Mode>,
}

impl Example for MakeCall {
    fn example() -> Self {
        Self {
            to_number: Some("+14155550100".into()),
            from_number: None,
            initial_message: Some(
                "Hi, this is Acme Dental calling to confirm your visit tomorrow at 10.".into(),
            ),
            machine_detection: Some(false),
            mode: Some(Mode::Gather),
        }
    }
}

/// A placed call.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CallPlaced {
    /// Twilio's call id.
    pub call_sid: String,
    /// Twilio's status for the call (normally `queued`).
    pub status: String,
    /// The called number.
    pub to: String,
    /// The caller ID.
    pub from: String,
}

impl Example for CallPlaced {
    fn example() -> Self {
        Self {
            call_sid: example_call_sid(),
            status: "queued".into(),
            to: "+14155550100".into(),
            from: "+14155550199".into(),
        }
    }
}

/// A call that was ended.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CallEnded {
    /// Twilio's call id.
    pub call_sid: String,
    /// Twilio's status for the call after the request.
    pub status: String,
}

impl Example for CallEnded {
    fn example() -> Self {
        Self {
            call_sid: example_call_sid(),
            status: "completed".into(),
        }
    }
}

/// The ways placing or ending a call can fail.
#[derive(ApiResponse)]
pub enum CallError {
    /// The request is invalid (e.g. a number not in E.164 form, a field
    /// that is `null`), or Twilio refused it.
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
    /// Twilio does not know the call.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The body is larger than `MAX_REQUEST_BYTES`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Twilio is rate-limiting this account.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    /// Twilio refused the credentials, failed, or answered something unreadable.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Twilio credentials (or, for mode stream, DEEPGRAM_API_KEY) are not
    /// configured; the missing variables are named.
    #[oai(status = 503)]
    NotConfigured(Json<ErrorBody>),
    /// Twilio did not answer in time.
    #[oai(status = 504)]
    Timeout(Json<ErrorBody>),
}

impl CallError {
    fn invalid(error: String) -> Self {
        Self::BadRequest(Json(ErrorBody {
            error,
            ..Default::default()
        }))
    }
}

impl From<TwilioError> for CallError {
    fn from(e: TwilioError) -> Self {
        let mut body = ErrorBody {
            error: e.to_string(),
            hint: e.hint().map(str::to_owned),
            ..Default::default()
        };
        match e {
            TwilioError::NotConfigured { missing } => {
                body.missing = Some(missing.iter().map(|m| (*m).to_owned()).collect());
                Self::NotConfigured(Json(body))
            }
            TwilioError::Api {
                status,
                code,
                message,
                more_info,
            } => {
                body.code = code;
                body.message = Some(message);
                body.more_info = more_info;
                match status {
                    400 | 422 => Self::BadRequest(Json(body)),
                    404 => Self::NotFound(Json(body)),
                    429 => Self::TooManyRequests(Json(body)),
                    _ => Self::BadGateway(Json(body)),
                }
            }
            TwilioError::Timeout => Self::Timeout(Json(body)),
            TwilioError::Unavailable(_) => Self::BadGateway(Json(body)),
        }
    }
}

/// The answer of `POST /make-call`.
#[derive(ApiResponse)]
pub enum MakeCallResponse {
    /// Twilio accepted the call; the session exists already (status `queued`).
    #[oai(status = 200)]
    Placed(Json<CallPlaced>),
}

/// The answer of `POST /calls/{call_sid}/hangup`.
#[derive(ApiResponse)]
pub enum HangupResponse {
    /// Twilio ended the call.
    #[oai(status = 200)]
    Ended(Json<CallEnded>),
}

/// Call routes.
pub struct CallsApi;

#[OpenApi(tag = "ApiTags::Calls")]
impl CallsApi {
    /// Places a call through Twilio.
    ///
    /// When it is answered, Twilio fetches /voice/outbound and the
    /// receptionist greets the callee with initial_message.
    #[oai(path = "/make-call", method = "post")]
    async fn make_call(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        body: Json<MakeCall>,
    ) -> Result<MakeCallResponse, CallError> {
        let to_number = body.to_number.as_deref().ok_or_else(|| {
            CallError::invalid(
                "to_number is required: the number to call, like +14155551234".into(),
            )
        })?;
        let to = PhoneNumber::parse(to_number)
            .map_err(|e| CallError::invalid(format!("to_number: {e}")))?;
        let from = body
            .from_number
            .as_deref()
            .map(|n| PhoneNumber::parse(n).map_err(|e| format!("from_number: {e}")))
            .transpose()
            .map_err(CallError::invalid)?;
        let stream = match body.mode {
            Some(Mode::Stream) => true,
            Some(Mode::Gather) => false,
            None => state.config.call_mode == CallMode::Stream,
        };
        if stream && state.config.deepgram.api_key.is_none() {
            return Err(CallError::NotConfigured(Json(ErrorBody {
                error: "mode: stream needs DEEPGRAM_API_KEY on the server".into(),
                hint: Some("use mode gather, or set DEEPGRAM_API_KEY".into()),
                missing: Some(vec!["DEEPGRAM_API_KEY".into()]),
                ..Default::default()
            })));
        }
        let twilio = &state.twilio;
        twilio.credentials(from.is_none())?;
        let from = match from {
            Some(f) => f,
            None => {
                let configured = twilio.phone_number.as_deref().unwrap_or_default();
                PhoneNumber::parse(configured).map_err(|e| {
                    CallError::NotConfigured(Json(ErrorBody {
                        error: format!("TWILIO_PHONE_NUMBER: {e}"),
                        missing: Some(vec!["TWILIO_PHONE_NUMBER".into()]),
                        ..Default::default()
                    }))
                })?
            }
        };
        let public = &state.config.public_url;
        let call = NewCall {
            to: to.clone(),
            from: from.clone(),
            url: public.join("/voice/outbound"),
            status_callback: public.join("/voice/status"),
            machine_detection: body.machine_detection.unwrap_or(false),
        };
        let placed = twilio.create_call(&call).await.inspect_err(|e| {
            tracing::warn!(to = %mask_number(to.as_str()), error = %e, "Twilio refused the call");
        })?;
        let sid = CallSid::parse(&placed.sid).map_err(|_| {
            CallError::BadGateway(Json(ErrorBody {
                error: format!("Twilio answered an invalid call id {:?}", placed.sid),
                ..Default::default()
            }))
        })?;
        let initial_message = body
            .initial_message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        state
            .sessions
            .begin_outbound(&sid, from.as_str(), to.as_str(), initial_message, stream)
            .await;
        tracing::info!(call_sid = %sid, to = %mask_number(to.as_str()), "call placed");
        Ok(MakeCallResponse::Placed(Json(CallPlaced {
            call_sid: sid.to_string(),
            status: placed.status.unwrap_or_else(|| "queued".into()),
            to: placed.to.unwrap_or_else(|| to.to_string()),
            from: placed.from.unwrap_or_else(|| from.to_string()),
        })))
    }

    /// Ends a live call through Twilio (Status=completed).
    #[oai(path = "/calls/:call_sid/hangup", method = "post")]
    async fn hangup(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// The call's id.
        #[oai(
            example = "example_call_sid",
            validator(pattern = "^CA[0-9a-fA-F]{32}$")
        )]
        call_sid: Path<String>,
    ) -> Result<HangupResponse, CallError> {
        let sid = CallSid::parse(&call_sid).map_err(CallError::invalid)?;
        let done = state.twilio.hang_up(sid.as_str()).await?;
        tracing::info!(call_sid = %sid, "call hung up through the API");
        Ok(HangupResponse::Ended(Json(CallEnded {
            call_sid: sid.to_string(),
            status: done.status.unwrap_or_else(|| "completed".into()),
        })))
    }
}
