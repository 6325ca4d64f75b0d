//! The HTTP surface: the route table, the OpenAPI document, and the guards.
//!
//! This is the only module that knows poem. Handlers translate HTTP into
//! calls on the domain and the answer back into TwiML or JSON.

pub mod api;
pub mod guard;
pub mod stream;
pub mod voice;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, error::ParseRequestPayloadError};

use crate::state::AppState;

type Apis = (
    voice::VoiceApi,
    api::system::SystemApi,
    api::calls::CallsApi,
    api::sessions::SessionsApi,
    api::appointments::AppointmentsApi,
    api::messages::MessagesApi,
);

/// The OpenAPI service: every operation, with its document.
pub fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            voice::VoiceApi,
            api::system::SystemApi,
            api::calls::CallsApi,
            api::sessions::SessionsApi,
            api::appointments::AppointmentsApi,
            api::messages::MessagesApi,
        ),
        "frontdesk",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "An AI receptionist on a Twilio phone number: Twilio's voice webhooks \
         (form in, TwiML out) and a JSON API to inspect calls.",
    )
}

/// The OpenAPI document as served at `/openapi.json`.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

/// A body that does not parse (a JSON field missing, a form that is not a
/// form) is a 400 with a JSON error saying what is wrong.
async fn malformed_body(err: ParseRequestPayloadError) -> poem::Response {
    use poem::IntoResponse;
    let body = serde_json::json!({ "error": format!("malformed request body: {}", err.reason) });
    (poem::http::StatusCode::BAD_REQUEST, poem::web::Json(body)).into_response()
}

/// The whole application: routes, docs, guards and shared state.
pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi_service();
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let signature = guard::TwilioSignature {
        auth_token: state
            .config
            .twilio
            .validate_signatures
            .then(|| state.config.twilio.auth_token.clone())
            .flatten(),
        validator: Arc::new(crate::twilio::signature::Validator::new(
            state.config.public_url.as_str(),
        )),
    };
    let limit = state.config.max_request_bytes;
    Route::new()
        .at("/openapi.json", spec)
        .at("/twilio/stream", poem::get(stream::upgrade))
        .nest("/docs", docs)
        .nest("/", api)
        .catch_error(malformed_body)
        .with(signature)
        .with(guard::BodyLimit(limit))
        .data(state)
}
