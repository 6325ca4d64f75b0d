//! `GET /` and `GET /health`.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, payload::Json, types::Example};

use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Whether the service is up.
    System,
}

/// The service's status.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Status {
    /// Always `ok` when the server answers.
    pub status: String,
    /// A human-readable line.
    pub message: String,
    /// Calls in progress.
    pub active_sessions: u64,
    /// The base URL Twilio reaches (`PUBLIC_URL`).
    pub public_url: String,
}

/// Liveness.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

impl Example for Status {
    fn example() -> Self {
        Self {
            status: "ok".into(),
            message: "frontdesk is answering calls for Acme Dental".into(),
            active_sessions: 1,
            public_url: "https://abcd-1234.ngrok-free.app".into(),
        }
    }
}

impl Example for Health {
    fn example() -> Self {
        Self {
            status: "ok".into(),
        }
    }
}

/// System routes.
pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Service status and the number of calls in progress.
    #[oai(path = "/", method = "get")]
    async fn index(&self, state: Data<&AppState>) -> Json<Status> {
        Json(Status {
            status: "ok".into(),
            message: format!(
                "frontdesk is answering calls for {}",
                state.config.business.name
            ),
            active_sessions: state.sessions.live_count().await as u64,
            public_url: state.config.public_url.as_str().to_owned(),
        })
    }

    /// Liveness probe.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
        })
    }
}
