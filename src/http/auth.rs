//! The API token guard: `Authorization: Bearer <API_TOKEN>` on every route
//! that reads or changes data.
//!
//! One check, [`verify`], used two ways:
//! - [`ApiAuth`], the OpenAPI security scheme: every data operation takes it
//!   as its first parameter, so the request is refused before its body or
//!   parameters are read, the document marks the operation as needing the
//!   token, and Swagger UI shows an Authorize button;
//! - [`RequireToken`], a middleware for routes outside the OpenAPI document
//!   (a web page, a metrics endpoint).
//!
//! A missing or wrong token gets 401 with the API's JSON error and
//! `WWW-Authenticate: Bearer` (RFC 6750). The comparison takes the same time
//! wherever the tokens differ (only the length can be learnt, and a
//! generated token's length is public anyway). The token is never logged.
//!
//! `/`, `/health`, `/docs` and `/openapi.json` stay open; Twilio's webhooks
//! are guarded by their signature (`guard::TwilioSignature`), not by this.

use base64::Engine as _;
use poem::{
    Endpoint, IntoResponse, Middleware, Request, RequestBody, Response, Result,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};
use subtle::ConstantTimeEq;

use super::api::error::ErrorBody;
use crate::{config::Secret, state::AppState};

/// The security scheme's name in the OpenAPI document.
pub const SCHEME: &str = "ApiToken";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    NotBearer,
    /// A bearer token that is not the server's.
    Wrong,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "this route needs the API token: send Authorization: Bearer <API_TOKEN>"
            }
            Self::NotBearer => "the Authorization header must be Bearer <API_TOKEN>",
            Self::Wrong => "the API token is wrong",
        }
    }

    /// The 401 answer: the JSON error and `WWW-Authenticate`.
    pub fn into_response(self) -> Response {
        let challenge = match self {
            Self::Missing => r#"Bearer realm="frontdesk""#,
            Self::NotBearer => r#"Bearer realm="frontdesk", error="invalid_request""#,
            Self::Wrong => r#"Bearer realm="frontdesk", error="invalid_token""#,
        };
        let mut resp = ErrorBody {
            error: self.message().into(),
            hint: Some(
                "the token is API_TOKEN, or the file api-token in DATA_DIR when API_TOKEN is unset; \
                 frontdesk prints it at start-up"
                    .into(),
            ),
            ..ErrorBody::default()
        }
        .into_response(StatusCode::UNAUTHORIZED);
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        resp
    }
}

/// Checks the request's `Authorization` header against the expected token.
/// A browser's credentials: the dashboard's login cookie, which holds the
/// token (base64url, so any token is a valid cookie value). It is
/// `HttpOnly` and `SameSite=Strict`: scripts cannot read it and other sites
/// cannot send it.
pub const COOKIE: &str = "frontdesk_token";

/// The login cookie's value for `token`.
pub fn cookie_value(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

/// The token in the login cookie, if there is one.
fn from_cookie(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(value.trim())
                .ok()
        })
}

/// Checks the request's `Authorization` header (or, without one, the
/// dashboard's login cookie) against the expected token.
pub fn verify(expected: &Secret, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        let token = from_cookie(headers).ok_or(Refusal::Missing)?;
        return check(expected, &token);
    };
    let value = value.as_bytes();
    // The scheme is case-insensitive (RFC 7235); one space, then the token.
    let token = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|_| value[7..].trim_ascii())
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::NotBearer)?;
    check(expected, token)
}

/// The one comparison of a presented token with the expected one.
pub fn check(expected: &Secret, token: &[u8]) -> Result<(), Refusal> {
    if !token.is_empty() && bool::from(token.ct_eq(expected.expose().as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

/// The OpenAPI security scheme of the data operations: take it as an
/// operation's first parameter and the operation needs the token.
pub struct ApiAuth;

impl<'a> ApiExtractor<'a> for ApiAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "The API token: API_TOKEN, or the file api-token in DATA_DIR when API_TOKEN \
                     is unset (frontdesk generates it at the first start and prints it).",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        let state = request.data::<AppState>().ok_or_else(|| {
            poem::Error::from_string("no application state", StatusCode::INTERNAL_SERVER_ERROR)
        })?;
        verify(state.api_token.secret(), request.headers())
            .map(|()| Self)
            .map_err(|r| poem::Error::from_response(r.into_response()))
    }
}

/// Requires the token on every request to the wrapped endpoint (for routes
/// that are not OpenAPI operations).
pub struct RequireToken(pub Secret);

impl<E: Endpoint> Middleware<E> for RequireToken {
    type Output = RequireTokenEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireTokenEndpoint {
            inner,
            token: self.0.clone(),
        }
    }
}

/// See [`RequireToken`].
pub struct RequireTokenEndpoint<E> {
    inner: E,
    token: Secret,
}

impl<E: Endpoint> Endpoint for RequireTokenEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        match verify(&self.token, req.headers()) {
            Ok(()) => Ok(self.inner.call(req).await?.into_response()),
            Err(refusal) => Ok(refusal.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::{EndpointExt, handler};

    use super::*;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = Secret::new("s3cret-token-value");
        assert_eq!(
            verify(&token, &headers(Some("Bearer s3cret-token-value"))),
            Ok(())
        );
        assert_eq!(
            verify(&token, &headers(Some("bearer s3cret-token-value"))),
            Ok(())
        );
        assert_eq!(verify(&token, &headers(None)), Err(Refusal::Missing));
        assert_eq!(
            verify(&token, &headers(Some("Basic czNjcmV0LXRva2VuLXZhbHVl"))),
            Err(Refusal::NotBearer)
        );
        assert_eq!(
            verify(&token, &headers(Some("Bearer "))),
            Err(Refusal::NotBearer)
        );
        assert_eq!(
            verify(&token, &headers(Some("s3cret-token-value"))),
            Err(Refusal::NotBearer)
        );
        assert_eq!(
            verify(&token, &headers(Some("Bearer s3cret-token-valuf"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            verify(&token, &headers(Some("Bearer s3cret-token-value-and-more"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            verify(&token, &headers(Some("Bearer s3cret"))),
            Err(Refusal::Wrong)
        );
    }

    #[handler]
    fn page() -> &'static str {
        "private"
    }

    #[tokio::test]
    async fn the_middleware_refuses_with_the_json_error_and_a_challenge() {
        let ep = page.with(RequireToken(Secret::new("s3cret-token-value")));
        let resp = ep.call(Request::builder().finish()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="frontdesk""#
        );
        let body = resp.into_body().into_vec().await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            json["error"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer")
        );

        let req = Request::builder()
            .header(header::AUTHORIZATION, "Bearer s3cret-token-value")
            .finish();
        let resp = ep.call(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.into_body().into_string().await.unwrap(), "private");
    }
}
