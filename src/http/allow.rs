//! `Allow` on every 405 answer (RFC 9110 asks for it), worked out from the
//! route table: the OpenAPI document's paths plus the routes outside it.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, StatusCode, header},
};

/// Which methods each route answers. Path templates match one segment per
/// `{parameter}`.
#[derive(Debug, Default)]
pub struct Allowed(Vec<(Vec<String>, String)>);

impl Allowed {
    /// The table for the OpenAPI document `spec` plus `extra` routes.
    pub fn new(spec: &str, extra: &[(&str, &str)]) -> Self {
        let mut routes: Vec<(Vec<String>, String)> = Vec::new();
        let mut add = |path: &str, method: &str| {
            let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            let method = method.to_ascii_uppercase();
            match routes.iter_mut().find(|(s, _)| *s == segments) {
                Some((_, methods)) => {
                    methods.push_str(", ");
                    methods.push_str(&method);
                }
                None => routes.push((segments, method)),
            }
        };
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        for (path, ops) in spec["paths"].as_object().into_iter().flatten() {
            for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
                add(path, method);
            }
        }
        for (path, method) in extra {
            add(path, method);
        }
        Self(routes)
    }

    /// The `Allow` value for a request path, if it is a route.
    pub fn methods(&self, path: &str) -> Option<&str> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(segments, methods)| {
            let fits = segments.len() == wanted.len()
                && segments
                    .iter()
                    .zip(&wanted)
                    .all(|(s, w)| s == w || (s.starts_with('{') && !w.is_empty()));
            fits.then_some(methods.as_str())
        })
    }
}

/// Adds `Allow` to the inner endpoint's 405 answers.
pub async fn add_allow<E: Endpoint>(
    inner: Arc<E>,
    allowed: Arc<Allowed>,
    req: Request,
) -> Result<Response> {
    // The URI's parts are shared bytes: cloning it does not copy the path.
    let uri = req.uri().clone();
    let mut resp = match inner.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(value) = allowed
            .methods(uri.path())
            .and_then(|m| HeaderValue::from_str(m).ok())
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment() {
        let spec = r#"{"paths":{"/sessions":{"get":{}},"/calls/{call_sid}/hangup":{"post":{}},"/x":{"get":{},"post":{}}}}"#;
        let a = Allowed::new(spec, &[("/twilio/stream", "get")]);
        assert_eq!(a.methods("/sessions"), Some("GET"));
        assert_eq!(a.methods("/calls/CA1/hangup"), Some("POST"));
        assert_eq!(a.methods("/calls//hangup"), None);
        assert_eq!(a.methods("/x"), Some("GET, POST"));
        assert_eq!(a.methods("/twilio/stream"), Some("GET"));
        assert_eq!(a.methods("/nope"), None);
    }
}
