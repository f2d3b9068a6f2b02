//! The `openai` provider against a real HTTP server (wiremock on 127.0.0.1): what it
//! sends, how it reads answers, and how each kind of refusal becomes a `Failure`.

use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use postmill::config::{ApiKey, RemoteConfig};
use postmill::provider::openai::OpenAiProvider;
use postmill::provider::{
    Answer, Budget, Call, CallError, Failure, Generation, ImageInput, OcrText, PostInput, Provider, QuotaScope, Task,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "sk-test-Zq81SECRETvalue0042";
const MODEL: &str = "qwen-vl-max";

fn png(shade: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(3, 2, image::Rgb([shade, 255 - shade, 7]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn image_input(file: &str, shade: u8) -> ImageInput {
    let bytes = png(shade);
    let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    ImageInput { file: file.into(), mime: "image/png", bytes: Arc::new(bytes), sha256, prepared: None }
}

fn post(images: Vec<ImageInput>) -> Arc<PostInput> {
    Arc::new(PostInput {
        post_id: "p42".into(),
        title: Some("美团大模型一面".into()),
        text: "一面问了 LoRA 和 RAG，手撕 lc54 螺旋矩阵。".into(),
        images,
    })
}

fn provider(server: &MockServer, timeout: Duration) -> OpenAiProvider {
    provider_at(&server.uri(), timeout)
}

fn provider_at(origin: &str, timeout: Duration) -> OpenAiProvider {
    let config = RemoteConfig {
        base_url: format!("{origin}/v1"),
        ocr_models: vec![MODEL.into()],
        summary_models: vec![MODEL.into()],
        request_timeout: timeout,
        keys: vec![key()],
        limits: BTreeMap::new(),
    };
    OpenAiProvider::new(&config).unwrap()
}

fn key() -> ApiKey {
    ApiKey::new(Some("main".into()), "default".into(), SECRET.into())
}

fn extract() -> Value {
    json!({
        "company": "美团", "position": "大模型算法",
        "rounds": [{ "name": "一面", "questions": [
            { "category": "fundamentals", "text": "讲讲 LoRA", "topics": ["LoRA"] },
            { "category": "coding", "text": "螺旋矩阵", "topics": [] } ] }],
        "coding_problems": [{ "text": "螺旋矩阵", "leetcode": 54 }],
        "topics": ["LoRA", "RAG"], "key_experiences": [], "tips": [], "advice": [],
        "overview": "一面偏八股。",
    })
}

fn combined_answer() -> Value {
    let mut v = extract();
    v["images"] = json!([{ "file": "image_1.png", "text": "LoRA 原理" }, { "file": "image_2.png", "text": "" }]);
    v
}

/// A chat-completions body answering `content` (a JSON value sent as a string).
fn completion(content: &Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen-vl-max-2025-04-08",
        "choices": [{ "index": 0, "finish_reason": finish,
                      "message": { "role": "assistant", "content": content.to_string() } }],
        "usage": { "prompt_tokens": 812, "completion_tokens": 140, "total_tokens": 952 },
    })
}

async fn mount_chat(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(response).mount(server).await;
}

async fn run(p: &OpenAiProvider, task: &Task) -> Result<Generation, CallError> {
    p.generate(Call { key: Some(&key()), model: MODEL, task, budget: Budget::default() }).await
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn assert_key_free(e: &CallError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(&SECRET[..8]), "key leaked: {shown}");
    assert!(!shown.contains("SECRET"), "key leaked: {shown}");
}

#[tokio::test]
async fn combined_request_carries_labelled_data_uris_schema_and_bearer() {
    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(200).set_body_json(completion(&combined_answer(), "stop"))).await;
    let images = vec![image_input("image_1.png", 10), image_input("image_2.png", 200)];
    let task = Task::Combined { post: post(images.clone()) };

    let g = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap();
    let Answer::Combined(answer) = g.answer else { panic!("{:?}", g.answer) };
    assert_eq!(answer.extract.company.as_deref(), Some("美团"));
    assert_eq!(answer.images.len(), 2);
    assert_eq!((g.usage.prompt_tokens, g.usage.output_tokens), (Some(812), Some(140)));
    assert_eq!(g.model_version.as_deref(), Some("qwen-vl-max-2025-04-08"));

    let sent = &requests(&server).await[0];
    assert_eq!(sent.headers["authorization"], format!("Bearer {SECRET}").as_str());
    let body: Value = sent.body_json().unwrap();
    assert_eq!(body["model"], MODEL);
    let parts = body["messages"][0]["content"].as_array().unwrap();
    assert!(parts[0]["text"].as_str().unwrap().contains("LoRA"));
    for (i, image) in images.iter().enumerate() {
        assert_eq!(parts[1 + 2 * i]["text"], format!("Image file: {}", image.file));
        let url = parts[2 + 2 * i]["image_url"]["url"].as_str().unwrap();
        let data = url.strip_prefix("data:image/png;base64,").expect(url);
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), *image.bytes);
    }
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(format["json_schema"]["schema"]["additionalProperties"], false);
    assert!(format["json_schema"]["schema"]["properties"]["images"].is_object());
}

#[tokio::test]
async fn ocr_request_sends_one_image_and_reads_text() {
    let server = MockServer::start().await;
    mount_chat(
        &server,
        ResponseTemplate::new(200).set_body_json(completion(&json!({ "text": "第一行\n第二行" }), "stop")),
    )
    .await;
    let task = Task::Ocr { image: image_input("image_3.png", 90) };
    let budget = Budget { max_output_tokens: Some(2048), thinking_off: true };
    let p = provider(&server, Duration::from_secs(10));

    let g = p.generate(Call { key: Some(&key()), model: MODEL, task: &task, budget }).await.unwrap();
    assert_eq!(g.answer, Answer::Ocr("第一行\n第二行".into()));
    let body: Value = requests(&server).await[0].body_json().unwrap();
    let parts = body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1]["text"], "Image file: image_3.png");
    assert!(parts[2]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert_eq!(body["response_format"]["json_schema"]["name"], "ocr_answer");
    assert_eq!(body["max_tokens"], 2048);
}

#[tokio::test]
async fn summary_request_is_text_with_the_ocr_and_reads_an_extract() {
    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(200).set_body_json(completion(&extract(), "stop"))).await;
    let ocr = vec![
        OcrText { file: "image_1.png".into(), text: Some("Transformer 结构".into()) },
        OcrText { file: "image_2.png".into(), text: None },
    ];
    let task = Task::Summary { post: post(vec![image_input("image_1.png", 1)]), ocr };

    let g = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap();
    let Answer::Summary(x) = g.answer else { panic!() };
    assert_eq!(x.coding_problems[0].leetcode, Some(54));
    let body: Value = requests(&server).await[0].body_json().unwrap();
    let text = body["messages"][0]["content"].as_str().expect("text-only content is a string");
    assert!(text.contains("Transformer 结构") && text.contains("image_2.png could not be read"));
    assert!(!text.contains("base64"));
    assert_eq!(body["response_format"]["json_schema"]["name"], "extract");
}

#[tokio::test]
async fn refused_json_schema_falls_back_to_json_object_and_is_remembered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({ "response_format": { "type": "json_schema" } })))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "object": "error", "type": "BadRequestError", "code": 400,
            "message": "response_format type 'json_schema' is not supported by this model",
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({ "response_format": { "type": "json_object" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(&json!({ "text": "ok" }), "stop")))
        .mount(&server)
        .await;
    let p = provider(&server, Duration::from_secs(10));
    let task = Task::Ocr { image: image_input("image_1.png", 5) };

    assert_eq!(run(&p, &task).await.unwrap().answer, Answer::Ocr("ok".into()));
    assert_eq!(run(&p, &task).await.unwrap().answer, Answer::Ocr("ok".into()));
    let sent = requests(&server).await;
    let kinds: Vec<String> = sent
        .iter()
        .map(|r| r.body_json::<Value>().unwrap()["response_format"]["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["json_schema", "json_object", "json_object"]);
    let text = sent[1].body_json::<Value>().unwrap()["messages"][0]["content"][0]["text"].clone();
    assert!(text.as_str().unwrap().contains("JSON Schema"), "{text}");
}

async fn rate_limited(response: ResponseTemplate) -> CallError {
    let server = MockServer::start().await;
    mount_chat(&server, response).await;
    let task = Task::Ocr { image: image_input("image_1.png", 5) };
    run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap_err()
}

fn openai_429(message: &str, code: &str) -> Value {
    json!({ "error": { "message": message, "type": "requests", "param": null, "code": code } })
}

#[tokio::test]
async fn rate_limit_with_retry_after_seconds() {
    let e = rate_limited(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .insert_header("x-ratelimit-remaining-requests", "0")
            .insert_header("x-ratelimit-limit-requests", "60")
            .set_body_json(openai_429(
                "Rate limit reached for qwen-vl-max on requests per min (RPM): Limit 60, Used 60, Requested 1.",
                "rate_limit_exceeded",
            )),
    )
    .await;
    assert_eq!(e.http_status, Some(429));
    let Failure::RateLimited(q) = &e.failure else { panic!("{e:?}") };
    assert_eq!(q.scope, QuotaScope::PerMinute);
    assert!(!q.tokens);
    assert_eq!(q.retry_delay, Some(Duration::from_secs(7)));
    assert_eq!(q.quota_value, Some(60));
}

#[tokio::test]
async fn rate_limit_with_retry_after_http_date() {
    let at = Timestamp::now() + SignedDuration::from_secs(120);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&at).unwrap();
    let e = rate_limited(ResponseTemplate::new(429).insert_header("retry-after", date.as_str())).await;
    let Failure::RateLimited(q) = &e.failure else { panic!("{e:?}") };
    let delay = q.retry_delay.expect("a delay from the date");
    assert!(delay > Duration::from_secs(60) && delay <= Duration::from_secs(120), "{delay:?}");
}

#[tokio::test]
async fn rate_limit_from_token_reset_header_and_billing_exhaustion() {
    let e = rate_limited(
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-remaining-tokens", "0")
            .insert_header("x-ratelimit-reset-tokens", "6m0s")
            .insert_header("x-ratelimit-reset-requests", "250ms"),
    )
    .await;
    let Failure::RateLimited(q) = &e.failure else { panic!("{e:?}") };
    assert!(q.tokens);
    assert_eq!(q.retry_delay, Some(Duration::from_secs(360)));

    let e = rate_limited(ResponseTemplate::new(429).set_body_json(openai_429(
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
    )))
    .await;
    // OpenAI's `insufficient_quota` is billing: the whole provider, no reset time.
    assert_eq!(e.failure, Failure::Billing);
    assert_eq!(e.failure.outcome().as_str(), "billing");
}

#[tokio::test]
async fn rejected_key_never_appears_in_the_error() {
    let server = MockServer::start().await;
    let masked = format!("{}****************{}", &SECRET[..8], &SECRET[SECRET.len() - 4..]);
    mount_chat(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({ "error": {
            "message": format!("Incorrect API key provided: {masked}. Your key {SECRET} is wrong."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key" } })),
    )
    .await;
    let p = provider(&server, Duration::from_secs(10));
    let e = run(&p, &Task::Ocr { image: image_input("image_1.png", 5) }).await.unwrap_err();
    assert_eq!((e.failure.clone(), e.http_status), (Failure::KeyRejected, Some(401)));
    assert!(e.message.contains("401"), "{}", e.message);
    assert_key_free(&e);

    let models = Mock::given(method("GET")).and(path("/v1/models"));
    models
        .respond_with(ResponseTemplate::new(403).set_body_string(format!("forbidden for {SECRET}")))
        .mount(&server)
        .await;
    let e = p.list_models(Some(&key())).await.unwrap_err();
    assert_eq!(e.failure, Failure::KeyRejected);
    assert_key_free(&e);
}

#[tokio::test]
async fn missing_model_is_model_not_found() {
    let server = MockServer::start().await;
    mount_chat(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({ "error": {
            "message": "The model `qwen-vl-max` does not exist or you do not have access to it.",
            "type": "invalid_request_error", "param": null, "code": "model_not_found" } })),
    )
    .await;
    let e = run(&provider(&server, Duration::from_secs(10)), &Task::Ocr { image: image_input("a.png", 5) })
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::ModelNotFound);
    assert_eq!(requests(&server).await.len(), 1, "a missing model is not retried here");
}

#[tokio::test]
async fn model_listing_or_its_absence() {
    let server = MockServer::start().await;
    let p = provider(&server, Duration::from_secs(10));
    assert_eq!(p.list_models(Some(&key())).await.unwrap(), None, "a server without /models");

    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "object": "list", "data": [
            { "id": "qwen-vl-max", "object": "model", "owned_by": "system" },
            { "id": "glm-4v-plus", "object": "model", "owned_by": "system" } ] })))
        .mount(&server)
        .await;
    let models = p.list_models(Some(&key())).await.unwrap().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["qwen-vl-max", "glm-4v-plus"]);
    assert!(models.iter().all(|m| m.generates));
}

#[tokio::test]
async fn truncated_answer_is_bad_output_with_usage() {
    let server = MockServer::start().await;
    let mut body = completion(&json!({ "text": "x" }), "length");
    body["choices"][0]["message"]["content"] = json!("{\"company\": \"美团\", \"rounds\": [{\"na");
    mount_chat(&server, ResponseTemplate::new(200).set_body_json(body)).await;
    let task = Task::Summary { post: post(vec![]), ocr: vec![] };
    let e = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap_err();
    assert_eq!(e.failure, Failure::BadOutput { truncated: true });
    assert_eq!(e.usage.output_tokens, Some(140));
}

#[tokio::test]
async fn unparseable_body_is_a_server_error_but_wrong_json_is_bad_output() {
    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(200).set_body_string("{\"id\":\"chatcmpl-1\",\"choi")).await;
    let task = Task::Ocr { image: image_input("a.png", 5) };
    let e = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap_err();
    assert_eq!(e.failure, Failure::ServerError);

    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(200).set_body_json(completion(&json!({ "txt": "x" }), "stop"))).await;
    let e = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap_err();
    assert_eq!(e.failure, Failure::BadOutput { truncated: false });
}

#[tokio::test]
async fn local_server_without_key_gets_no_authorization_header() {
    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(200).set_body_json(completion(&json!({ "text": "t" }), "stop"))).await;
    let task = Task::Ocr { image: image_input("a.png", 5) };
    let p = provider(&server, Duration::from_secs(10));
    p.generate(Call { key: None, model: MODEL, task: &task, budget: Budget::default() }).await.unwrap();
    assert!(requests(&server).await[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn server_errors_timeouts_and_refused_connections() {
    let task = Task::Ocr { image: image_input("a.png", 5) };
    let server = MockServer::start().await;
    mount_chat(&server, ResponseTemplate::new(503).set_body_string("upstream overloaded")).await;
    let e = run(&provider(&server, Duration::from_secs(10)), &task).await.unwrap_err();
    assert_eq!((e.failure, e.http_status), (Failure::ServerError, Some(503)));

    let slow = MockServer::start().await;
    mount_chat(&slow, ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
    let e = run(&provider(&slow, Duration::from_millis(300)), &task).await.unwrap_err();
    assert_eq!(e.failure, Failure::Timeout);

    // wiremock keeps dropped servers in a pool, so a closed port comes from a plain listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let p = provider_at(&format!("http://{closed}"), Duration::from_secs(10));
    let e = run(&p, &task).await.unwrap_err();
    assert_eq!(e.failure, Failure::Connection, "{}", e.message);
    assert_key_free(&e);
}
