//! Text decoding: UTF-8 (with or without BOM) or GB18030/GBK; anything else is an error.

/// Decodes post text. GB18030 is tried only when the bytes are not UTF-8, and only
/// accepted when it decodes without a single replacement: binary junk is refused rather
/// than turned into a summary of mojibake.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.contains(&0) {
        return Err("not a text file (it contains NUL bytes)".into());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_string());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err("text is neither UTF-8 nor GB18030/GBK".into());
    }
    Ok(text.into_owned())
}

/// Normalises what scrapers leave behind: CRLF, no-break spaces, stray BOMs.
pub fn normalize(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n").replace(['\u{a0}', '\u{3000}'], " ").replace('\u{feff}', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_and_gbk() {
        assert_eq!(decode("\u{feff}一面".as_bytes()).unwrap(), "一面");
        let (gbk, _, _) = encoding_rs::GBK.encode("美团一面：自我介绍");
        assert_eq!(decode(&gbk).unwrap(), "美团一面：自我介绍");
        assert!(decode(&[0xff, 0xfe, 0x00, 0x41]).is_err());
        assert!(decode(&[0x81, 0x20, 0xff]).is_err());
    }
}
