//! JSON Schemas for structured output, generated from the Rust answer types so the
//! schema a model is held to can never drift from the type its answer is parsed into.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::Value;

/// The schema of `T` in the dialect that Gemini's `responseJsonSchema` and OpenAI's
/// strict `json_schema` both accept: everything inlined (no `$ref`), no `$schema`, no
/// integer `format`s, and every object closed with all of its properties required
/// (optional ones are nullable instead, which is what strict mode demands).
pub fn response_schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    normalize(&mut value);
    value
}

fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("title");
            map.remove("$defs");
            if map.get("type").and_then(Value::as_str) == Some("integer")
                || matches!(map.get("type"), Some(Value::Array(types)) if types.iter().any(|t| t == "integer"))
            {
                map.remove("format");
                map.remove("minimum");
            }
            // schemars renders a unit-variant enum with descriptions as `oneOf` of consts;
            // collapse it to a plain string enum, which every structured-output dialect knows.
            map.remove("default");
            if let Some(Value::Array(variants)) = map.get("oneOf") {
                let mut values = Vec::new();
                let mut notes = Vec::new();
                let all_strings = variants.iter().all(|v| {
                    let found: Vec<Value> = match (v.get("const"), v.get("enum")) {
                        (Some(c), _) => vec![c.clone()],
                        (None, Some(Value::Array(e))) => e.clone(),
                        _ => return false,
                    };
                    if let (Some(d), Some(Value::String(name))) = (v.get("description"), found.first()) {
                        notes.push(format!("{name}: {}", d.as_str().unwrap_or_default()));
                    }
                    values.extend(found);
                    true
                });
                if all_strings {
                    map.remove("oneOf");
                    map.insert("type".into(), Value::String("string".into()));
                    map.insert("enum".into(), Value::Array(values));
                    if !notes.is_empty() {
                        map.insert("description".into(), Value::String(notes.join("; ")));
                    }
                }
            }
            if map.get("type").and_then(Value::as_str) == Some("object")
                && let Some(Value::Object(props)) = map.get("properties")
            {
                let names: Vec<Value> = props.keys().cloned().map(Value::String).collect();
                map.insert("required".into(), Value::Array(names));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                normalize(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{CombinedAnswer, Extract};

    #[test]
    fn schema_is_inlined_closed_and_complete() {
        let schema = response_schema::<CombinedAnswer>();
        let text = schema.to_string();
        assert!(!text.contains("$ref"), "{text}");
        assert!(!text.contains("$schema"));
        let required = schema["required"].as_array().unwrap();
        for field in ["company", "rounds", "overview", "images", "topics"] {
            assert!(required.iter().any(|r| r == field), "{field} not required");
        }
        let category =
            &schema["properties"]["rounds"]["items"]["properties"]["questions"]["items"]["properties"]["category"];
        assert_eq!(category["type"], "string");
        assert_eq!(category["enum"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn properties_follow_a_readers_order() {
        // Models generate in schema order: transcriptions first, the overview last.
        let schema = response_schema::<CombinedAnswer>();
        let names: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(names.first(), Some(&"images"), "{names:?}");
        assert_eq!(names.last(), Some(&"overview"), "{names:?}");
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("company") < pos("position") && pos("position") < pos("rounds"));
        assert!(pos("rounds") < pos("coding_problems") && pos("coding_problems") < pos("topics"));
        assert!(pos("topics") < pos("tips"));
    }

    #[test]
    fn extract_schema_has_no_images() {
        let schema = response_schema::<Extract>();
        assert!(schema["properties"].get("images").is_none());
    }
}
