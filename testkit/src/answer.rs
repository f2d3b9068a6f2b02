//! Answers shaped by a request's JSON Schema, shared by both fake servers.
//!
//! A fake model cannot read images, but the client under test only needs answers that are
//! (a) valid against the schema it sent and (b) traceable to the request: which image was
//! read, under which file name. So the schema is walked generically and the few fields
//! that postmill cross-checks (per-image transcriptions, OCR text) are filled from the
//! request's images.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// One image of a request, in request order.
#[derive(Debug, Clone)]
pub struct ImagePart {
    /// The name given by the text part just before the image (`Image file: <name>`).
    pub file: Option<String>,
    /// First 8 hex digits of the SHA-256 of the image bytes.
    pub sha8: String,
}

impl ImagePart {
    pub fn new(file: Option<String>, bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let sha8 = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        ImagePart { file, sha8 }
    }
}

/// The file name announced by a text part (`Image file: image_1.jpg`), if it announces one.
pub fn announced_file(text: &str) -> Option<String> {
    let line = text.lines().rev().find(|l| l.contains("Image file:"))?;
    let name = line.split("Image file:").nth(1)?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Rough token estimate the way the real APIs bill: ~4 characters a token plus a fixed
/// cost per image. Good enough for quota arithmetic, which is all the tests need.
pub fn estimate_tokens(chars: usize, images: usize, per_image: u64) -> u64 {
    (chars as u64).div_ceil(4) + per_image * images as u64
}

/// The transcription the fake "reads" from an image: mentions both name and content hash
/// so tests can tell which bytes ended up under which name.
pub fn transcription(image: &ImagePart, index: usize) -> String {
    let name = image.file.clone().unwrap_or_else(|| format!("image_{}", index + 1));
    format!("第{}张图 {name} 的文字 (sha256 {})", index + 1, image.sha8)
}

/// A JSON document that validates against `schema`, for a request whose text parts are
/// `texts`: a packed request (its schema's `posts` items carry a `post_id`) gets one entry
/// per post the text announces (`=== Post <id> ===`), each with that id and an overview
/// quoting its post's first line, so tests can tell whose summary landed where.
pub fn generate_for(schema: &Value, images: &[ImagePart], texts: &[String]) -> Value {
    let item = schema.pointer("/properties/posts/items");
    if let Some(item) = item.filter(|i| i.pointer("/properties/post_id").is_some()) {
        let posts: Vec<Value> = texts
            .iter()
            .flat_map(|t| packed_posts(t))
            .map(|(id, first_line)| {
                let mut entry = walk(item, "post", images, 1);
                entry["post_id"] = Value::String(id.clone());
                entry["overview"] = Value::String(format!("summary of {id}: {first_line}"));
                entry
            })
            .collect();
        return json!({ "posts": posts });
    }
    generate(schema, images)
}

/// The posts a packed prompt holds: (id, first line of its text).
pub fn packed_posts(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(id) = line.strip_prefix("=== Post ").and_then(|r| r.strip_suffix(" ===")) else {
            continue;
        };
        let first = lines
            .clone()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("---") && !l.starts_with("==="))
            .unwrap_or_default();
        out.push((id.to_string(), first.to_string()));
    }
    out
}

/// A JSON document that validates against `schema`.
pub fn generate(schema: &Value, images: &[ImagePart]) -> Value {
    if is_ocr_schema(schema) {
        let text = match images.first() {
            Some(image) => transcription(image, 0),
            None => "no image given".to_string(),
        };
        return json!({ "text": text });
    }
    walk(schema, "value", images, 0)
}

/// An object whose only property is the string `text`: the OCR answer.
fn is_ocr_schema(schema: &Value) -> bool {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return false;
    };
    props.len() == 1 && props.get("text").is_some_and(|t| first_type(t).as_deref() == Some("string"))
}

/// The first non-null type of a schema, lower-cased (Gemini's `responseSchema` spells
/// types `OBJECT`, `STRING`...; JSON Schema spells them lower-case, possibly as a list).
fn first_type(schema: &Value) -> Option<String> {
    let ty = match schema.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").map(str::to_string),
        _ => None,
    };
    match ty {
        Some(t) => Some(t.to_ascii_lowercase()),
        None if schema.get("properties").is_some() => Some("object".into()),
        None if schema.get("items").is_some() => Some("array".into()),
        None => None,
    }
}

fn walk(schema: &Value, name: &str, images: &[ImagePart], depth: usize) -> Value {
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
            let chosen = alternatives
                .iter()
                .find(|a| first_type(a).is_some() || a.get("enum").is_some())
                .or(alternatives.first());
            if let Some(alternative) = chosen {
                return walk(alternative, name, images, depth);
            }
        }
    }
    match first_type(schema).as_deref() {
        Some("object") => object(schema, images, depth),
        Some("array") => array(schema, name, images, depth),
        Some("string") => Value::String(format!("{name} 示例")),
        Some("integer") => json!(minimum(schema).map_or(1, |m| m.ceil() as i64)),
        Some("number") => json!(minimum(schema).unwrap_or(1.5)),
        Some("boolean") => json!(true),
        _ => Value::Null,
    }
}

fn minimum(schema: &Value) -> Option<f64> {
    schema.get("minimum").and_then(Value::as_f64)
}

fn object(schema: &Value, images: &[ImagePart], depth: usize) -> Value {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            out.insert(key.clone(), walk(sub, key, images, depth + 1));
        }
    }
    Value::Object(out)
}

fn array(schema: &Value, name: &str, images: &[ImagePart], depth: usize) -> Value {
    let item = schema.get("items").cloned().unwrap_or(Value::Null);
    if name == "images" && is_transcription_item(&item) {
        return images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let file = image.file.clone().unwrap_or_else(|| format!("image_{}", i + 1));
                let mut entry = walk(&item, "image", images, depth + 1);
                entry["file"] = Value::String(file);
                entry["text"] = Value::String(transcription(image, i));
                entry
            })
            .collect();
    }
    let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
    // Nested arrays beyond a few levels only make the answer large; stop at one level of
    // recursion-worthy depth so self-referential schemas still terminate.
    let count = if depth > 12 { 0 } else { count };
    (0..count).map(|_| walk(&item, name, images, depth + 1)).collect()
}

fn is_transcription_item(item: &Value) -> bool {
    let props = item.get("properties").and_then(Value::as_object);
    props.is_some_and(|p| p.contains_key("file") && p.contains_key("text"))
}

/// Finds a JSON Schema quoted in a prompt (for `json_object` mode, where the schema only
/// travels inside the text): the first embedded JSON object with `properties`.
pub fn schema_in_text(text: &str) -> Option<Value> {
    text.match_indices('{').find_map(|(start, _)| {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) if value.get("properties").is_some() => Some(value),
            _ => None,
        }
    })
}
