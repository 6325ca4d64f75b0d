//! The JSON REST API (system status and sessions), described by the OpenAPI
//! document. Each group owns its routes; errors map to HTTP in [`ApiError`].

pub mod appointments;
pub mod calls;
pub mod messages;
pub mod sessions;
pub mod system;

use poem_openapi::{ApiResponse, Object, payload::Json};

/// A JSON error body.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(error: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.into(),
        })
    }
}

/// Errors shared by the REST operations.
#[derive(ApiResponse)]
pub enum ApiError {
    /// The request is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No such resource.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Something failed on the server's side (e.g. the call log could not be read).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
