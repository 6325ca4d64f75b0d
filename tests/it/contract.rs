//! The HTTP contract as documented: every operation of the served OpenAPI
//! document, tried with its own examples, answers a documented status with a
//! body that fits the documented schema; errors are the one JSON shape; a
//! body over the cap is refused without breaking the next request.

use serde_json::{Map, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, spawn_app};

/// Resolves `{"$ref": "#/components/schemas/X"}`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Checks `value` against the parts of JSON Schema poem-openapi emits:
/// types, required properties, items, additionalProperties, allOf.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(spec, schema);
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(spec, s, value, at);
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap();
                assert!(
                    obj.contains_key(req),
                    "{at}: required {req} missing in {value}"
                );
            }
            let props = schema["properties"].as_object();
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(spec, s, v, &format!("{at}.{k}")),
                    None => match schema.get("additionalProperties") {
                        Some(extra) if extra.is_object() => {
                            check(spec, extra, v, &format!("{at}.{k}"))
                        }
                        _ => panic!("{at}: undocumented property {k} in {value}"),
                    },
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: not an array: {value}"));
            for (i, item) in items.iter().enumerate() {
                check(spec, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: not a string: {value}"),
        Some("integer") => assert!(
            value.is_i64() || value.is_u64(),
            "{at}: not an integer: {value}"
        ),
        Some("number") => assert!(value.is_number(), "{at}: not a number: {value}"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: not a boolean: {value}"),
        _ => {}
    }
}

/// The example of a schema (or of the schema it refers to).
fn example(spec: &Value, schema: &Value) -> Value {
    let schema = resolve(spec, schema);
    schema["example"].clone()
}

/// Sends the documented example request of one operation.
async fn try_operation(
    app: &TestApp,
    client: &reqwest::Client,
    spec: &Value,
    path: &str,
    method: &str,
    op: &Value,
) -> reqwest::Response {
    let mut url_path = path.to_owned();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap();
        let ex = &p["schema"]["example"];
        let text = match ex {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        match p["in"].as_str().unwrap() {
            "path" => url_path = url_path.replace(&format!("{{{name}}}"), &text),
            "query" => query.push((name.to_owned(), text)),
            "header" => headers.push((name.to_owned(), text)),
            other => panic!("{other}"),
        }
    }
    assert!(
        !url_path.contains('{'),
        "{method} {path}: a path parameter has no example"
    );
    let url = format!("{}{url_path}", app.base);
    let mut req = match method {
        "get" => client.get(url),
        "post" => client.post(url),
        other => panic!("{other}"),
    }
    .query(&query);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        let (media, body) = content.iter().next().unwrap();
        let ex = example(spec, &body["schema"]);
        assert!(
            !ex.is_null(),
            "{method} {path}: the request body has no example"
        );
        req = if media.starts_with("application/json") {
            req.json(&ex)
        } else {
            assert_eq!(
                media, "application/x-www-form-urlencoded",
                "{method} {path}"
            );
            let pairs: Vec<(String, String)> = ex
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect();
            req.form(&pairs)
        };
    }
    req.send().await.unwrap()
}

/// Checks an answer against the operation's documented responses.
async fn check_answer(spec: &Value, what: &str, op: &Value, resp: reqwest::Response) -> u16 {
    let status = resp.status().as_u16();
    let documented = &op["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{what}: status {status} is not documented"
    );
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    match documented["content"].as_object() {
        None => assert!(body.is_empty(), "{what}: {status} documents no body"),
        Some(content) => {
            let ct = ct.unwrap_or_else(|| panic!("{what}: {status} has no content type"));
            let (media, schema) = content
                .iter()
                .find(|(m, _)| ct.starts_with(m.split(';').next().unwrap()))
                .unwrap_or_else(|| panic!("{what}: {status} answered {ct}, not documented"));
            if media.starts_with("application/json") {
                let json: Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{what}: {status} is not JSON ({e})"));
                check(spec, &schema["schema"], &json, what);
            }
        }
    }
    status
}

#[tokio::test]
async fn every_documented_operation_answers_its_examples_as_documented() {
    let app = spawn_app(&[]).await;
    let spec: Value = app
        .bare_client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tried = 0;
    let paths = spec["paths"].as_object().unwrap().clone();
    for (path, ops) in &paths {
        for (method, op) in ops.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(
                !op["summary"].as_str().unwrap_or_default().contains('`'),
                "{what}: a backtick in the summary"
            );
            let resp = try_operation(&app, &app.client, &spec, path, method, op).await;
            let status = check_answer(&spec, &what, op, resp).await;
            assert!(status < 500 || status == 503, "{what}: {status}");
            tried += 1;

            // Without the token, a guarded operation answers its documented 401.
            if op["security"].is_array() {
                let resp = try_operation(&app, &app.bare_client, &spec, path, method, op).await;
                assert_eq!(check_answer(&spec, &what, op, resp).await, 401, "{what}");
            }
        }
    }
    assert!(tried >= 15, "only {tried} operations");
}

#[tokio::test]
async fn every_schema_and_parameter_has_an_example_and_the_webhooks_come_first() {
    let spec: Value = serde_json::from_str(&frontdesk::http::openapi_json()).unwrap();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if schema["type"] == "object" {
            assert!(!schema["example"].is_null(), "schema {name} has no example");
            // The example fits its own schema.
            check(&spec, schema, &schema["example"], name);
        }
    }
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let header = p["in"] == "header";
                assert!(
                    header || !p["schema"]["example"].is_null(),
                    "{method} {path}: parameter {} has no example",
                    p["name"]
                );
            }
        }
    }
    assert_eq!(spec["tags"][0]["name"], "AnsweringCalls");
    let webhook = spec["components"]["schemas"]["VoiceForm"]["example"].clone();
    assert!(webhook["CallSid"].as_str().unwrap().starts_with("CA"));
    assert!(webhook["From"].as_str().unwrap().starts_with('+'));
    assert!(!webhook["SpeechResult"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn errors_raised_outside_handlers_are_the_json_error_too() {
    let app = spawn_app(&[]).await;
    let url = |p: &str| format!("{}{p}", app.base);
    let cases = [
        // A query parameter that does not parse.
        (app.client.get(url("/sessions?limit=null")), 400),
        (app.client.get(url("/sessions?include_ended=maybe")), 400),
        // No or the wrong content type.
        (app.client.post(url("/make-call")).body("{}"), 415),
        (
            app.client
                .post(url("/make-call"))
                .header("content-type", "text/plain")
                .body("{}"),
            415,
        ),
        (
            app.client.post(url("/voice/inbound")).body("CallSid=x"),
            415,
        ),
        // JSON that does not parse, or null where the schema says a type.
        (
            app.client
                .post(url("/make-call"))
                .header("content-type", "application/json")
                .body("{"),
            400,
        ),
        (
            app.client
                .post(url("/make-call"))
                .json(&serde_json::json!({"to_number": null})),
            400,
        ),
        (
            app.client
                .post(url("/make-call"))
                .json(&serde_json::json!({"to_number": "+14155550100", "machine_detection": null})),
            400,
        ),
        // Unknown routes and methods.
        (app.client.get(url("/nope")), 404),
        (app.client.delete(url("/sessions")), 405),
    ];
    for (req, expected) in cases {
        let req = req.build().unwrap();
        let what = format!("{} {}", req.method(), req.url());
        let resp = app.client.execute(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{what}");
        if expected == 405 {
            assert_eq!(resp.headers()["allow"], "GET", "{what}");
        }
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}"
        );
        let body: Map<String, Value> = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}"
        );
        assert!(body.values().all(|v| !v.is_null()), "{what}: {body:?}");
    }
}

/// Reads one HTTP/1.1 response head from a raw socket.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

#[tokio::test]
async fn a_body_over_the_cap_gets_413_and_connection_close_and_the_next_request_works() {
    let app = spawn_app(&[("MAX_REQUEST_BYTES", "2048")]).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let token = app.api_token.clone();

    // Declared too large: refused before the body is read.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /make-call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b' '; 4096]).await.unwrap();
    let answer = read_head(&mut s).await;
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // The server closes this connection rather than read the rest as a request.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("HTTP/1.1"),
        "a second answer on the same connection: {rest}"
    );

    // Too large without a declared length (chunked).
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /voice/process-speech HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = "a".repeat(4000);
    s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    let answer = read_head(&mut s).await;
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");

    // A keep-alive client's next request, on a new connection, works.
    let client = reqwest::Client::new();
    let big = client
        .post(format!("{}/make-call", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; 10_000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let body: Value = big.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("2048"), "{body}");
    let next = client
        .get(format!("{}/sessions", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
}
