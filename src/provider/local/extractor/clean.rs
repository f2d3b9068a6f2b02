//! Input cleaning before extraction: OCR confusions that recur in screenshots of
//! interview posts, and full-width punctuation folded to one spelling.
//!
//! Only the extractor's copy of the text is cleaned; the raw OCR text stays in `ocr/`
//! untouched, so a better cleaner can always be rerun over what Tesseract read.

use regex::Regex;
use std::sync::LazyLock;

/// 手撕 at the start of a line, as Tesseract misreads it in screenshot fonts:
/// `FP :`, `Fi} :`, `FY`, `F} :` (the two glyphs become Latin letters and brackets).
static HANDWRITE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^[ \t]*(?P<num>\d{1,2}\s*[.、．]\s*)?(?:FP|Fi\}|Fi\]|FY|F\}|Fy|F¥)(?:\s*[:：;；]\s*|\s+|(?P<han>\p{Han}))",
    )
    .expect("handwrite")
});

/// Two list items run together on one OCR line (`…HF generate快7. 项目: …`), or a round
/// heading run into the item above it (`LRU缓存二面(45min)`): a break belongs before them.
static RUN_ON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\p{Han})(\d{1,2}\.\s|[一二三四五六七八九]面\s*[（(])").expect("run on"));

/// Cleans text read from an image: fixes the recurring misreads, then folds punctuation.
pub fn clean_ocr(text: &str) -> String {
    let text = RUN_ON.replace_all(text, "$1\n$2");
    let text = HANDWRITE.replace_all(&text, |c: &regex::Captures<'_>| {
        // Keep a list number the misread sat behind.
        let number: String =
            c.name("num").map_or("", |m| m.as_str()).chars().take_while(char::is_ascii_digit).collect();
        let han = c.name("han").map_or("", |m| m.as_str());
        if number.is_empty() { format!("手撕：{han}") } else { format!("{number}. 手撕：{han}") }
    });
    fold_punctuation(&text)
}

/// Full-width forms people and OCR mix freely (`１．`, `（`, `：`) folded to the forms the
/// line patterns expect. Chinese sentence punctuation (，。？) is kept: it carries meaning.
pub fn fold_punctuation(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            // Full-width digits and Latin letters to ASCII.
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '．' => '.',
            '﹖' => '？',
            '：' | '﹕' => '：',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handwrite_misreads_become_handwrite() {
        assert_eq!(clean_ocr("FP : 实现多头注意力MHA"), "手撕：实现多头注意力MHA");
        assert_eq!(clean_ocr("Fi} : LRU 缓存"), "手撕：LRU 缓存");
        assert_eq!(clean_ocr("3. FY 反转链表"), "3. 手撕：反转链表");
        // Not at the start of a line: a word, not a misread.
        assert_eq!(clean_ocr("用 FP16 训练"), "用 FP16 训练");
        assert_eq!(clean_ocr("FPGA 了解吗"), "FPGA 了解吗");
    }

    #[test]
    fn run_on_lines_split() {
        assert_eq!(clean_ocr("6. vLLM为什么快7. 项目: SFT"), "6. vLLM为什么快\n7. 项目: SFT");
        assert_eq!(clean_ocr("7. LRU缓存二面(45min)"), "7. LRU缓存\n二面(45min)");
    }

    #[test]
    fn full_width_forms_fold() {
        assert_eq!(fold_punctuation("１．ＬｏＲＡ原理？"), "1.LoRA原理？");
    }
}
