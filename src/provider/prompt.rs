//! The prompts sent to remote models, shared by every remote provider so that Gemini and
//! OpenAI-compatible servers are asked the same thing.
//!
//! Each image travels right after a text part `Image file: <name>`, so a model (and the
//! test servers) can tie a transcription to its file.

use super::{OcrText, PackedPost, PostInput};

/// Bumped whenever a prompt changes meaningfully. Recorded in each summary's provenance;
/// not part of a job's identity, so a better prompt never re-spends quota on finished posts.
pub const PROMPT_VERSION: u32 = 2;

const SUMMARY_RULES: &str = "You summarise a Chinese (or English) job-interview write-up (面经) \
into structured JSON. Write every field in the post's own language. Only what the post's author \
reports as their own interview counts: ignore page clutter (other users' comments, 相关推荐, ads). \
company: the hiring company as commonly named (e.g. 美团, 字节跳动, 蚂蚁集团), or null. \
position: the role applied for, or null. \
rounds: each interview round in order (一面, 二面, HR面, 笔试 ... as the post names them; one \
unnamed round is 一面), with every question the interviewer asked in it, one item per numbered or \
bulleted line or per question sentence in prose; follow-ups on the same line stay in one item, \
follow-ups on separate lines are separate items. Keep each question's wording (you may drop a \
leading number or bullet); do not merge, split or invent questions. Not questions: the \
candidate's own 反问 to the interviewer, 没了/结束, feelings, timings, section headings \
(八股:, 项目:), results (OC, 挂了). Generic items the author lists (自我介绍, 项目拷打) are questions. \
Each question has a category: \
self_intro = 自我介绍; \
fundamentals = 八股, knowledge questions about concepts and technologies (Transformer, RoPE, \
Redis, TCP, how RAG works); \
project = about the candidate's own projects, internships or papers (你的项目, 你们怎么做的); \
scenario = 场景题 or system design, how would you design or handle X in production, not tied to \
the candidate's own project; \
coding = 手撕 / 算法题 / 代码题, the coding task itself; \
behavioral = HR, motivation, career, teamwork, why this company, working with others; \
other = anything else. \
coding_problems: every coding task, each also listed as a coding question in its round; one \
entry per LeetCode number when a line names several; leetcode is the number when the post \
gives it (lc54 → 54) or the task is unmistakably a well-known LeetCode problem by its title \
(螺旋矩阵 54, LRU缓存 146, 反转链表 206), else null. \
topics: the technical topics the interview covered (LoRA, RAG, MoE ...). \
key_experiences: short sentences on how the interview went. tips and advice: the author's advice \
to readers, as written. \
overview: two or three sentences on the interview as a whole.";

/// The text part of a combined request: rules, then the post; the images follow.
pub fn combined(post: &PostInput) -> String {
    let files: Vec<&str> = post.images.iter().map(|i| i.file.as_str()).collect();
    format!(
        "{SUMMARY_RULES}\n\nThe post has {n} image(s): {list}. They follow this text, each after \
         a line `Image file: <name>`. Transcribe every image completely into `images` (one entry \
         per file, `file` exactly as given, `text` all visible text line by line), and use their \
         text as part of the post when you summarise.\n\n{body}",
        n = files.len(),
        list = if files.is_empty() { "none".to_string() } else { files.join(", ") },
        body = post_body(post),
    )
}

/// The whole prompt of an OCR request; the image follows.
pub fn ocr(file: &str) -> String {
    format!(
        "Transcribe all text visible in this image ({file}) exactly, line by line, keeping \
         numbering and code. Answer as JSON {{\"text\": ...}}; if there is no text, give an \
         empty string."
    )
}

/// The whole prompt of a split-mode summary request.
pub fn summary(post: &PostInput, ocr: &[OcrText]) -> String {
    let mut out = format!("{SUMMARY_RULES}\n\n{}", post_body(post));
    for o in ocr {
        match &o.text {
            Some(t) => out.push_str(&format!("\n\n--- Text of image {} ---\n{}", o.file, t)),
            None => out.push_str(&format!("\n\n--- Image {} could not be read ---", o.file)),
        }
    }
    out
}

/// The whole prompt of a packed request: the rules once, then each post between markers
/// that name it, so the model keeps them apart and keys its answer by id.
pub fn packed(posts: &[PackedPost]) -> String {
    let ids: Vec<&str> = posts.iter().map(|p| p.post.post_id.as_str()).collect();
    let mut out = format!(
        "{SUMMARY_RULES}\n\nThis request holds {n} separate posts by different authors: {list}. Each \
         starts with a line `=== Post <id> ===` and ends with `=== End of post <id> ===`. Answer with \
         exactly one entry in `posts` per post, `post_id` exactly as given, each summarising only \
         its own post: never put a question, company or tip of one post into another's summary.",
        n = posts.len(),
        list = ids.join(", "),
    );
    for p in posts {
        let id = &p.post.post_id;
        out.push_str(&format!("\n\n{}\n{}", pack_marker(id), post_body(&p.post)));
        for o in &p.ocr {
            match &o.text {
                Some(t) => out.push_str(&format!("\n\n--- Text of image {} ---\n{}", o.file, t)),
                None => out.push_str(&format!("\n\n--- Image {} could not be read ---", o.file)),
            }
        }
        out.push_str(&format!("\n=== End of post {id} ==="));
    }
    out
}

/// The line that opens a post in a packed request.
pub fn pack_marker(post_id: &str) -> String {
    format!("=== Post {post_id} ===")
}

/// The marker placed before each image part.
pub fn image_label(file: &str) -> String {
    format!("Image file: {file}")
}

fn post_body(post: &PostInput) -> String {
    match &post.title {
        Some(t) => format!("--- Post title ---\n{t}\n\n--- Post text ---\n{}", post.text),
        None => format!("--- Post text ---\n{}", post.text),
    }
}
