//! A small, tolerant reader of Python literals (`repr()` of dicts, lists, tuples, strings,
//! numbers, `True`/`False`/`None`) into `serde_json::Value`.
//!
//! The legacy script printed the Gemini error bodies with Python's `str(dict)`: single
//! quotes, `\n` escapes inside strings, `True`/`None`. Parsing them as a grammar, rather
//! than with regexes over the whole line, is what keeps a quote inside a message from
//! throwing the fields off.

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python literal at byte {at}: {what}")]
pub struct PyLitError {
    pub at: usize,
    pub what: &'static str,
}

/// Parses one Python literal; text after it (such as a trailing period) is ignored.
pub fn parse(text: &str) -> Result<Value, PyLitError> {
    let mut p = Parser { s: text.as_bytes(), text, i: 0 };
    p.value()
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> PyLitError {
        PyLitError { at: self.i, what }
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn value(&mut self) -> Result<Value, PyLitError> {
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'{') => self.dict(),
            Some(b'[') => self.seq(b']').map(Value::Array),
            Some(b'(') => self.seq(b')').map(Value::Array),
            Some(q @ (b'\'' | b'"')) => self.string(q).map(Value::String),
            Some(c) if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_digit() => self.number(),
            Some(_) => self.word(),
        }
    }

    fn dict(&mut self) -> Result<Value, PyLitError> {
        self.i += 1; // `{`
        let mut map = Map::new();
        loop {
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                // JSON keys are strings; Python allows numbers and more.
                other => other.to_string(),
            };
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' in a dict"));
            }
            self.i += 1;
            let v = self.value()?;
            map.insert(key, v);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}' in a dict")),
            }
        }
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Value>, PyLitError> {
        self.i += 1; // `[` or `(`
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, PyLitError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            // Copy the run of plain characters at once: it is valid UTF-8 by construction,
            // since the quote and the backslash are ASCII and never inside a multi-byte char.
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote && self.s[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(&self.text[start..self.i]);
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(&c) if c == quote => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => self.escape(&mut out)?,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), PyLitError> {
        self.i += 1; // the backslash
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err("unterminated escape"));
        };
        self.i += 1;
        match c {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'0' => out.push('\0'),
            b'\\' | b'\'' | b'"' => out.push(c as char),
            b'x' => out.push(self.hex_char(2)?),
            b'u' => out.push(self.hex_char(4)?),
            b'U' => out.push(self.hex_char(8)?),
            b'\n' => {} // a line continuation
            _ => {
                // Python keeps unknown escapes as written; so do we.
                out.push('\\');
                self.i -= 1;
                let rest = &self.text[self.i..];
                let ch = rest.chars().next().ok_or_else(|| self.err("bad escape"))?;
                out.push(ch);
                self.i += ch.len_utf8();
            }
        }
        Ok(())
    }

    fn hex_char(&mut self, digits: usize) -> Result<char, PyLitError> {
        let hex = self.text.get(self.i..self.i + digits).ok_or_else(|| self.err("short hex escape"))?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.err("bad hex escape"))?;
        self.i += digits;
        char::from_u32(code).ok_or_else(|| self.err("escape is not a character"))
    }

    fn number(&mut self) -> Result<Value, PyLitError> {
        let start = self.i;
        while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'_') {
            self.i += 1;
        }
        let lexeme: String = self.text[start..self.i].chars().filter(|&c| c != '_').collect();
        if let Ok(n) = lexeme.parse::<i64>() {
            return Ok(Value::Number(n.into()));
        }
        lexeme
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or(PyLitError { at: start, what: "bad number" })
    }

    fn word(&mut self) -> Result<Value, PyLitError> {
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
            self.i += 1;
        }
        match &self.text[start..self.i] {
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            "None" => Ok(Value::Null),
            _ => Err(PyLitError { at: start, what: "unknown word" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_dicts_lists_and_constants() {
        let v = parse("{'a': [1, -2.5, True, False, None], 'b': {'c': ('x', 'y',)}, 3: {}}").unwrap();
        assert_eq!(v, json!({"a": [1, -2.5, true, false, null], "b": {"c": ["x", "y"]}, "3": {}}));
    }

    #[test]
    fn string_escapes_and_mixed_quotes() {
        let v = parse(r#"['it\'s', "say \"hi\"", 'a\nb\tc', '\x41\u00e9\\', "don't"]"#).unwrap();
        assert_eq!(v, json!(["it's", "say \"hi\"", "a\nb\tc", "Aé\\", "don't"]));
    }

    #[test]
    fn keeps_non_ascii_and_unknown_escapes() {
        let v = parse(r"{'m': '配额 \d 已用完'}").unwrap();
        assert_eq!(v, json!({"m": "配额 \\d 已用完"}));
    }

    #[test]
    fn ignores_trailing_text() {
        assert_eq!(parse("{'x': 1}. more").unwrap(), json!({"x": 1}));
    }

    #[test]
    fn reports_malformed_input() {
        assert!(parse("{'a': 1").is_err());
        assert!(parse("{'a' 1}").is_err());
        assert!(parse("'open").is_err());
        assert!(parse("[nope]").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn reads_a_real_gemini_error_body() {
        let body = "{'error': {'code': 429, 'message': 'You exceeded.\\n* Quota exceeded, limit: 20\\nPlease retry in 9.1s.', 'status': 'RESOURCE_EXHAUSTED', 'details': [{'@type': 'type.googleapis.com/google.rpc.QuotaFailure', 'violations': [{'quotaId': 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', 'quotaValue': '20'}]}, {'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '9s'}]}}";
        let v = parse(body).unwrap();
        assert_eq!(v["error"]["code"], 429);
        assert_eq!(v["error"]["details"][0]["violations"][0]["quotaValue"], "20");
        assert_eq!(v["error"]["details"][1]["retryDelay"], "9s");
        assert!(v["error"]["message"].as_str().unwrap().contains("\n* Quota"));
    }
}
