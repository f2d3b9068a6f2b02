//! Tests of the fake Gemini and OpenAI servers themselves: every integration test of
//! postmill trusts them to behave like the real APIs, so their fidelity is tested here
//! over real HTTP with reqwest.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use postmill::summary::schema::response_schema;
use postmill::summary::{CombinedAnswer, OcrAnswer};
use postmill_testkit::gemini::{FakeGemini, Fault, GeminiConfig, KeyStatus, Limits};
use postmill_testkit::openai::{FakeOpenAi, OpenAiConfig, RetryAfter};
use serde_json::{Value, json};

const FLASH: &str = "gemini-2.5-flash";
const LITE: &str = "gemini-2.5-flash-lite";

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// Two keys of project A, one of project B.
fn gemini_config() -> GeminiConfig {
    GeminiConfig::default().key("key-a1", "a1", "proj-a").key("key-a2", "a2", "proj-a").key("key-b", "b", "proj-b")
}

fn text_request(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

async fn generate(server: &FakeGemini, key: &str, model: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}/v1beta/models/{model}:generateContent", server.base_url());
    let response = client().post(url).header("x-goog-api-key", key).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn candidate_text(body: &Value) -> &str {
    body["candidates"][0]["content"]["parts"][0]["text"].as_str().expect("candidate text")
}

fn quota_violation(body: &Value) -> &Value {
    let details = body["error"]["details"].as_array().unwrap();
    let failure = details.iter().find(|d| d["@type"].as_str().unwrap().ends_with("QuotaFailure")).unwrap();
    &failure["violations"][0]
}

fn retry_delay(body: &Value) -> Duration {
    let details = body["error"]["details"].as_array().unwrap();
    let info = details.iter().find(|d| d["@type"].as_str().unwrap().ends_with("RetryInfo")).unwrap();
    let text = info["retryDelay"].as_str().unwrap();
    Duration::from_secs_f64(text.strip_suffix('s').unwrap().parse().unwrap())
}

/// A minimal JSON Schema check: types (incl. nullable lists), enums, closed objects with
/// required properties, arrays.
fn validates(schema: &Value, value: &Value) -> bool {
    if let Some(options) = schema["enum"].as_array() {
        return options.contains(value);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types.iter().any(|t| match (*t, value) {
        ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("array", Value::Array(items)) => items.iter().all(|i| validates(&schema["items"], i)),
        ("object", Value::Object(map)) => {
            let props = schema["properties"].as_object().cloned().unwrap_or_default();
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            required.iter().all(|r| map.contains_key(r.as_str().unwrap()))
                && map.iter().all(|(k, v)| props.get(k).is_some_and(|s| validates(s, v)))
        }
        _ => false,
    })
}

fn sha8(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)[..4].iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Gemini

#[tokio::test]
async fn gemini_list_models_is_paginated_like_the_real_api() {
    let server = FakeGemini::start(gemini_config()).await;
    let mut names = Vec::new();
    let mut tokens = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{}/v1beta/models", server.base_url());
        if let Some(t) = &token {
            url.push_str(&format!("?pageToken={t}"));
        }
        let body: Value =
            client().get(url).header("x-goog-api-key", "key-a1").send().await.unwrap().json().await.unwrap();
        for model in body["models"].as_array().unwrap() {
            names.push(model["name"].as_str().unwrap().to_string());
            assert!(model["supportedGenerationMethods"].is_array());
        }
        token = body["nextPageToken"].as_str().map(str::to_string);
        match &token {
            Some(t) => tokens.push(t.clone()),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "models/gemini-2.5-flash",
            "models/gemini-2.5-flash-lite",
            "models/gemini-flash-latest",
            "models/gemini-2.5-pro",
            "models/text-embedding-004"
        ]
    );
    assert!(tokens.iter().all(|t| t.starts_with("Ch")), "protobuf-like tokens: {tokens:?}");
    assert_eq!(server.list_model_requests(), 3);

    // The token the real API gave after gemini-2.5-flash-lite works here too.
    let url = format!("{}/v1beta/models?pageToken=Ch5tb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaC1saXRl", server.base_url());
    let body: Value = client().get(url).header("x-goog-api-key", "key-a1").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["models"][0]["name"], "models/gemini-flash-latest");
    let url = format!("{}/v1beta/models?pageToken=garbage", server.base_url());
    let response = client().get(url).header("x-goog-api-key", "key-a1").send().await.unwrap();
    assert_eq!(response.status(), 400);

    let url = format!("{}/v1beta/models?pageSize=50", server.base_url());
    let body: Value = client().get(url).header("x-goog-api-key", "key-b").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["models"].as_array().unwrap().len(), 5);
    assert!(body.get("nextPageToken").is_none());
    let embedding = &body["models"][4];
    assert_eq!(embedding["supportedGenerationMethods"], json!(["embedContent"]));
}

#[tokio::test]
async fn gemini_refuses_bad_keys_with_the_real_bodies() {
    let config = gemini_config().key_with_status("key-leaked", "leaked", "proj-a", KeyStatus::Leaked).key_with_status(
        "key-susp",
        "susp",
        "proj-a",
        KeyStatus::Suspended,
    );
    let server = FakeGemini::start(config).await;
    let body = text_request("hi");

    let (status, answer) = generate(&server, "nope", FLASH, &body).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let (status, answer) = generate(&server, "key-leaked", FLASH, &body).await;
    assert_eq!(status, 403);
    assert!(answer["error"]["message"].as_str().unwrap().contains("leaked"));
    let (status, answer) = generate(&server, "key-susp", FLASH, &body).await;
    assert_eq!(status, 403);
    assert_eq!(answer["error"]["details"][0]["reason"], "CONSUMER_SUSPENDED");

    let url = format!("{}/v1beta/models/{FLASH}:generateContent", server.base_url());
    let response = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 403, "no key at all");
    let response = client().post(format!("{url}?key=key-a1")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "the real API accepts ?key=");
    assert_eq!(server.key_in_url_count(), 1);

    let log = server.requests();
    let last = log.last().unwrap();
    assert_eq!((last.key_name.as_deref(), last.project.as_deref()), (Some("a1"), Some("proj-a")));
    assert!(!last.path.contains("key"), "the URL key must not be logged: {}", last.path);
    let printed = format!("{log:?}");
    for key in ["key-a1", "key-leaked", "key-susp"] {
        assert!(!printed.contains(key), "{key} in the log");
    }
}

#[tokio::test]
async fn gemini_unknown_and_embedding_only_models_are_404() {
    let server = FakeGemini::start(gemini_config()).await;
    for model in ["gemini-1.5-flash", "gemini-9-ultra", "text-embedding-004"] {
        let (status, body) = generate(&server, "key-a1", model, &text_request("hi")).await;
        assert_eq!(status, 404);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("models/{model} is not found")), "{message}");
        assert_eq!(body["error"]["status"], "NOT_FOUND");
    }
    server.remove_model(FLASH);
    assert_eq!(generate(&server, "key-a1", FLASH, &text_request("hi")).await.0, 404);
}

#[tokio::test]
async fn gemini_per_minute_quota_is_shared_by_the_keys_of_a_project() {
    let config = gemini_config().limits("proj-a", FLASH, Limits::default().rpm(2));
    let server = FakeGemini::start(config).await;
    let body = text_request("hi");
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    assert_eq!(generate(&server, "key-a2", FLASH, &body).await.0, 200);
    let (status, refusal) = generate(&server, "key-a2", FLASH, &body).await;
    assert_eq!(status, 429);
    let violation = quota_violation(&refusal);
    assert_eq!(violation["quotaId"], "GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
    assert_eq!(violation["quotaValue"], "2");
    assert_eq!(violation["quotaDimensions"]["model"], FLASH);
    let delay = retry_delay(&refusal);
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(60), "{delay:?}");
    assert_eq!(refusal["error"]["status"], "RESOURCE_EXHAUSTED");

    // Another project, another model: their own pools.
    assert_eq!(generate(&server, "key-b", FLASH, &body).await.0, 200);
    assert_eq!(generate(&server, "key-a1", LITE, &body).await.0, 200);
    assert_eq!(server.count_status(429), 1);
    assert_eq!(server.requests().iter().filter_map(|r| r.quota_id.as_deref()).count(), 1);
}

#[tokio::test]
async fn gemini_minute_window_slides() {
    let minute = Duration::from_secs(2);
    let config = gemini_config().minute(minute).limits_all(FLASH, Limits::default().rpm(2));
    let server = FakeGemini::start(config).await;
    let body = text_request("hi");
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    tokio::time::sleep(minute / 2).await;
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    let (status, refusal) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(status, 429);
    // The window frees when the first request leaves it, not at a fixed minute boundary.
    let delay = retry_delay(&refusal);
    assert!(delay < minute / 2 + Duration::from_millis(100), "{delay:?}");
    tokio::time::sleep(delay).await;
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    // The second request is still inside the window: one slot only was freed.
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 429);
}

#[tokio::test]
async fn gemini_input_tokens_per_minute() {
    let config = gemini_config().limits("proj-a", FLASH, Limits::default().tpm(600));
    let server = FakeGemini::start(config).await;
    let body = text_request(&"x".repeat(1000)); // 250 tokens
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    assert_eq!(generate(&server, "key-a2", FLASH, &body).await.0, 200);
    let (status, refusal) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(status, 429);
    let violation = quota_violation(&refusal);
    assert_eq!(violation["quotaId"], "GenerateContentInputTokensPerModelPerMinute-FreeTier");
    assert_eq!(violation["quotaValue"], "600");
    assert_eq!(server.requests()[0].prompt_tokens, 250);
}

#[tokio::test]
async fn gemini_daily_quota_exhausts_with_the_misleading_retry_delay() {
    let config = gemini_config().limits("proj-a", LITE, Limits::default().rpd(3).rpm(100));
    let server = FakeGemini::start(config).await;
    let body = text_request("hi");
    for key in ["key-a1", "key-a2", "key-a1"] {
        assert_eq!(generate(&server, key, LITE, &body).await.0, 200);
    }
    assert_eq!(server.used_today("proj-a", LITE), 3);
    let (status, refusal) = generate(&server, "key-a2", LITE, &body).await;
    assert_eq!(status, 429);
    let violation = quota_violation(&refusal);
    assert_eq!(violation["quotaId"], "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
    assert_eq!(violation["quotaValue"], "3");
    assert_eq!(violation["quotaDimensions"]["model"], LITE);
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("limit: 3, model: {LITE}\nPlease retry in ")), "{message}");
    assert!(retry_delay(&refusal) <= Duration::from_secs(60), "a few seconds, like the real trap");
    assert_eq!(server.used_today("proj-a", LITE), 3, "a refused request does not count");

    // Another project is untouched; the next Pacific day starts afresh.
    assert_eq!(generate(&server, "key-b", LITE, &body).await.0, 200);
    server.reset_day();
    assert_eq!(generate(&server, "key-a1", LITE, &body).await.0, 200);
    server.set_used_today("proj-a", LITE, 3);
    assert_eq!(generate(&server, "key-a1", LITE, &body).await.0, 429);
}

#[tokio::test]
async fn gemini_limit_zero_body() {
    let config = gemini_config().limits_all("gemini-2.5-pro", Limits::default().rpd(0));
    let server = FakeGemini::start(config).await;
    let (status, refusal) = generate(&server, "key-b", "gemini-2.5-pro", &text_request("hi")).await;
    assert_eq!(status, 429);
    let violation = quota_violation(&refusal);
    assert_eq!(violation["quotaValue"], "0");
    assert!(violation["quotaId"].as_str().unwrap().contains("PerDay"));
    assert!(refusal["error"]["message"].as_str().unwrap().contains("limit: 0, model: gemini-2.5-pro"));
}

#[tokio::test]
async fn gemini_scripted_error_faults_then_recovery() {
    let config = gemini_config().limits("proj-a", FLASH, Limits::default().rpd(1));
    let server = FakeGemini::start(config).await;
    server.push_faults(FLASH, [Fault::Internal, Fault::Overloaded, Fault::RateLimitedNoDetails]);
    let body = text_request("hi");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, answer) = generate(&server, "key-a1", FLASH, &body).await;
        statuses.push((status, answer["error"]["status"].as_str().unwrap().to_string()));
    }
    assert_eq!(statuses, [(500, "INTERNAL".into()), (503, "UNAVAILABLE".into()), (429, "RESOURCE_EXHAUSTED".into())]);
    // Refused requests spent no quota: the one allowed request of the day still passes.
    assert_eq!(generate(&server, "key-a1", FLASH, &body).await.0, 200);
    assert_eq!(server.requests_to(FLASH), 4);

    server.set_always(LITE, Some(Fault::Overloaded));
    for _ in 0..2 {
        assert_eq!(generate(&server, "key-a1", LITE, &body).await.0, 503);
    }
    server.set_always(LITE, None);
    assert_eq!(generate(&server, "key-a1", LITE, &body).await.0, 200);
}

#[tokio::test]
async fn gemini_faults_inside_a_200() {
    let server = FakeGemini::start(gemini_config()).await;
    let schema = response_schema::<OcrAnswer>();
    let body = json!({
        "contents": [{"parts": [{"text": "read it"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema},
    });
    server.push_faults(FLASH, [Fault::Blocked, Fault::MaxTokens, Fault::InvalidJson]);

    let (status, blocked) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(status, 200);
    assert_eq!(blocked["promptFeedback"]["blockReason"], "SAFETY");
    assert!(blocked.get("candidates").is_none());

    let (_, truncated) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(truncated["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert!(serde_json::from_str::<Value>(candidate_text(&truncated)).is_err());

    let (_, invalid) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(invalid["candidates"][0]["finishReason"], "STOP");
    assert!(serde_json::from_str::<Value>(candidate_text(&invalid)).is_err());

    let (_, fine) = generate(&server, "key-a1", FLASH, &body).await;
    serde_json::from_str::<OcrAnswer>(candidate_text(&fine)).unwrap();
}

#[tokio::test]
async fn gemini_broken_transport_faults() {
    let server = FakeGemini::start(gemini_config()).await;
    let url = format!("{}/v1beta/models/{FLASH}:generateContent", server.base_url());
    let send = || client().post(&url).header("x-goog-api-key", "key-a1").json(&text_request("hi")).send();

    server.push_fault(FLASH, Fault::TruncatedBody);
    let response = send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "half a JSON document");

    server.push_fault(FLASH, Fault::ConnectionCut);
    let result = match send().await {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(result.is_err(), "the connection drops mid-body");

    server.push_fault(FLASH, Fault::Hang);
    let hung = client()
        .post(&url)
        .header("x-goog-api-key", "key-a1")
        .timeout(Duration::from_millis(300))
        .json(&text_request("hi"))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    server.push_fault(FLASH, Fault::Delay(Duration::from_millis(50)));
    assert_eq!(send().await.unwrap().status(), 200);
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 0, 200]);
}

#[tokio::test]
async fn gemini_combined_answer_follows_the_schema_and_the_images() {
    let server = FakeGemini::start(gemini_config()).await;
    let schema = response_schema::<CombinedAnswer>();
    let (one, two) = (b"first image bytes".as_slice(), b"second image bytes".as_slice());
    let body = json!({
        "systemInstruction": {"parts": [{"text": "You summarise interview posts."}]},
        "contents": [{"role": "user", "parts": [
            {"text": "Post text: 美团一面"},
            {"text": "Image file: image_1.jpg"},
            {"inlineData": {"mimeType": "image/jpeg", "data": BASE64.encode(one)}},
            {"text": "Image file: image_10.png"},
            {"inline_data": {"mime_type": "image/png", "data": BASE64.encode(two)}},
        ]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": schema,
            "maxOutputTokens": 8192,
            "thinkingConfig": {"thinkingBudget": 0},
        },
    });
    let (status, answer) = generate(&server, "key-a1", LITE, &body).await;
    assert_eq!(status, 200);
    let text = candidate_text(&answer);
    let value: Value = serde_json::from_str(text).unwrap();
    assert!(validates(&schema, &value), "{value:#}");
    let combined: CombinedAnswer = serde_json::from_value(value).unwrap();
    let files: Vec<&str> = combined.images.iter().map(|i| i.file.as_str()).collect();
    assert_eq!(files, ["image_1.jpg", "image_10.png"]);
    assert!(combined.images[0].text.contains(&sha8(one)));
    assert!(combined.images[1].text.contains(&sha8(two)));

    assert_eq!(answer["candidates"][0]["finishReason"], "STOP");
    assert_eq!(answer["modelVersion"], LITE);
    let usage = &answer["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], 0);
    let sum: u64 = ["promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"]
        .iter()
        .map(|k| usage[k].as_u64().unwrap())
        .sum();
    assert_eq!(usage["totalTokenCount"].as_u64().unwrap(), sum);
    assert!(usage["promptTokenCount"].as_u64().unwrap() >= 2 * 258);
    let logged = &server.requests()[0];
    assert_eq!((logged.images, logged.has_schema), (2, true));
}

#[tokio::test]
async fn gemini_ocr_and_openapi_style_schemas() {
    let server = FakeGemini::start(gemini_config()).await;
    let image = b"png bytes".as_slice();
    let ocr = json!({
        "contents": [{"parts": [{"text": "Image file: a.png"}, {"inlineData": {"mimeType": "image/png", "data": BASE64.encode(image)}}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": response_schema::<OcrAnswer>()},
    });
    let (_, answer) = generate(&server, "key-a1", FLASH, &ocr).await;
    let parsed: OcrAnswer = serde_json::from_str(candidate_text(&answer)).unwrap();
    assert!(parsed.text.contains(&sha8(image)), "{}", parsed.text);
    assert!(answer["usageMetadata"]["thoughtsTokenCount"].as_u64().unwrap() > 0, "flash thinks by default");

    // Gemini's own OpenAPI-subset dialect: upper-case types, `nullable`.
    let schema = json!({"type": "OBJECT", "properties": {
        "level": {"type": "STRING", "enum": ["easy", "hard"]},
        "count": {"type": "INTEGER"},
        "note": {"type": "STRING", "nullable": true},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
    }});
    let body = json!({
        "contents": [{"parts": [{"text": "go"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema},
    });
    let (_, answer) = generate(&server, "key-a1", FLASH, &body).await;
    let value: Value = serde_json::from_str(candidate_text(&answer)).unwrap();
    assert_eq!(value["level"], "easy");
    assert!(value["count"].is_i64() && value["note"].is_string() && value["tags"].is_array());
}

#[tokio::test]
async fn gemini_rejects_invalid_requests_like_the_real_api() {
    let server = FakeGemini::start(gemini_config()).await;
    let unknown = json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseFormat": {}}});
    let (status, body) = generate(&server, "key-a1", FLASH, &unknown).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("Unknown name \"responseFormat\""));

    let no_mime = json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseJsonSchema": {"type": "object"}}});
    assert_eq!(generate(&server, "key-a1", FLASH, &no_mime).await.0, 400);

    let no_thinking = json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}});
    assert_eq!(generate(&server, "key-a1", "gemini-2.5-pro", &no_thinking).await.0, 400);
    assert_eq!(generate(&server, "key-a1", FLASH, &no_thinking).await.0, 200);
}

#[tokio::test]
async fn gemini_thoughts_can_eat_the_whole_output_budget() {
    let server = FakeGemini::start(gemini_config()).await;
    let body = json!({
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": response_schema::<CombinedAnswer>(), "maxOutputTokens": 50},
    });
    let (status, answer) = generate(&server, "key-a1", FLASH, &body).await;
    assert_eq!(status, 200);
    let candidate = &answer["candidates"][0];
    assert_eq!(candidate["finishReason"], "MAX_TOKENS");
    assert!(candidate["content"].get("parts").is_none(), "{candidate}");
}

// ---------------------------------------------------------------------------------------
// OpenAI-compatible

fn openai_config() -> OpenAiConfig {
    OpenAiConfig::default().key("sk-test-a1-0000000000", "a1", "proj-a").key("sk-test-b-0000000000", "b", "proj-b")
}

async fn chat(server: &FakeOpenAi, key: &str, body: &Value) -> reqwest::Response {
    let url = format!("{}/chat/completions", server.base_url());
    client().post(url).bearer_auth(key).json(body).send().await.unwrap()
}

fn chat_body(model: &str, schema: Value) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}},
    })
}

#[tokio::test]
async fn openai_models_and_auth() {
    let server = FakeOpenAi::start(openai_config()).await;
    let url = format!("{}/models", server.base_url());
    let body: Value =
        client().get(&url).bearer_auth("sk-test-a1-0000000000").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(
        body["data"][0],
        json!({"id": "gpt-4o-mini", "object": "model", "created": 1_715_367_049, "owned_by": "system"})
    );

    let response = client().get(&url).bearer_auth("sk-wrong-key-123456789").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let response = chat(&server, "", &chat_body("gpt-4o-mini", json!({}))).await;
    assert_eq!(response.status(), 401);

    let no_list = FakeOpenAi::start(openai_config().list_models(false)).await;
    let url = format!("{}/models", no_list.base_url());
    assert_eq!(client().get(url).bearer_auth("sk-test-a1-0000000000").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn openai_structured_answer_with_images() {
    let server = FakeOpenAi::start(openai_config()).await;
    let schema = response_schema::<CombinedAnswer>();
    let image = b"jpeg bytes".as_slice();
    let mut body = chat_body("gpt-4o-mini", schema.clone());
    body["messages"] = json!([
        {"role": "system", "content": "You summarise interview posts."},
        {"role": "user", "content": [
            {"type": "text", "text": "Image file: image_1.jpg"},
            {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{}", BASE64.encode(image))}},
        ]},
    ]);
    let response = chat(&server, "sk-test-a1-0000000000", &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let content: Value = serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(validates(&schema, &content));
    let combined: CombinedAnswer = serde_json::from_value(content).unwrap();
    assert_eq!(combined.images[0].file, "image_1.jpg");
    assert!(combined.images[0].text.contains(&sha8(image)));
    let usage = &answer["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(server.requests()[0].images, 1);
}

#[tokio::test]
async fn openai_schema_support_and_strictness() {
    let strict_less = FakeOpenAi::start(openai_config().json_schema(false)).await;
    let schema = response_schema::<OcrAnswer>();
    let response = chat(&strict_less, "sk-test-a1-0000000000", &chat_body("gpt-4o-mini", schema.clone())).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "response_format");

    let server = FakeOpenAi::start(openai_config()).await;
    let open = json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
    let response = chat(&server, "sk-test-a1-0000000000", &chat_body("gpt-4o-mini", open)).await;
    assert_eq!(response.status(), 400, "strict mode needs additionalProperties: false");

    // json_object mode: the schema travels in the prompt.
    let body = json!({
        "model": "qwen-vl-plus",
        "messages": [{"role": "user", "content": format!("Answer with JSON matching {schema}")}],
        "response_format": {"type": "json_object"},
    });
    let answer: Value = chat(&server, "sk-test-a1-0000000000", &body).await.json().await.unwrap();
    serde_json::from_str::<OcrAnswer>(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();

    let response = chat(&server, "sk-test-a1-0000000000", &chat_body("gpt-9", schema)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["message"], "The model `gpt-9` does not exist or you do not have access to it.");
}

#[tokio::test]
async fn openai_rate_limit_headers_and_early_requests() {
    let config = openai_config().rpm("gpt-4o-mini", 1).minute(Duration::from_millis(1500));
    let server = FakeOpenAi::start(config).await;
    let body = chat_body("gpt-4o-mini", response_schema::<OcrAnswer>());
    let key = "sk-test-a1-0000000000";

    let ok = chat(&server, key, &body).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-ratelimit-limit-requests"], "1");
    assert_eq!(ok.headers()["x-ratelimit-remaining-requests"], "0");

    let limited = chat(&server, key, &body).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after));
    assert!(limited.headers()["x-ratelimit-reset-requests"].to_str().unwrap().ends_with('s'));
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert_eq!(error["error"]["type"], "requests");
    assert!(error["error"]["message"].as_str().unwrap().starts_with("Rate limit reached for gpt-4o-mini"));

    assert_eq!(chat(&server, key, &body).await.status(), 429, "too early");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(chat(&server, key, &body).await.status(), 200);
    let early = server.early_requests();
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].status, 429);
    // Another project has its own window.
    assert_eq!(chat(&server, "sk-test-b-0000000000", &body).await.status(), 200);
}

#[tokio::test]
async fn openai_retry_after_as_http_date() {
    let config = openai_config().rpm("gpt-4o-mini", 1).retry_after(RetryAfter::HttpDate);
    let server = FakeOpenAi::start(config).await;
    let body = chat_body("gpt-4o-mini", response_schema::<OcrAnswer>());
    chat(&server, "sk-test-a1-0000000000", &body).await;
    let limited = chat(&server, "sk-test-a1-0000000000", &body).await;
    let date = limited.headers()["retry-after"].to_str().unwrap().to_string();
    assert!(date.ends_with(" GMT"), "{date}");
    let at = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(&date).unwrap();
    let wait = at.duration_since(jiff::Timestamp::now());
    assert!(wait.as_secs() > 0 && wait.as_secs() <= 61, "{wait:?}");
}
