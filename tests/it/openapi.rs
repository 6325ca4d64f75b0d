//! The committed OpenAPI document is what the server serves.

use crate::helpers::spawn_app;

#[tokio::test]
async fn committed_openapi_document_matches_the_served_one() {
    let app = spawn_app(&[]).await;
    let served = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed (regenerate: cargo run -- openapi > openapi/openapi.json)");
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(
        served == committed,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&frontdesk::http::openapi_json()).unwrap()
    );
}

#[tokio::test]
async fn webhooks_are_documented_as_form_in_xml_out_under_their_own_tag() {
    let spec: serde_json::Value = serde_json::from_str(&frontdesk::http::openapi_json()).unwrap();
    for path in ["/voice/inbound", "/voice/outbound", "/voice/process-speech"] {
        let op = &spec["paths"][path]["post"];
        assert_eq!(op["tags"][0], "AnsweringCalls", "{path}");
        assert!(
            op["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
            "{path}"
        );
        assert!(
            op["responses"]["200"]["content"]["text/xml"].is_object(),
            "{path}"
        );
    }
    assert!(spec["paths"]["/voice/status"]["post"]["responses"]["204"].is_object());
    for path in [
        "/",
        "/health",
        "/sessions",
        "/session/{call_sid}",
        "/sessions/{call_sid}",
    ] {
        assert!(spec["paths"][path]["get"].is_object(), "{path}");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app(&[]).await;
    let resp = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("swagger"));
}
