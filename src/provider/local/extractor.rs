//! The rule-based extractor: fills the summary schema from a post's text and the text
//! read from its images, with dictionaries and line patterns instead of a model.
//!
//! Interview posts are mostly lists: round headings (一面, 二面), then one question per
//! line, often prefixed with its kind (`八股：`, `项目：`, `代码题：`) or numbered. The
//! extractor reads that structure line by line; prose lines feed the tips instead.
//!
//! Submodules: [`clean`] fixes OCR misreads before anything is read, [`coding`] spots
//! coding tasks and their LeetCode numbers, [`category`] decides each question's kind.

mod category;
mod clean;
mod coding;

use super::dictionaries::{
    ADVICE_CUES, COMPANIES, EXPERIENCE_CUES, ROUND_PATTERN, TIP_CUES, TITLE_ONLY_COMPANIES, TOPICS,
};
use super::page::{normalize, post_lines};
use crate::summary::{Category, CodingProblem, Extract, Question, Round};
pub use coding::leetcode_numbers;
use regex::Regex;
use std::sync::LazyLock;

/// The name of the one round of a post that names none (and whose title names none).
/// Bumped with every change to what the extractor finds: part of the identity of local
/// summary jobs, so a better extractor redoes them (they cost nothing).
pub const VERSION: u32 = 7;

const DEFAULT_ROUND: &str = "面试";
/// Lines longer than this are prose, never a question.
const MAX_QUESTION_CHARS: usize = 160;
/// At most this many tips, advice and experiences each: a summary, not a copy.
const MAX_NOTES: usize = 8;

static ROUND_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(ROUND_PATTERN).expect("round pattern"));

/// A heading that is only a round: `一面`, `## 二面：`, `【HR面】`, `一面（60min）`, `美团一面`,
/// or a line of the post's schedule: `一面5.14`, `hr面5.21，当天下午意向`.
static ROUND_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(?:\S{{0,6}}?)({ROUND_PATTERN})\s*(?:[（(][^)）]*[)）])?\s*(?:面经|面试|部分|环节|问题)?\s*(?:\d{{1,2}}[./月]\d{{1,2}}日?(?:[，,][^？?]*)?)?\s*[:：]?\s*$"
    ))
    .expect("round heading")
});

/// A round inline with its first question: `一面：自我介绍`.
static ROUND_INLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)^({ROUND_PATTERN})\s*[:：]\s*(\S.*)$")).expect("round inline"));

/// A kind prefix: `八股：...`, `项目: ...`, `手撕：...`.
static KIND_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(八股文?|基础知识|基础|项目拷打|项目|实习经历|实习|代码题|代码|手撕代码|手撕|算法题|编程题|coding|场景题|智力题|反问|hr问题|hr|自我介绍)\s*[:：]\s*(.*)$")
        .expect("kind prefix")
});

/// A section numbered with a Chinese numeral: `一、自我介绍`, `四、开放性问题 — 检索系统设计`.
static CN_SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[一二三四五六七八九十]{1,2}\s*[、.．]\s*(\S.*)$").expect("cn section"));

/// A follow-up written on its own line: `追问一：…`, `面试官追问：…`.
static FOLLOW_UP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:面试官)?追问[一二三四五六七八九十\d]*\s*[:：]\s*\S").expect("follow up"));

/// Builds the summary fields from the post's title, text and its images' text.
pub fn extract(title: Option<&str>, text: &str, ocr: &[&str]) -> Extract {
    let title = title.map(|t| normalize(t).trim().trim_start_matches('#').trim().to_string()).filter(|t| !t.is_empty());
    let title = title.as_deref();
    let mut lines: Vec<String> = post_lines(text, title).iter().map(|l| clean::fold_punctuation(l)).collect();
    for image in ocr {
        let image = clean::clean_ocr(&normalize(image));
        lines.extend(image.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string));
    }
    let parsed = parse(&lines, title);
    let all_text = lines.join("\n");
    let company = find_company(title.unwrap_or(""), true)
        .or_else(|| lines.iter().find_map(|l| headline_company(l)))
        .or_else(|| title.and_then(title_company))
        .or_else(|| find_company(&all_text, false));
    let position = title.and_then(position_from_title);
    let coding_problems = coding_problems(&parsed.rounds, &parsed.prose);
    let topics = find_topics(&format!("{}\n{all_text}", title.unwrap_or("")));
    let notes = notes(&parsed.prose);
    let overview = overview(company.as_deref(), position.as_deref(), &parsed.rounds, &topics);
    Extract {
        company,
        position,
        rounds: parsed.rounds,
        coding_problems,
        topics,
        key_experiences: notes.experiences,
        tips: notes.tips,
        advice: notes.advice,
        overview,
    }
}

/// Rounds with their questions, and the lines that were neither (the author's prose).
struct Parsed {
    rounds: Vec<Round>,
    prose: Vec<String>,
}

fn parse(lines: &[String], title: Option<&str>) -> Parsed {
    let stripped: Vec<String> = lines.iter().map(|l| strip_markup(l)).collect();
    let advice = advice_lines(&stripped);
    // A post that numbers its questions has prose between them (answers, remarks): then
    // only listed lines count. A post that does not is read more loosely. The author's
    // numbered advice to readers is no list of questions.
    let listed = lines.iter().zip(&advice).filter(|(l, a)| !**a && is_listed(l)).count() >= 3;
    let fallback_round = title.and_then(|t| ROUND_RE.find(t)).map(|m| round_name(m.as_str()));
    let mut rounds: Vec<Round> = Vec::new();
    let mut current: Option<usize> = None;
    let mut context: Option<Category> = None;
    let mut previous: Option<Category> = None;
    // Under a numbered heading whose items are unnumbered lines (`2.项目相关` then lines).
    let mut in_block = false;
    let mut prose = Vec::new();
    // What a story-told post reports as asked, with its round: used only when the post
    // yields no question any other way.
    let mut story: Vec<(Option<usize>, String)> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = stripped[i].clone();
        if line.is_empty() {
            continue;
        }
        let heading = raw.trim_start().starts_with('#');
        let round = round_heading(&line).or_else(|| heading.then(|| other_round_heading(&line)).flatten());
        if let Some(name) = round {
            current = Some(round_index(&mut rounds, &name));
            context = None;
            previous = None;
            continue;
        }
        let (line, inline_round) = match ROUND_INLINE.captures(&line) {
            Some(c) => (c[2].to_string(), Some(round_name(&c[1]))),
            None => (line, None),
        };
        if let Some(name) = inline_round {
            current = Some(round_index(&mut rounds, &name));
            context = None;
        }
        let next = stripped[i + 1..].iter().find(|l| !l.is_empty()).map(String::as_str);
        // `然后开始拷打项目：`: a short line announcing what follows, by its words.
        // An answer's lead-in (`业务上能不能接受取决于场景：`) announces nothing: the line
        // must say that a part of the interview starts.
        let starts = ["开始", "接下来", "然后", "下面", "之后"].iter().any(|w| line.contains(w));
        let announced =
            (starts && line.ends_with(['：', ':']) && line.chars().count() <= 16 && !line.contains(['？', '?']))
                .then(|| heading_kind(&line))
                .flatten();
        if let Some(kind) =
            section_heading(&line, heading).or_else(|| bare_section(&line, &stripped[i + 1..])).or(announced)
        {
            context = Some(kind);
            continue;
        }
        // `一、项目深挖`, or a numbered line whose items follow it (`3、八股` then `a. …`):
        // a heading, whatever its words; its words may still name the kind.
        let items_below = heads_items(&line, next);
        if CN_SECTION.is_match(&line) || items_below || keyword_heading(&line, listed, next) {
            context = heading_kind(&line);
            in_block = items_below;
            previous = None;
            prose.push(line);
            continue;
        }
        if advice[i] || is_not_a_question(&line) {
            prose.push(line);
            continue;
        }
        if is_listed(&line) && !(in_block && sub_item(&line).is_some()) {
            in_block = false;
        }
        match question(&line, listed, in_block, context, previous) {
            Some(q) => {
                previous = Some(q.category);
                let index = *current.get_or_insert_with(|| {
                    round_index(&mut rounds, fallback_round.as_deref().unwrap_or(DEFAULT_ROUND))
                });
                rounds[index].questions.push(q);
            }
            None => {
                let told = told_asks(&line);
                // `一面是leader，问你…`: the story names the round it tells of.
                if let Some(m) = ROUND_RE.find(&line).filter(|m| m.start() == 0 && !told.is_empty()) {
                    current = Some(round_index(&mut rounds, &round_name(m.as_str())));
                }
                story.extend(told.into_iter().map(|t| (current, t)));
                prose.push(line);
            }
        }
    }
    // A post told as a story (`一面：结合简历问了我…`, `架构：自研DAG…`) has no list to
    // read: when nothing else was found, its reported asks are the questions.
    if !listed || rounds.iter().all(|r| r.questions.is_empty()) {
        for (round, text) in story {
            let index = match round {
                Some(i) => i,
                None => round_index(&mut rounds, fallback_round.as_deref().unwrap_or(DEFAULT_ROUND)),
            };
            let category = category::categorize(&text, None, None);
            let topics = find_topics(&text);
            rounds[index].questions.push(Question { category, text, topics });
        }
    }
    rounds.retain(|r| !(r.questions.is_empty() && r.name == DEFAULT_ROUND));
    // A post told as a story still says which round it was.
    if rounds.is_empty()
        && let Some(name) = fallback_round
    {
        rounds.push(Round { name, questions: Vec::new() });
    }
    Parsed { rounds, prose }
}

/// Which lines are the author's advice to readers: a line that announces it
/// (`给准备 Agent 岗的朋友们一个提醒：…至少准备三条线：`, `提示，知识的广度：`) and the list
/// right below it, numbered or short lines, up to the first line that is neither.
fn advice_lines(lines: &[String]) -> Vec<bool> {
    const LEADS: &[&str] = &["提醒", "提示", "建议", "朋友们", "给大家", "学弟学妹"];
    let mut out = vec![false; lines.len()];
    let mut open = false;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        if open && (is_listed(line) || (line.chars().count() <= 20 && !line.contains(['？', '?']))) {
            out[i] = true;
            continue;
        }
        open = line.ends_with(['：', ':']) && LEADS.iter().any(|w| line.contains(w)) && !line.contains(['？', '?']);
        out[i] = open;
    }
    out
}

/// The asks a line of prose reports: a `topic：what was discussed` line whole, or each
/// sentence that says something was asked (`问了我…`, `好奇我为什么…`).
fn told_asks(line: &str) -> Vec<String> {
    static TOPIC_LINE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{Han}{2,6}[:：]\s*\S.{9,}$").expect("topic line"));
    const TOLD: &[&str] =
        &["问了", "问我", "问你", "问怎么", "问到", "好奇", "聊天", "让讲", "让我", "的代码", "写了一个"];
    if TOPIC_LINE.is_match(line) && !KIND_PREFIX.is_match(line) && !is_feeling(line) {
        return vec![line.to_string()];
    }
    let mut out = Vec::new();
    for sentence in line.split(['。', '！', '!']).map(str::trim) {
        // From the clause that reports the ask to the end of the sentence, stopping
        // where the author turns to how it went (`但是我感觉…`).
        let clauses: Vec<&str> = sentence.split(['，', ',']).map(str::trim).collect();
        let Some(start) = clauses.iter().position(|c| TOLD.iter().any(|t| c.contains(t)) && !is_feeling(c)) else {
            continue;
        };
        let kept: Vec<&str> = clauses[start..]
            .iter()
            .take_while(|c| !is_feeling(c) && !c.starts_with(['但', '不']) && !c.starts_with("可惜"))
            .copied()
            .collect();
        // `问你玩什么游戏，说一下底层机制，数据结构你会怎么设计，aoi有那些算法`: a list of
        // asks run together with commas, each one short, is one ask per clause.
        let listed_asks = kept.len() >= 4 && kept.iter().all(|c| (2..=16).contains(&c.chars().count()));
        if listed_asks {
            out.extend(kept.iter().map(|c| c.to_string()));
            continue;
        }
        let told = kept.join("，");
        if told.chars().count() >= 6 {
            out.push(told);
        }
    }
    out
}

/// The index of the round with this name, appended when new (a post may return to a round).
fn round_index(rounds: &mut Vec<Round>, name: &str) -> usize {
    if let Some(i) = rounds.iter().position(|r| r.name == name) {
        return i;
    }
    rounds.push(Round { name: name.to_string(), questions: Vec::new() });
    rounds.len() - 1
}

/// `hr面` and `HR 面` are the same round as `HR面`.
fn round_name(found: &str) -> String {
    let compact: String = found.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_ascii() || compact.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        let (head, tail) = compact.split_at(compact.find('面').unwrap_or(compact.len()));
        return format!("{}{tail}", head.to_ascii_uppercase());
    }
    compact
}

fn round_heading(line: &str) -> Option<String> {
    if line.chars().count() > 24 {
        return None;
    }
    ROUND_HEADING.captures(line).map(|c| round_name(&c[1]))
}

/// A Markdown heading naming a round the pattern does not know: `## 人事面`, `## 产品/测试面`.
fn other_round_heading(line: &str) -> Option<String> {
    let bare = line.trim_end_matches([':', '：', ' ']);
    let n = bare.chars().count();
    if !(2..=8).contains(&n) || !bare.ends_with('面') {
        return None;
    }
    Some(if bare == "人事面" { "HR面".to_string() } else { bare.to_string() })
}

/// Markdown and bracket decoration around a line: `## `, `**...**`, `【...】`.
fn strip_markup(line: &str) -> String {
    static HASHTAGS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:#[^#\s]{1,20}#\s*)+").expect("hashtags"));
    // `#发面经攒人品# 架构与Agent设计`: the tag is decoration, the rest is the line.
    let line = HASHTAGS.replace(line.trim(), "");
    let line = line.trim().trim_start_matches('#').trim();
    let line = line.trim_start_matches(['>', ' ']).trim();
    let line = line.strip_prefix("**").map(|l| l.replacen("**", "", 1)).unwrap_or_else(|| line.to_string());
    let line = line.trim();
    match line.strip_prefix('【').and_then(|l| l.split_once('】')) {
        Some((inner, rest)) if rest.trim().is_empty() => inner.trim().to_string(),
        Some((inner, rest)) => format!("{}：{}", inner.trim(), rest.trim().trim_start_matches([':', '：'])),
        None => line.to_string(),
    }
}

/// A line that only announces the kind of the questions below it: `八股：`, `## 项目`,
/// `项目部分`. A bare `项目拷打` is not one: posts use that as a line of their list.
fn section_heading(line: &str, markdown_heading: bool) -> Option<Category> {
    let bare = line.trim_end_matches([':', '：', ' ']);
    let colon = bare.len() != line.len();
    let stripped = ["部分", "相关", "环节", "问题"].iter().fold(bare, |b, s| b.strip_suffix(s).unwrap_or(b));
    if !(markdown_heading || colon || stripped.len() != bare.len()) {
        return None;
    }
    let bare = stripped;
    match bare {
        "八股" | "八股文" | "基础" | "基础知识" => Some(Category::Fundamentals),
        "项目" | "项目拷打" | "实习" | "实习经历" | "项目与实习" => Some(Category::Project),
        "代码题" | "手撕" | "手撕代码" | "算法题" | "编程题" | "代码" => Some(Category::Coding),
        "场景题" | "系统设计" => Some(Category::Scenario),
        "智力题" => Some(Category::Other),
        _ => None,
    }
}

/// A kind word alone on a line with a numbered list starting within the next two lines:
/// `手撕` then `1 JAVA 矩阵乘法`, `八股` then `比较基础` then `1 …`. Not the project words:
/// a bare `项目拷打` is a line of the list (FORMAT.md), wherever it stands.
fn bare_section(line: &str, below: &[String]) -> Option<Category> {
    let kind = match line.trim() {
        "八股" | "八股文" => Category::Fundamentals,
        "手撕" | "手撕代码" | "代码题" | "算法题" | "编程题" | "算法" => Category::Coding,
        "场景题" | "系统设计" => Category::Scenario,
        _ => return None,
    };
    below.iter().filter(|l| !l.is_empty()).take(2).any(|l| unlist(l).is_some()).then_some(kind)
}

/// A numbered line with its own items right below it: `3、八股` then `a. ThreadLocal…`,
/// or `2.项目相关` then unnumbered questions. A line with items of its own is a heading.
fn heads_items(line: &str, next: Option<&str>) -> bool {
    let (Some(item), Some(next)) = (unlist(line), next) else { return false };
    // `5.1自动售卖机…` then `5.2…`: items of the same heading, not a heading and its item.
    if sub_item(line).is_some() && sub_item(next).is_some() {
        return false;
    }
    if item.contains(['？', '?']) {
        return false;
    }
    // `3. 因为是做agent，所以问了一些agent问题` then `3.1 …`: numbered like its items.
    let number: String = line.trim_start_matches(['(', '（']).chars().take_while(char::is_ascii_digit).collect();
    if sub_item(next).is_some_and(|(n, _)| n == number) {
        // `5.上面问题答的很深…我们做一些场景题，问了三个场景题` then `5.1…`: a lead-in.
        return item.chars().count() <= 60;
    }
    item.chars().count() <= 16
        && (letter_item(next).is_some() || (unlist(next).is_none() && next.contains(['？', '?'])))
}

/// A short unnumbered line above a list that names a part of the interview:
/// `场景设计题`, `团队与个人规划`, `Prompt与上下文工程`, `以下是面试问题：`.
fn keyword_heading(line: &str, listed: bool, next: Option<&str>) -> bool {
    let n = line.chars().count();
    if !listed
        || unlist(line).is_some()
        || sub_item(line).is_some()
        || n > 16
        || line.contains(['？', '?', '。', '，', ','])
    {
        return false;
    }
    let next_listed = next.is_some_and(|l| unlist(l).is_some() || l.contains(['？', '?']));
    next_listed && (line.ends_with(['：', ':']) || !coding::opens_with_task(line) && !is_generic_item(line))
}

/// Items authors list as questions though they have no question words (FORMAT.md).
fn is_generic_item(line: &str) -> bool {
    ["自我介绍", "项目拷打", "拷打", "深挖", "实习", "开场", "聊", "手撕"].iter().any(|w| line.contains(w))
}

/// The kind a heading's words name, if any.
fn heading_kind(line: &str) -> Option<Category> {
    let has = |ws: &[&str]| ws.iter().any(|w| line.contains(w));
    // `一些实习之外的问题` names what its questions are not about.
    if has(&["之外", "以外", "除了"]) {
        None
    } else if has(&["反问", "动机", "hr", "HR", "团队", "规划", "综合", "软素质"]) {
        Some(Category::Behavioral)
    } else if has(&["自我介绍"]) {
        Some(Category::SelfIntro)
    } else if has(&["场景", "系统设计", "开放性", "设计题"]) {
        Some(Category::Scenario)
    } else if has(&["项目", "实习", "简历"]) {
        Some(Category::Project)
    } else if has(&["八股", "基础", "原理", "源码", "认知"]) {
        Some(Category::Fundamentals)
    } else if has(&["手撕", "算法题", "代码", "coding"]) {
        Some(Category::Coding)
    } else {
        None
    }
}

/// The candidate's own 反问, results, "没了", timings: never the interviewer's question.
fn is_not_a_question(line: &str) -> bool {
    let body = unlist(line).or_else(|| letter_item(line)).unwrap_or(line).trim();
    let body = body.trim_start_matches(['（', '(']);
    body.starts_with("反问")
        || body.starts_with("没了")
        || body.starts_with("结束")
        || body.contains("反问环节")
        || body.contains("还有什么问题")
        || body.contains("有什么想问")
        || body.starts_with("以下是")
        || body.starts_with("问了业务")
        || RESULT.is_match(body)
}

/// A round's outcome or its lack of questions: `三面hr面，没有问什么，聊天` (but not
/// `一面没问什么技术问题，就是问能不能到岗`),
/// `hr面完下午发意向，直接接受了`.
static RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)没(?:有)?问什么(?:[，,。]|$)|发(?:了)?意向|给(?:了)?意向|直接接受|已oc|oc了|收到offer|挂了|感谢信")
        .expect("result")
});

/// A lettered sub-item: `a. ThreadLocal…`, `b、RPC…`.
fn letter_item(line: &str) -> Option<&str> {
    let mut chars = line.char_indices();
    let (_, c) = chars.next()?;
    if !c.is_ascii_alphabetic() {
        return None;
    }
    let (at, sep) = chars.next()?;
    if !['.', '、', ')', '）', '．'].contains(&sep) {
        return None;
    }
    let after = &line[at + sep.len_utf8()..];
    // `a. ThreadLocal` and `b、RPC` are items; `e.g.` and `A.B` are not.
    let spaced = after.starts_with(' ') || after.starts_with(|c: char| !c.is_ascii());
    let rest = after.trim();
    (spaced && !rest.is_empty()).then_some(rest)
}

/// A numbered or bulleted list item: `1.`, `2、`, `(3)`, `Q4:`, `- `, `• `.
fn is_listed(line: &str) -> bool {
    unlist(line.trim()).is_some() || letter_item(line.trim()).is_some()
}

/// The item's text without its number or bullet, when the line is a list item.
fn unlist(line: &str) -> Option<&str> {
    let line = line.trim_start_matches("**");
    for bullet in ['-', '*', '•', '·', '●', '▪', '+', '◦'] {
        if let Some(rest) = line.strip_prefix(bullet) {
            let rest = rest.trim_start();
            return (!rest.is_empty() && !rest.starts_with(bullet)).then_some(rest);
        }
    }
    // `①自我介绍`: circled numbers are list numbers too.
    if let Some(first) = line.chars().next()
        && ('①'..='⑳').contains(&first)
    {
        let text = line[first.len_utf8()..].trim_start_matches(['.', '、', ' ']).trim();
        return (!text.is_empty()).then_some(text);
    }
    let line = line.strip_prefix(['(', '（']).unwrap_or(line);
    let line = line.strip_prefix(['Q', 'q']).unwrap_or(line);
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = &line[digits..];
    let after_sep = rest.trim_start().strip_prefix(['.', '、', '．', ':', '：', ')', '）', '，']);
    let text = match after_sep {
        Some(text) => {
            // `7.14 字节`: a date, not item 7; but `2.3分钟介绍项目` is item 2.
            if rest.starts_with('.') && starts_with_number(text) {
                return None;
            }
            text
        }
        // `1 主要问...`: a number, a space, then words.
        None if rest.starts_with(' ') => rest,
        None => return None,
    };
    let text = text.trim();
    (!text.is_empty() && !starts_with_number(text)).then_some(text)
}

/// Digits standing alone at the start (`14 字节`, `20 - x`, `12`), not a count that is
/// part of the words (`3分钟介绍项目`).
fn starts_with_number(text: &str) -> bool {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && text[digits..].chars().next().is_none_or(|c| c.is_whitespace() || c.is_ascii_punctuation())
}

/// A second-level item under a numbered heading: `3.1 说一下 ReAct范式`, `5.1自动售卖机…`
/// (no space before the words). Alone it could
/// be a date (`7.14 字节`), so it counts only right under a heading with items.
fn sub_item(line: &str) -> Option<(&str, &str)> {
    static SUB: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d{1,2})\.\d{1,2}[\s、.．)）]*([^\d\s、.．)）].*)$").expect("sub item"));
    let c = SUB.captures(line)?;
    Some((c.get(1)?.as_str(), c.get(2)?.as_str()))
}

/// The question a line asks, or `None` when the line is prose.
fn question(
    line: &str,
    listed: bool,
    in_block: bool,
    context: Option<Category>,
    previous: Option<Category>,
) -> Option<Question> {
    // Under a heading with items, `2.1自动售卖机…` is item 2.1, not item 2 reading `1自动…`.
    let item = in_block
        .then(|| sub_item(line).map(|(_, t)| t))
        .flatten()
        .or_else(|| unlist(line))
        .or_else(|| letter_item(line));
    let body = item.unwrap_or(line).trim();
    let (prefix_kind, text) = match KIND_PREFIX.captures(body) {
        Some(c) => (Some(prefix_category(&c[1])), c[2].trim().to_string()),
        None => (None, body.to_string()),
    };
    let text = text.trim_end_matches(['；', ';']).trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_QUESTION_CHARS {
        return None;
    }
    // In a numbered post, lines between items are mostly answers and remarks; a line
    // that asks (？), follows up, or sets a task is still the interviewer's.
    let asks_in_list = listed
        && (FOLLOW_UP.is_match(&text)
            || coding::opens_with_task(&text)
            || (text.contains(['？', '?']) && !is_feeling(&text) && text.chars().count() <= 120)
            || (in_block && !is_feeling(&text) && text.chars().count() <= 40 && !text.contains('。'))
            // `项目深挖` between the intro and the list: an item of the interview (FORMAT.md).
            || (is_generic_item(&text)
                && text.chars().count() <= 8
                && !is_feeling(&text)
                && !text.starts_with(['无', '没', '不'])));
    let self_intro = text.contains("自我介绍") && text.chars().count() <= 20;
    let is_question = item.is_some()
        || self_intro
        || prefix_kind.is_some()
        || asks_in_list
        || (!listed && (coding::opens_with_task(&text) || looks_like_question(&text, context.is_some())));
    if !is_question {
        return None;
    }
    let category = match prefix_kind {
        // `项目：…` names the kind, unless the words say it is really a coding task.
        Some(kind) if kind != Category::Coding && coding::is_coding(&text) => Category::Coding,
        Some(kind) => kind,
        None => category::categorize(&text, context, previous),
    };
    let topics = find_topics(&text);
    Some(Question { category, text, topics })
}

fn prefix_category(prefix: &str) -> Category {
    match prefix.to_lowercase().as_str() {
        "八股" | "八股文" | "基础" | "基础知识" => Category::Fundamentals,
        "项目" | "项目拷打" | "实习" | "实习经历" => Category::Project,
        "自我介绍" => Category::SelfIntro,
        "反问" | "hr" | "hr问题" => Category::Behavioral,
        "场景题" | "系统设计" => Category::Scenario,
        "智力题" => Category::Other,
        _ => Category::Coding,
    }
}

/// For posts without a list: asks something, or is a short topic line, not a remark.
fn looks_like_question(text: &str, in_section: bool) -> bool {
    if is_remark(text) {
        return false;
    }
    if text.contains(['？', '?']) {
        return true;
    }
    // `agent项目基于什么背景，用了什么框架，…怎么解决的`: a run of asks may be long.
    let asks = ["什么", "怎么", "哪些", "如何", "为什么"].iter().filter(|w| text.contains(*w)).count() >= 2;
    let short = text.chars().count() <= if in_section || asks { 60 } else { 30 };
    short && !text.contains(['。', '！', '!', '~', '～'])
}

/// The author's feelings and the page's chatter: never a question, even with a `？`.
fn is_feeling(text: &str) -> bool {
    const FEELINGS: &[&str] =
        &["感觉", "我当时", "许愿", "攒人品", "挂了", "凉", "offer", "没过", "催", "佬", "蹲", "求捞"];
    FEELINGS.iter().any(|w| text.contains(w))
}

/// The author talking about the interview rather than reporting a question.
fn is_remark(text: &str) -> bool {
    const REMARKS: &[&str] = &[
        "感觉",
        "总结",
        "面试官",
        // `整体来说`, `整体难度不大`; not `整体流程` (a question).
        "整体来",
        "整体还",
        "整体难",
        "整体不",
        "整体体验",
        "整体感",
        "太菜",
        "难道",
        "许愿",
        "攒人品",
        "通知",
        "挂了",
        "凉",
        "oc",
        "OC",
        "offer",
        "体验",
        "建议",
        "分钟",
        "min",
        "时间",
        "今天",
        "昨天",
        "后续",
        "更新",
        "补充",
        "没过",
        "催",
        "佬",
        "蹲",
    ];
    REMARKS.iter().any(|w| text.contains(w))
}

/// Every coding question, plus LeetCode problems mentioned in prose.
fn coding_problems(rounds: &[Round], prose: &[String]) -> Vec<CodingProblem> {
    let asked =
        rounds.iter().flat_map(|r| &r.questions).filter(|q| q.category == Category::Coding).map(|q| q.text.as_str());
    let mentioned = prose.iter().map(String::as_str).filter(|l| coding::mentions_leetcode(l));
    let mut out: Vec<CodingProblem> = Vec::new();
    for text in asked.chain(mentioned) {
        // One entry per problem: `LeetCode 121、122、123、188` is four tasks on one line.
        let numbers = coding::leetcode_numbers(text);
        let numbered: Vec<Option<u32>> =
            if numbers.is_empty() { vec![None] } else { numbers.into_iter().map(Some).collect() };
        for leetcode in numbered {
            if out.iter().all(|p| p.text != text || p.leetcode != leetcode) {
                out.push(CodingProblem { text: text.to_string(), leetcode });
            }
        }
    }
    out
}

/// The first LeetCode number a text gives: `lc54` → 54, `LeetCode 146` → 146.
pub fn leetcode_number(text: &str) -> Option<u32> {
    coding::leetcode_numbers(text).first().copied()
}

/// Where `needle` (ASCII folded to lower case) occurs in `hay` as a whole word.
fn find_word(hay_lower: &str, needle: &str) -> Option<usize> {
    let needle = needle.to_ascii_lowercase();
    let ascii_edges = needle.starts_with(|c: char| c.is_ascii_alphanumeric())
        || needle.ends_with(|c: char| c.is_ascii_alphanumeric());
    let mut from = 0;
    while let Some(found) = hay_lower[from..].find(&needle) {
        let at = from + found;
        let end = at + needle.len();
        let before = hay_lower[..at].chars().next_back();
        let after = hay_lower[end..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        if !ascii_edges || (bounded(before) && bounded(after)) {
            return Some(at);
        }
        from = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// The company named earliest in the text (the longest alias on a tie), as reported.
fn find_company(text: &str, is_title: bool) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let title_only = if is_title { TITLE_ONLY_COMPANIES } else { &[] };
    COMPANIES
        .iter()
        .chain(title_only)
        .flat_map(|(name, aliases)| {
            aliases.iter().filter_map(|a| find_employer(&lower, a).map(|at| (at, std::cmp::Reverse(a.len()), *name)))
        })
        .min()
        .map(|(_, _, name)| name.to_string())
}

/// The company a post's headline names in its own slot, `日期 - 公司 - 岗位轮次`
/// (`26.7.20 - FOSHO - AI应用开发二面`): the way authors head a post, so the name counts
/// even when no dictionary knows it (a small company). Known names keep their canonical form.
fn headline_company(line: &str) -> Option<String> {
    static HEADLINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\d{1,4}[./年-]\d{1,2}(?:[./月-]\d{1,2}日?)?\s*[-–—|｜]\s*([^-–—|｜]{1,20}?)\s*[-–—|｜]\s*(\S.*)$")
            .expect("headline")
    });
    const ROLE: &[&str] = &["开发", "工程师", "实习", "算法", "岗", "面", "后端", "前端", "测试", "产品"];
    let c = HEADLINE.captures(line.trim())?;
    let (name, rest) = (c.get(1)?.as_str().trim(), c.get(2)?.as_str());
    let names_a_role = |t: &str| ROLE.iter().any(|w| t.contains(w)) || ROUND_RE.is_match(t);
    if name.is_empty() || name.chars().any(|c| c.is_ascii_digit()) || names_a_role(name) || !names_a_role(rest) {
        return None;
    }
    find_company(name, true).or_else(|| Some(name.to_string()))
}

/// The company a title names before its role, when no dictionary knows it:
/// `顺丰大模型实习面经` → 顺丰, `北京四维图新面经` → 四维图新, `CVTE ai应用开发一面面经` → CVTE.
/// Authors head a post `<company><role><round>面经`, so what comes before the first word
/// of a role, a round or a post (its first piece, past dates and cities) is the company,
/// unless it is a stand-in (`某中厂`, `小厂`, `初创`) or a role itself (`hr`, `Agent`).
fn title_company(title: &str) -> Option<String> {
    /// Words that start the role, round or post part of a title.
    const AFTER_COMPANY: &[&str] = &[
        "面经",
        "面试",
        "凉经",
        "笔试",
        "实习",
        "暑期",
        "秋招",
        "春招",
        "校招",
        "社招",
        "提前批",
        "日常",
        "大模型",
        "算法",
        "开发",
        "研发",
        "后端",
        "后台",
        "前端",
        "测试",
        "测开",
        "产品",
        "运营",
        "全栈",
        "应用",
        "岗",
        "方向",
        "工程师",
        "客户端",
        "数据",
        "分享",
        "攒人品",
        "求问",
        "ai",
        "agent",
        "llm",
        "nlp",
        "java",
        "golang",
        "python",
        "c++",
        "infra",
    ];
    /// Places, stand-ins for a company and who-am-I words: never the company.
    const NOT_A_COMPANY: &[&str] = &[
        "北京", "上海", "深圳", "杭州", "成都", "广州", "南京", "武汉", "西安", "长沙", "天津", "苏州", "重庆", "合肥",
        "厦门", "线下", "线上", "双非", "本科", "硕士", "b端", "c端",
    ];
    let t = ROUND_RE.replace_all(title, " ");
    static DATES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\d{1,4}[./年-]\d{1,2}(?:[./月-]\d{1,2}日?)?|【[^】]*】|\[[^\]]*\]").expect("dates")
    });
    let t = DATES.replace_all(&t, " ").to_lowercase();
    let first = t
        .split(|c: char| c.is_whitespace() || "-–—|｜:：·,，、/_（）()!！?？".contains(c))
        .find(|p| !p.trim().is_empty())?;
    let cut = AFTER_COMPANY.iter().filter_map(|w| find_word(first, w)).min().unwrap_or(first.len());
    let mut name = &first[..cut];
    for word in NOT_A_COMPANY {
        name = name.trim_start_matches(word);
    }
    let name = name.trim_matches(|c: char| !c.is_alphanumeric());
    let chars = name.chars().count();
    let stand_in = name.contains(['某', '厂']) || ["初创", "公司", "hr", "vp"].contains(&name);
    if !(2..=12).contains(&chars) || stand_in || name.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    // Keep the title's own spelling (`CVTE`, not `cvte`).
    let at = title.to_lowercase().find(name)?;
    title.get(at..at + name.len()).map(str::to_string)
}

/// Where an alias names the company interviewed at: `前字节的员工` (a former employee)
/// does not.
fn find_employer(hay_lower: &str, alias: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find_word(&hay_lower[from..], alias).map(|i| i + from) {
        if !hay_lower[..at].ends_with(['前', '原']) {
            return Some(at);
        }
        from = at + alias.len();
    }
    None
}

/// The dictionary topics a text mentions, in the order it first mentions them.
pub fn find_topics(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, &str)> = TOPICS
        .iter()
        .filter_map(|(name, aliases)| aliases.iter().filter_map(|a| find_word(&lower, a)).min().map(|at| (at, *name)))
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name.to_string()).collect()
}

/// The role from a title like `算法面经：美团大模型应用算法工程师`: the title without the
/// company, rounds, dates and post words, then the piece that names a role.
fn position_from_title(title: &str) -> Option<String> {
    const ROLE: &[&str] = &[
        "工程师",
        "开发",
        "算法",
        "后端",
        "后台",
        "前端",
        "测试",
        "产品",
        "运营",
        "研究员",
        "agent",
        "infra",
        "解决方案",
        "golang",
        "java",
        "c++",
        "客户端",
        "架构",
        "数据",
    ];
    const NOISE: &[&str] = &[
        "面经分享",
        "面经",
        "面试",
        "凉经",
        "分享",
        "攒人品",
        "秋招",
        "春招",
        "校招",
        "社招",
        "暑期",
        "日常",
        "提前批",
        "北京",
        "上海",
        "深圳",
        "杭州",
        "成都",
        "广州",
        "南京",
        "武汉",
        "某小厂",
        "小厂",
        "初创",
        "已过",
        "跪了",
    ];
    static DATES: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\d{1,2}[./]\d{1,2}|\d+\s*(?:min|m|h)\b|[（(][^)）]*[)）]?").expect("dates"));
    let mut t = DATES.replace_all(title, " ").into_owned();
    t = ROUND_RE.replace_all(&t, " ").into_owned();
    for (_, aliases) in COMPANIES.iter().chain(TITLE_ONLY_COMPANIES) {
        for alias in aliases.iter() {
            t = t.replace(alias, " ");
        }
    }
    for noise in NOISE {
        t = t.replace(noise, " ");
    }
    t.split(['：', ':', '|', '·', '-', '—', '/', '，', ',', '!', '！', '、', '_'])
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|p| p.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|p| ROLE.iter().any(|r| p.to_lowercase().contains(r)))
        .max_by_key(|p| p.chars().count())
}

struct Notes {
    experiences: Vec<String>,
    tips: Vec<String>,
    advice: Vec<String>,
}

/// Sentences of the author's prose sorted by their cue words.
fn notes(prose: &[String]) -> Notes {
    let mut notes = Notes { experiences: Vec::new(), tips: Vec::new(), advice: Vec::new() };
    let sentences = prose.iter().flat_map(|l| l.split(['。', '！', '!', '；', ';'])).map(str::trim);
    for sentence in sentences {
        let n = sentence.chars().count();
        if !(6..=150).contains(&n) {
            continue;
        }
        let has = |cues: &[&str]| cues.iter().any(|c| sentence.contains(c));
        // Advice to readers is what a job seeker wants as tips too (FORMAT.md: tips are
        // the author's advice as written).
        if has(ADVICE_CUES) && notes.tips.len() < MAX_NOTES && !notes.tips.iter().any(|s| s == sentence) {
            notes.tips.push(sentence.to_string());
        }
        let bucket = if has(ADVICE_CUES) {
            &mut notes.advice
        } else if has(TIP_CUES) {
            &mut notes.tips
        } else if has(EXPERIENCE_CUES) {
            &mut notes.experiences
        } else {
            continue;
        };
        if bucket.len() < MAX_NOTES && !bucket.iter().any(|s| s == sentence) {
            bucket.push(sentence.to_string());
        }
    }
    notes
}

/// A sentence or two saying what the post covers, built from what was extracted.
fn overview(company: Option<&str>, position: Option<&str>, rounds: &[Round], topics: &[String]) -> String {
    let who = format!("{}{}", company.unwrap_or(""), position.unwrap_or(""));
    let who = if who.is_empty() { "本文".to_string() } else { who };
    let total: usize = rounds.iter().map(|r| r.questions.len()).sum();
    let names: Vec<&str> = rounds.iter().map(|r| r.name.as_str()).collect();
    let mut counts = Vec::new();
    for (cat, label) in [
        (Category::SelfIntro, "自我介绍"),
        (Category::Fundamentals, "八股"),
        (Category::Project, "项目"),
        (Category::Scenario, "场景题"),
        (Category::Coding, "代码题"),
        (Category::Behavioral, "行为/反问"),
        (Category::Other, "其他"),
    ] {
        let n = rounds.iter().flat_map(|r| &r.questions).filter(|q| q.category == cat).count();
        if n > 0 {
            counts.push(format!("{label}{n}"));
        }
    }
    let mut s = if rounds.is_empty() {
        format!("{who}面经：未识别出面试问题。")
    } else {
        format!("{who}面经：{}轮（{}），共{total}题（{}）。", rounds.len(), names.join("、"), counts.join("、"))
    };
    if !topics.is_empty() {
        let shown: Vec<&str> = topics.iter().take(12).map(String::as_str).collect();
        s.push_str(&format!("涉及：{}。", shown.join("、")));
    }
    s.push_str("（本地规则提取）");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(e: &Extract) -> Vec<(String, Vec<Category>)> {
        e.rounds.iter().map(|r| (r.name.clone(), r.questions.iter().map(|q| q.category).collect())).collect()
    }

    #[test]
    fn prefixed_lines_under_round_headings() {
        let e = extract(
            Some("美团面经"),
            "一面：\n自我介绍\n八股：LoRA原理\n项目：RAG怎么评估\n代码题：lc54. 螺旋矩阵\n",
            &[],
        );
        use Category::*;
        assert_eq!(cats(&e), [("一面".to_string(), vec![SelfIntro, Fundamentals, Project, Coding])]);
        assert_eq!(e.rounds[0].questions[1].text, "LoRA原理");
        assert_eq!(e.coding_problems, [CodingProblem { text: "lc54. 螺旋矩阵".into(), leetcode: Some(54) }]);
        assert_eq!(e.company.as_deref(), Some("美团"));
    }

    #[test]
    fn numbered_list_ignores_answers_between_items() {
        let text = "## 二面\n\n1. 自我介绍\n2. 讲一下RAFT算法？\n\n从两个层面解释了\n\n3. 手撕LRU\n4. 反问\n";
        let e = extract(Some("某厂二面"), text, &[]);
        use Category::*;
        // The candidate's 反问 is not a question the interviewer asked (gold/FORMAT.md).
        assert_eq!(cats(&e), [("二面".to_string(), vec![SelfIntro, Fundamentals, Coding])]);
    }

    #[test]
    fn numbered_headings_over_their_items_are_headings() {
        let text = "1、实习拷打\n2、项目相关的问题\n3、八股\na. ThreadLocal怎么使用的\nb. RPC 和 Http有什么区别\n4、AI相关\n\
                    a. 了解Rag吗？\n5.其他问题\n假设你入职后让你做调研，你怎么开展工作？\n";
        let e = extract(None, text, &[]);
        let got: Vec<(&str, Category)> = e.rounds[0].questions.iter().map(|q| (q.text.as_str(), q.category)).collect();
        use Category::*;
        assert_eq!(
            got,
            [
                ("实习拷打", Project),
                ("项目相关的问题", Project),
                ("ThreadLocal怎么使用的", Fundamentals),
                ("RPC 和 Http有什么区别", Fundamentals),
                ("了解Rag吗？", Fundamentals),
                ("假设你入职后让你做调研，你怎么开展工作？", Scenario),
            ]
        );
    }

    #[test]
    fn unnumbered_questions_and_tasks_between_numbered_items() {
        let text = "1.什么是 agent\n2.agent 如何执行工具的\n3.为什么说 python 是单线程？\n\n\
                    我回答了GIL。\n\n算法最长子序列长度\n\n反问短板\n\n## 产品/测试面\n\n你怎么和产品对接的，流程、协作？\n";
        let e = extract(Some("腾讯一面"), text, &[]);
        let names: Vec<&str> = e.rounds.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["一面", "产品/测试面"]);
        let texts: Vec<&str> = e.rounds.iter().flat_map(|r| &r.questions).map(|q| q.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "什么是 agent",
                "agent 如何执行工具的",
                "为什么说 python 是单线程？",
                "算法最长子序列长度",
                "你怎么和产品对接的，流程、协作？"
            ]
        );
        assert_eq!(e.coding_problems, [CodingProblem { text: "算法最长子序列长度".into(), leetcode: None }]);
        assert_eq!(e.rounds[1].questions[0].category, Category::Behavioral);
    }

    #[test]
    fn chinese_numeral_sections_set_the_kind() {
        let text = "一、自我介绍\n1. 请用两分钟介绍一下自己。\n二、长视频理解项目\n2. 为什么选择这个模型？\n\
                    三、候选人反问\n3. 团队做什么业务？\n";
        let e = extract(None, text, &[]);
        use Category::*;
        assert_eq!(cats(&e), [("面试".to_string(), vec![SelfIntro, Project, Behavioral])]);
    }

    #[test]
    fn story_posts_report_what_was_asked() {
        let text = "其实这不是开发岗。\n一面：结合简历问了我关于 rag的流程。整体还行\n\
                    二面：纯聊天，问怎么看北京。然后介绍部门，他可能好奇我为什么来干职能工作\n";
        let e = extract(Some("理想 ai 解决方案面经"), text, &[]);
        let got: Vec<(&str, Vec<&str>)> =
            e.rounds.iter().map(|r| (r.name.as_str(), r.questions.iter().map(|q| q.text.as_str()).collect())).collect();
        assert_eq!(
            got,
            [
                ("一面", vec!["结合简历问了我关于 rag的流程"]),
                ("二面", vec!["纯聊天，问怎么看北京", "他可能好奇我为什么来干职能工作"]),
            ]
        );
        let topics =
            extract(None, "架构：自研DAG轻量工作流，没上LangGraph。\n评测：初期人工抽检，稳了看采纳率。\n", &[]);
        assert_eq!(topics.rounds[0].questions.len(), 2);
    }

    #[test]
    fn sub_items_and_counts_in_numbered_lists() {
        let text = "1. 实习拷打\n2.3分钟介绍项目\n3. 因为是做agent，所以问了一些agent问题\n3.1 说一下 ReAct范式\n\
                    3.2 说说skill\n4. 手撕题—求岛屿数量\n";
        let e = extract(Some("阿里一面"), text, &[]);
        let texts: Vec<&str> = e.rounds[0].questions.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts, ["实习拷打", "3分钟介绍项目", "说一下 ReAct范式", "说说skill", "手撕题—求岛屿数量"]);
        assert_eq!(e.rounds[0].questions[1].category, Category::Project);
        assert_eq!(e.coding_problems[0].leetcode, Some(200));
        // Alone, `7.14 字节` is a date, not item 7 (a sub-item only under its heading).
        assert_eq!(unlist("7.14 字节"), None);
    }

    #[test]
    fn schedules_and_comma_lists_of_asks() {
        let text = "一面5.14\n二面5.19\nhr面5.21，当天下午意向\n\n\
                    一面是leader，问你玩什么游戏，说一下底层机制，aoi有那些算法，网络传输协议\n\
                    二面主管看我简历有agent，一直问我agent，然后问我游戏的寻路算法有哪些\n三面hr面，没有问什么，聊天\n";
        let e = extract(Some("灵犀互娱暑期实习面经"), text, &[]);
        let got: Vec<(&str, Vec<&str>)> =
            e.rounds.iter().map(|r| (r.name.as_str(), r.questions.iter().map(|q| q.text.as_str()).collect())).collect();
        assert_eq!(
            got,
            [
                ("一面", vec!["问你玩什么游戏", "说一下底层机制", "aoi有那些算法", "网络传输协议"]),
                ("二面", vec!["一直问我agent，然后问我游戏的寻路算法有哪些"]),
                ("HR面", vec![]),
            ]
        );
        assert_eq!(e.company.as_deref(), Some("灵犀互娱"));
    }

    #[test]
    fn advice_lists_are_not_questions() {
        let text = "深挖项目，整体流程，怎么兜底\n如何评测agent系统\n\n提示，知识的广度：\n用例的评测\nagent的框架\n";
        let e = extract(Some("滴滴一面面经"), text, &[]);
        let texts: Vec<&str> = e.rounds[0].questions.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts, ["深挖项目，整体流程，怎么兜底", "如何评测agent系统"]);
        // A numbered list of advice does not make the post a numbered one.
        let text = "你的Agent为什么要有长短期记忆？\n上下文窗口不够了怎么办\n给准备的朋友们一个提醒：至少准备三条线：\n\
                    1、Agent 线：ReAct、RAG。\n2、后端线：并发、Redis。\n3、项目线：有没有上线。\n";
        let e = extract(Some("快手Agent开发一面"), text, &[]);
        let texts: Vec<&str> = e.rounds[0].questions.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts, ["你的Agent为什么要有长短期记忆？", "上下文窗口不够了怎么办"]);
    }

    #[test]
    fn sub_items_without_a_space_under_a_long_lead_in() {
        let text = "1.项目介绍\n2.上面问题答的很深很完整，面试官说看你经历这么丰富，我们做一些场景题，问了三个场景题\n\
                    2.1自动售卖机考虑哪些点\n2.2出现一些线上故障，怎么排查\n2.3 加入一个团队，你不熟悉的技术栈，你怎么快速学习\n\
                    3.算法题，最大子数组和\n";
        let e = extract(Some("拼多多一面"), text, &[]);
        let got: Vec<(&str, Category)> = e.rounds[0].questions.iter().map(|q| (q.text.as_str(), q.category)).collect();
        assert_eq!(
            got,
            [
                ("项目介绍", Category::Project),
                ("自动售卖机考虑哪些点", Category::Scenario),
                ("出现一些线上故障，怎么排查", Category::Scenario),
                ("加入一个团队，你不熟悉的技术栈，你怎么快速学习", Category::Behavioral),
                ("算法题，最大子数组和", Category::Coding),
            ]
        );
    }

    #[test]
    fn ocr_misreads_are_cleaned_before_extraction() {
        let e =
            extract(Some("快手二面"), "", &["1. 自我介绍\n2. FP : 实现多头注意力MHA\n3. Fi} : LeetCode 146 LRU缓存"]);
        let texts: Vec<&str> = e.rounds[0].questions.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts, ["自我介绍", "实现多头注意力MHA", "LeetCode 146 LRU缓存"]);
        assert_eq!(e.coding_problems.len(), 2);
        assert_eq!(e.coding_problems[1].leetcode, Some(146));
    }

    #[test]
    fn round_from_title_when_the_body_names_none() {
        let e = extract(
            Some("字节AI开发一面面经-实习"),
            "1.agent上下文维护方案\n2.mysql事务\n12.leetcode 2两数相加\n",
            &[],
        );
        assert_eq!(e.rounds.len(), 1);
        assert_eq!(e.rounds[0].name, "一面");
        assert_eq!(e.company.as_deref(), Some("字节跳动"));
        assert_eq!(e.position.as_deref(), Some("AI开发"));
        assert_eq!(e.coding_problems[0].leetcode, Some(2));
    }

    #[test]
    fn schedule_lines_are_rounds() {
        assert_eq!(round_heading("一面5.14").as_deref(), Some("一面"));
        assert_eq!(round_heading("hr面5.21，当天下午意向").as_deref(), Some("HR面"));
        assert_eq!(round_heading("一面5.14问了什么？"), None);
    }

    #[test]
    fn round_names_fold_case_and_keep_order() {
        let e = extract(None, "二面\n- Transformer原理\nhr面：\n- 职业规划\n一面\n- MoE是什么\n", &[]);
        let names: Vec<&str> = e.rounds.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["二面", "HR面", "一面"]);
    }

    #[test]
    fn markdown_round_headings_and_story_posts() {
        let text = "## 二面\n1. 自我介绍\n2. RAG\n## 人事面\n1. 职业规划\n## 产品/测试面\n1. 怎么测Agent\n";
        let e = extract(None, text, &[]);
        let names: Vec<&str> = e.rounds.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["二面", "HR面", "产品/测试面"]);
        let story = extract(Some("百度秋招二面 面经"), "这位面试官很年轻，主要问了项目。感觉整体还行。", &[]);
        // What a story reports as asked is the question (gold/FORMAT.md: per question sentence in prose).
        let asked = vec![Question { category: Category::Project, text: "主要问了项目".into(), topics: vec![] }];
        assert_eq!(story.rounds, [Round { name: "二面".into(), questions: asked }]);
    }

    #[test]
    fn bare_kind_words_are_questions_not_sections() {
        let e = extract(None, "项目拷打\nAgent与llm区别？\n八股：\nRedis为什么快？\n", &[]);
        let got: Vec<(Category, &str)> = e.rounds[0].questions.iter().map(|q| (q.category, q.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (Category::Project, "项目拷打"),
                (Category::Fundamentals, "Agent与llm区别？"),
                (Category::Fundamentals, "Redis为什么快？")
            ]
        );
    }

    #[test]
    fn former_employers_are_not_the_company() {
        assert_eq!(find_company("面试官是前字节的员工，人很好", false), None);
        assert_eq!(find_company("前端面试，字节", false).as_deref(), Some("字节跳动"));
    }

    #[test]
    fn dates_are_not_list_numbers() {
        assert_eq!(unlist("7.14 字节 三面"), None);
        assert_eq!(unlist("26.7.20 - FOSHO"), None);
        assert_eq!(unlist("1.agent上下文"), Some("agent上下文"));
        assert_eq!(unlist("（3）KV Cache"), Some("KV Cache"));
        assert_eq!(unlist("- bullet"), Some("bullet"));
        assert_eq!(unlist("12 "), None);
    }

    #[test]
    fn leetcode_numbers() {
        assert_eq!(leetcode_number("lc54. 螺旋矩阵"), Some(54));
        assert_eq!(leetcode_number("LeetCode 146 LRU缓存"), Some(146));
        assert_eq!(leetcode_number("力扣3"), Some(3));
        assert_eq!(leetcode_number("hot100 原题"), None);
        assert_eq!(leetcode_number("calc54"), None);
    }

    #[test]
    fn topics_match_whole_words_in_order() {
        assert_eq!(find_topics("QLoRA和LoRA，GraphRAG与RAG，MOE"), ["QLoRA", "LoRA", "GraphRAG", "RAG", "MoE"]);
        assert_eq!(find_topics("kv cache 和 vllm"), ["KV Cache", "vLLM"]);
        assert!(find_topics("DRAGON").is_empty());
    }

    #[test]
    fn companies_by_alias_title_first() {
        assert_eq!(find_company("pdd 提前批 ai agent 2面", true).as_deref(), Some("拼多多"));
        assert_eq!(find_company("阿里淘天AI agent开发一面", true).as_deref(), Some("阿里巴巴"));
        assert_eq!(find_company("理想 ai 解决方案面经", true).as_deref(), Some("理想汽车"));
        assert_eq!(find_company("我的理想是进大厂", false), None);
        assert_eq!(headline_company("26.7.20 - FOSHO - AI应用开发二面，30min").as_deref(), Some("FOSHO"));
        assert_eq!(headline_company("7.14 - 字节 - 后端一面").as_deref(), Some("字节跳动"));
        assert_eq!(headline_company("7.14 - 后端 - 一面"), None);
        assert_eq!(headline_company("某小厂AI应用开发/Agent开发 - 二面"), None);
        for (title, name) in [
            ("顺丰大模型实习面经 攒人品", Some("顺丰")),
            ("北京四维图新面经", Some("四维图新")),
            ("CVTE ai应用开发一面面经", Some("CVTE")),
            ("ailab agent方向一面面经", Some("ailab")),
            ("7.30-TCL科技Java实习面经", Some("TCL科技")),
            ("某中厂Agent开发面经-日常实习", None),
            ("天津小厂前端面经", None),
            ("上海agent初创面经", None),
            ("AI-agent研发实习面经分享", None),
            ("Agent面试", None),
            ("hr-系统-一面", None),
            ("面经分享", None),
        ] {
            assert_eq!(title_company(title).as_deref(), name, "{title}");
        }
        let e = extract(Some("字节一面"), "为什么选择阿里云ASR服务？", &[]);
        assert_eq!(e.company.as_deref(), Some("字节跳动"));
    }

    #[test]
    fn positions_from_titles() {
        assert_eq!(position_from_title("算法面经：美团大模型应用算法工程师").as_deref(), Some("大模型应用算法工程师"));
        assert_eq!(position_from_title("7.14 字节 AI Agent开发 三面").as_deref(), Some("AI Agent开发"));
        assert_eq!(position_from_title("美团一面面经"), None);
    }

    #[test]
    fn prose_feeds_tips_advice_and_experiences() {
        let text = "1. 自我介绍\n2. RAG\n3. MCP\n总结：感觉很看重ai。建议先把项目讲清楚。注意时间分配\n";
        let e = extract(None, text, &[]);
        assert_eq!(e.advice, ["建议先把项目讲清楚"]);
        // Advice to readers is a tip too (gold/FORMAT.md: tips are the author's advice).
        assert_eq!(e.tips, ["建议先把项目讲清楚", "注意时间分配"]);
        assert_eq!(e.key_experiences, ["总结：感觉很看重ai"]);
    }

    #[test]
    fn image_text_joins_the_post() {
        let e = extract(
            Some("快手二面"),
            "题目都在图里了，整体感觉还行。",
            &["1. 介绍一下 KV Cache\n2. 手撕 LeetCode 146"],
        );
        assert_eq!(e.rounds[0].name, "二面");
        assert_eq!(e.rounds[0].questions.len(), 2);
        assert_eq!(e.coding_problems[0].leetcode, Some(146));
        assert!(e.topics.contains(&"KV Cache".to_string()));
    }

    #[test]
    fn empty_post_is_an_empty_extract() {
        let e = extract(None, "", &[]);
        assert!(e.rounds.is_empty() && e.company.is_none());
        assert!(!e.overview.is_empty());
    }
}
