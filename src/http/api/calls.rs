//! `POST /make-call` and `POST /calls/{call_sid}/hangup`: placing and ending
//! calls through Twilio's REST API.
//!
//! Numbers are checked as E.164 before Twilio is asked; a Twilio error comes
//! back with Twilio's own `code` and `message` plus a hint in plain words.

use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags, param::Path, payload::Json};

use crate::{
    config::CallMode,
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

/// A call to place.
#[derive(Debug, Clone, Object)]
pub struct MakeCall {
    /// Who to call, in E.164 form (`+14155551234`). Required; optional in the
    /// schema only so that leaving it out gets an error that names it.
    pub to_number: Option<String>,
    /// The caller ID, in E.164 form; default `TWILIO_PHONE_NUMBER`.
    pub from_number: Option<String>,
    /// What the receptionist says first when the call is answered.
    #[oai(validator(max_length = 1000))]
    pub initial_message: Option<String>,
    /// Detect answering machines and leave a voicemail message instead.
    pub machine_detection: Option<bool>,
    /// `gather` (default) or `stream`.
    pub mode: Option<Mode>,
}

/// A placed call.
#[derive(Debug, Clone, Object)]
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

/// A call that was ended.
#[derive(Debug, Clone, Object)]
pub struct CallEnded {
    /// Twilio's call id.
    pub call_sid: String,
    /// Twilio's status for the call after the request.
    pub status: String,
}

/// What went wrong, with Twilio's own code and message when Twilio refused.
#[derive(Debug, Clone, Default, Object)]
pub struct CallErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// What to do about it, for the common cases.
    pub hint: Option<String>,
    /// Twilio's error code (e.g. 21219).
    pub code: Option<i64>,
    /// Twilio's error message.
    pub message: Option<String>,
    /// Twilio's documentation link for the error.
    pub more_info: Option<String>,
    /// The configuration variables that are missing.
    pub missing: Option<Vec<String>>,
}

/// The ways placing or ending a call can fail.
#[derive(ApiResponse)]
pub enum CallError {
    /// The request is invalid (e.g. a number not in E.164 form), or Twilio refused it.
    #[oai(status = 400)]
    BadRequest(Json<CallErrorBody>),
    /// Twilio does not know the call.
    #[oai(status = 404)]
    NotFound(Json<CallErrorBody>),
    /// Twilio is rate-limiting this account.
    #[oai(status = 429)]
    TooManyRequests(Json<CallErrorBody>),
    /// Twilio refused the credentials, failed, or answered something unreadable.
    #[oai(status = 502)]
    BadGateway(Json<CallErrorBody>),
    /// Twilio credentials are not configured (the missing variables are named).
    #[oai(status = 503)]
    NotConfigured(Json<CallErrorBody>),
    /// Twilio did not answer in time.
    #[oai(status = 504)]
    Timeout(Json<CallErrorBody>),
}

impl CallError {
    fn invalid(error: String) -> Self {
        Self::BadRequest(Json(CallErrorBody {
            error,
            ..Default::default()
        }))
    }
}

impl From<TwilioError> for CallError {
    fn from(e: TwilioError) -> Self {
        let mut body = CallErrorBody {
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
    /// Places a call through Twilio. When it is answered, Twilio fetches
    /// `/voice/outbound` and the receptionist greets with `initial_message`.
    #[oai(path = "/make-call", method = "post")]
    async fn make_call(
        &self,
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
            return Err(CallError::invalid(
                "mode: stream needs DEEPGRAM_API_KEY on the server; use gather".into(),
            ));
        }
        let twilio = &state.twilio;
        twilio.credentials(from.is_none())?;
        let from = match from {
            Some(f) => f,
            None => {
                let configured = twilio.phone_number.as_deref().unwrap_or_default();
                PhoneNumber::parse(configured).map_err(|e| {
                    CallError::NotConfigured(Json(CallErrorBody {
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
            CallError::BadGateway(Json(CallErrorBody {
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
            .begin_outbound(&sid, from.as_str(), to.as_str(), initial_message, stream);
        tracing::info!(call_sid = %sid, to = %mask_number(to.as_str()), "call placed");
        Ok(MakeCallResponse::Placed(Json(CallPlaced {
            call_sid: sid.to_string(),
            status: placed.status.unwrap_or_else(|| "queued".into()),
            to: placed.to.unwrap_or_else(|| to.to_string()),
            from: placed.from.unwrap_or_else(|| from.to_string()),
        })))
    }

    /// Ends a live call through Twilio (`Status=completed`).
    #[oai(path = "/calls/:call_sid/hangup", method = "post")]
    async fn hangup(
        &self,
        state: Data<&AppState>,
        /// The call's id.
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
