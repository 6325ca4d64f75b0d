//! The HTTP surface: the route table, the OpenAPI document, and the guards.
//!
//! This is the only module that knows poem. Handlers translate HTTP into
//! calls on the domain and the answer back into TwiML or JSON. Around them:
//! [`guard::BodyLimit`] (413), [`guard::TwilioSignature`] (403 on the
//! webhooks and the stream upgrade), [`auth`] (the API token, 401 on the
//! data routes), [`allow`] (`Allow` on 405), and one mapping of every other
//! error to the API's JSON error ([`api::error::to_json`]).

pub mod allow;
pub mod api;
pub mod auth;
pub mod dashboard;
pub mod guard;
pub mod stream;
pub mod voice;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::state::AppState;

type Apis = (
    voice::VoiceApi,
    api::system::SystemApi,
    api::calls::CallsApi,
    api::sessions::SessionsApi,
    api::appointments::AppointmentsApi,
    api::messages::MessagesApi,
    api::metrics::MetricsApi,
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
            api::metrics::MetricsApi,
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

/// The whole application: routes, docs, guards and shared state.
pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi_service();
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let allowed = Arc::new(allow::Allowed::new(
        &api.spec(),
        &[
            ("/openapi.json", "get"),
            ("/docs", "get"),
            ("/twilio/stream", "get"),
        ],
    ));
    let signature = guard::TwilioSignature::new(&state.config);
    let limit = state.config.max_request_bytes;
    Route::new()
        .at("/openapi.json", spec)
        .at("/twilio/stream", poem::get(stream::upgrade))
        .at("/dashboard", poem::get(dashboard::dashboard))
        .at(
            "/dashboard/events",
            poem::get(dashboard::events).with(auth::RequireToken(state.api_token.secret().clone())),
        )
        .at("/dashboard/login", poem::post(dashboard::login))
        .at("/dashboard/logout", poem::post(dashboard::logout))
        .at("/dashboard/app.js", poem::get(dashboard::script))
        .at("/dashboard/app.css", poem::get(dashboard::style))
        .nest("/docs", docs)
        .nest("/", api)
        .catch_all_error(api::error::to_json)
        .around(move |inner, req| allow::add_allow(inner, Arc::clone(&allowed), req))
        .with(signature)
        .with(guard::BodyLimit(limit))
        .data(state)
}
