//! `GET /metrics`: the server's metrics in the Prometheus text format.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    payload::{Json, PlainText},
};

use super::error::ErrorBody;
use crate::{http::auth::ApiAuth, state::AppState};

#[derive(Tags)]
enum ApiTags {
    /// Metrics for Prometheus.
    Metrics,
}

/// The metrics.
#[derive(ApiResponse)]
pub enum MetricsResponse {
    /// Prometheus text format (version 0.0.4): turns, latency histograms,
    /// holds and apologies, model, calendar and Twilio errors, live calls,
    /// ended calls and appointment changes.
    #[oai(
        status = 200,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    )]
    Ok(PlainText<String>),
    /// `Authorization: Bearer <API_TOKEN>` is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        /// `Bearer`, as RFC 6750 asks.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
}

/// Metrics routes.
pub struct MetricsApi;

#[OpenApi(tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Metrics in the Prometheus text format, for a Prometheus scrape.
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self, _auth: ApiAuth, state: Data<&AppState>) -> MetricsResponse {
        let live = state.sessions.live_count().await;
        MetricsResponse::Ok(PlainText(state.metrics.encode(live)))
    }
}
