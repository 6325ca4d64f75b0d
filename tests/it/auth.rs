//! The API token: every data route needs it, the open routes and Twilio's
//! webhooks do not, and the generated token is kept private and reused.

use serde_json::Value;

use crate::helpers::{TestApp, sid, spawn_app, spawn_app_in};

/// Every route that reads or changes data, with a request that would
/// succeed (or fail for another reason) with the token.
fn data_routes() -> Vec<(&'static str, String)> {
    let call = sid(7);
    vec![
        ("POST", "/make-call".into()),
        ("GET", "/sessions".into()),
        ("GET", format!("/session/{call}")),
        ("GET", format!("/sessions/{call}")),
        ("POST", format!("/calls/{call}/hangup")),
        ("GET", "/appointments".into()),
        ("GET", "/messages".into()),
        ("GET", "/metrics".into()),
    ]
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> reqwest::Response {
    let url = format!("{}{path}", app.base);
    let mut req = match method {
        "POST" => app
            .bare_client
            .post(url)
            .json(&serde_json::json!({"to_number": "+14155550100"})),
        _ => app.bare_client.get(url),
    };
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

async fn assert_refused(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 401, "{what}");
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    assert!(
        body.as_object().unwrap().values().all(|v| !v.is_null()),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn every_data_route_refuses_a_missing_a_non_bearer_or_a_wrong_token() {
    let app = spawn_app(&[]).await;
    let basic = format!("Basic {}", app.api_token);
    let wrong = format!("Bearer {}x", app.api_token);
    let prefix = format!("Bearer {}", &app.api_token[..10]);
    for (method, path) in data_routes() {
        for (authorization, why) in [
            (None, "no token"),
            (Some(basic.as_str()), "Basic scheme"),
            (Some(app.api_token.as_str()), "no scheme"),
            (Some("Bearer"), "empty bearer"),
            (Some(wrong.as_str()), "wrong token"),
            (Some(prefix.as_str()), "a prefix of the token"),
        ] {
            let resp = send(&app, method, &path, authorization).await;
            assert_refused(resp, &format!("{method} {path}: {why}")).await;
        }
        // The right token gets past the guard (whatever the route answers then).
        let right = format!("Bearer {}", app.api_token);
        let resp = send(&app, method, &path, Some(&right)).await;
        assert_ne!(resp.status(), 401, "{method} {path}");
    }
    // A refused request changed nothing.
    let (_, list) = app.get_json("/sessions?include_ended=true").await;
    assert_eq!(list["active_sessions"], 0);
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_is_read() {
    let app = spawn_app(&[]).await;
    let resp = app
        .bare_client
        .post(format!("{}/make-call", app.base))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_refused(resp, "unauthenticated, wrong content type").await;
}

#[tokio::test]
async fn the_open_routes_and_twilios_webhooks_need_no_token() {
    let app = spawn_app(&[]).await;
    for path in ["/", "/health", "/docs", "/openapi.json"] {
        let resp = app
            .bare_client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let resp = app
        .bare_client
        .post(format!("{}/voice/inbound", app.base))
        .form(&[("CallSid", sid(1).as_str()), ("From", "+14155550100")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_token_is_generated_once_kept_private_and_reused_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app_in(tmp.path().to_path_buf(), &[]).await;
    let file = tmp.path().join("api-token");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert_eq!(stored.trim(), app.api_token);
    assert!(app.api_token.len() >= 32, "{}", app.api_token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let first = app.api_token.clone();
    app.stop().await;

    let app = spawn_app_in(tmp.path().to_path_buf(), &[]).await;
    assert_eq!(app.api_token, first, "the stored token is reused");
    let resp = send(&app, "GET", "/sessions", Some(&format!("Bearer {first}"))).await;
    assert_eq!(resp.status(), 200);
    app.stop().await;

    // Another data directory gets another token; the old one is refused there.
    let other = spawn_app(&[]).await;
    assert_ne!(other.api_token, first);
    let resp = send(&other, "GET", "/sessions", Some(&format!("Bearer {first}"))).await;
    assert_refused(resp, "another server's token").await;
}

#[tokio::test]
async fn api_token_is_used_as_given_and_no_file_is_written() {
    let token = "a-configured-token-0123456789";
    let app = spawn_app(&[("API_TOKEN", token)]).await;
    assert_eq!(app.api_token, token);
    assert!(!app.data_dir.join("api-token").exists());
    let resp = send(
        &app,
        "GET",
        "/appointments",
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme_on_exactly_the_data_operations() {
    let spec: Value = serde_json::from_str(&frontdesk::http::openapi_json()).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["ApiToken"]["type"],
        "http"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["ApiToken"]["scheme"],
        "bearer"
    );
    let data: Vec<(String, String)> = data_routes()
        .into_iter()
        .map(|(m, p)| {
            let templated = p.replace(&sid(7), "{call_sid}");
            (m.to_lowercase(), templated)
        })
        .collect();
    let mut secured = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let needs_token = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("ApiToken").is_some()));
            if needs_token {
                secured.push((method.clone(), path.clone()));
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: 401 undocumented"
                );
                assert!(
                    op["responses"]["401"]["headers"]["WWW-AUTHENTICATE"].is_object(),
                    "{method} {path}"
                );
            } else {
                let open = path == "/" || path == "/health" || path.starts_with("/voice/");
                assert!(
                    open,
                    "{method} {path} is neither open nor guarded by the token"
                );
            }
        }
    }
    secured.sort();
    let mut expected = data;
    expected.sort();
    assert_eq!(secured, expected);
}
