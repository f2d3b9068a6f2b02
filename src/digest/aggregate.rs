//! The figures of the digest: per company, topics, categories, coding problems, repeated
//! questions and the post index, computed from the loaded summaries.
//!
//! Everything that merges spellings (topics, companies, questions) counts *posts*, not
//! mentions, so one long post cannot dominate, and shows the spelling most posts use
//! (ties broken alphabetically, so the output never depends on reading order).

use super::{
    CategoryCount, CompanyStats, Digest, FrequentQuestion, LoadedPost, PostEntry, ProblemGroup, SCHEMA_VERSION,
    SkippedSummary, TopicCount,
};
use crate::summary::{Category, CodingProblem, Summary};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

pub(super) fn build(posts: &[LoadedPost], skipped: Vec<SkippedSummary>, generated_at: String) -> Digest {
    Digest {
        schema_version: SCHEMA_VERSION,
        generated_at,
        posts: posts.len(),
        questions: posts.iter().map(|p| question_count(&p.summary)).sum(),
        companies: companies(posts),
        topics: topics(posts),
        categories: categories(posts),
        coding_problems: coding_problems(posts),
        frequent_questions: frequent_questions(posts),
        index: posts.iter().map(entry).collect(),
        skipped,
    }
}

/// Occurrences merged under one key: in which posts, and how they were spelled.
#[derive(Default)]
struct Merged {
    posts: BTreeSet<usize>,
    forms: BTreeMap<String, usize>,
}

impl Merged {
    fn add(&mut self, post: usize, form: &str) {
        self.posts.insert(post);
        *self.forms.entry(form.to_string()).or_default() += 1;
    }

    /// The most used spelling; the first alphabetically among equals.
    fn display(&self) -> String {
        let mut best: Option<(&String, usize)> = None;
        for (form, &n) in &self.forms {
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((form, n));
            }
        }
        best.map(|(f, _)| f.clone()).unwrap_or_default()
    }

    fn post_ids(&self, posts: &[LoadedPost]) -> Vec<String> {
        self.posts.iter().map(|&i| posts[i].summary.post_id.clone()).collect()
    }
}

/// Case and runs of whitespace do not make another topic or company: "RAG" and "rag",
/// "Multi Agent" and "multi  agent" merge.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Sorts by posts (most first), then by name, so equal counts keep a stable order.
fn by_count<T>(items: &mut [T], key: impl Fn(&T) -> (usize, String)) {
    items.sort_by(|a, b| {
        let (na, sa) = key(a);
        let (nb, sb) = key(b);
        nb.cmp(&na).then(sa.cmp(&sb))
    });
}

fn question_count(s: &Summary) -> usize {
    s.extract.rounds.iter().map(|r| r.questions.len()).sum()
}

fn trimmed(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn companies(posts: &[LoadedPost]) -> Vec<CompanyStats> {
    // Posts naming no company gather under `None`.
    let mut groups: BTreeMap<Option<String>, (Merged, BTreeSet<String>, usize, usize)> = BTreeMap::new();
    for (i, p) in posts.iter().enumerate() {
        let e = &p.summary.extract;
        let company = trimmed(&e.company);
        let g = groups.entry(company.map(fold)).or_default();
        g.0.add(i, company.unwrap_or_default());
        g.1.extend(trimmed(&e.position).map(str::to_string));
        g.2 += e.rounds.len();
        g.3 += question_count(&p.summary);
    }
    let mut out: Vec<CompanyStats> = groups
        .into_iter()
        .map(|(key, (merged, positions, rounds, questions))| CompanyStats {
            company: key.map(|_| merged.display()),
            posts: merged.posts.len(),
            positions: positions.into_iter().collect(),
            rounds,
            questions,
        })
        .collect();
    // The unnamed group sorts like any other, by its count; its empty name puts it first
    // among equals, so push it behind them explicitly.
    out.sort_by(|a, b| {
        b.posts.cmp(&a.posts).then(a.company.is_none().cmp(&b.company.is_none())).then(a.company.cmp(&b.company))
    });
    out
}

fn topics(posts: &[LoadedPost]) -> Vec<TopicCount> {
    let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
    for (i, p) in posts.iter().enumerate() {
        let e = &p.summary.extract;
        let question_topics = e.rounds.iter().flat_map(|r| &r.questions).flat_map(|q| &q.topics);
        for topic in e.topics.iter().chain(question_topics) {
            let topic = topic.trim();
            if !topic.is_empty() {
                merged.entry(fold(topic)).or_default().add(i, topic);
            }
        }
    }
    let mut out: Vec<TopicCount> =
        merged.values().map(|m| TopicCount { topic: m.display(), posts: m.posts.len() }).collect();
    by_count(&mut out, |t| (t.posts, fold(&t.topic)));
    out
}

fn categories(posts: &[LoadedPost]) -> Vec<CategoryCount> {
    let questions: Vec<Category> =
        posts.iter().flat_map(|p| &p.summary.extract.rounds).flat_map(|r| &r.questions).map(|q| q.category).collect();
    Category::ALL
        .iter()
        .map(|&category| CategoryCount { category, questions: questions.iter().filter(|&&c| c == category).count() })
        .collect()
}

/// "lc54", "LeetCode 146", "力扣 200", "leetcode#2": the reference and its number.
static LEETCODE_REF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:leetcode|lc|力扣)\s*[#:：.]?\s*(\d+)").expect("valid regex"));

/// Separators between a problem's number and its name: "lc54. 螺旋矩阵".
const NAME_SEPARATORS: &[char] = &['.', '、', ':', '：', ',', '，', '。', '-', '—', ')', '）', '#', ' ', '\t'];

/// The name of a numbered problem: what follows its reference ("lc54. 螺旋矩阵" → "螺旋矩阵").
/// `None` when nothing does, or only more numbers ("LeetCode 121、122、123").
fn problem_name(text: &str, number: u32) -> Option<String> {
    let found = LEETCODE_REF
        .captures_iter(text)
        .find(|c| c[1].parse::<u32>().ok() == Some(number))
        .or_else(|| LEETCODE_REF.captures(text))?;
    let rest = text[found.get(0)?.end()..].trim_start_matches(NAME_SEPARATORS).trim_end();
    let starts_with_digit = rest.chars().next().is_some_and(|c| c.is_ascii_digit());
    (!rest.is_empty() && !starts_with_digit).then(|| one_line(rest))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Leading list numbering is not part of a question: "1.", "2、", "Q3:", "(4)".
static NUMBERING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:[qQ]?\d{1,3}\s*[.、:：)）]|[(（]\d{1,3}[)）])\s*").expect("valid regex"));
/// Everything but letters and digits (any script): spacing and punctuation do not make
/// another question.
static NOT_WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\W_]+").expect("valid regex"));

/// The form under which two questions (or two unnumbered problems) count as the same.
pub(super) fn normalise(text: &str) -> String {
    NOT_WORD.replace_all(&NUMBERING.replace(text, "").to_lowercase(), "").into_owned()
}

fn coding_problems(posts: &[LoadedPost]) -> Vec<ProblemGroup> {
    // Numbered problems group by number, the others by their normalised text.
    let mut groups: BTreeMap<(Option<u32>, String), (Merged, Merged)> = BTreeMap::new();
    for (i, p) in posts.iter().enumerate() {
        for CodingProblem { text, leetcode } in &p.summary.extract.coding_problems {
            let key = match leetcode {
                Some(n) => (Some(*n), String::new()),
                None => (None, normalise(text)),
            };
            if key == (None, String::new()) {
                continue;
            }
            let (names, texts) = groups.entry(key).or_default();
            texts.add(i, &one_line(text));
            if let Some(name) = leetcode.and_then(|n| problem_name(text, n)) {
                names.add(i, &name);
            }
        }
    }
    let mut out: Vec<ProblemGroup> = groups
        .into_iter()
        .map(|((leetcode, _), (names, texts))| ProblemGroup {
            leetcode,
            // A number without a name found anywhere keeps the post's own words.
            name: if names.forms.is_empty() { texts.display() } else { names.display() },
            posts: texts.posts.len(),
            post_ids: texts.post_ids(posts),
        })
        .collect();
    out.sort_by(|a, b| {
        b.posts
            .cmp(&a.posts)
            .then(a.leetcode.is_none().cmp(&b.leetcode.is_none()))
            .then(a.leetcode.cmp(&b.leetcode))
            .then(a.name.cmp(&b.name))
    });
    out
}

/// One question as the posts ask it, and the categories they gave it.
#[derive(Default)]
struct Asked {
    merged: Merged,
    categories: BTreeMap<&'static str, (usize, Category)>,
}

impl Asked {
    /// The category most askers gave it; the first by name among equals.
    fn category(&self) -> Category {
        let mut best: Option<(usize, Category)> = None;
        for &(n, c) in self.categories.values() {
            if best.is_none_or(|(m, _)| n > m) {
                best = Some((n, c));
            }
        }
        best.map_or(Category::Other, |(_, c)| c)
    }
}

fn frequent_questions(posts: &[LoadedPost]) -> Vec<FrequentQuestion> {
    let mut groups: BTreeMap<String, Asked> = BTreeMap::new();
    for (i, p) in posts.iter().enumerate() {
        for q in p.summary.extract.rounds.iter().flat_map(|r| &r.questions) {
            let key = normalise(&q.text);
            if key.is_empty() {
                continue;
            }
            let asked = groups.entry(key).or_default();
            asked.merged.add(i, &one_line(&q.text));
            asked.categories.entry(q.category.as_str()).or_insert((0, q.category)).0 += 1;
        }
    }
    let mut out: Vec<FrequentQuestion> = groups
        .into_values()
        .filter(|a| a.merged.posts.len() > 1)
        .map(|a| FrequentQuestion {
            text: a.merged.display(),
            category: a.category(),
            posts: a.merged.posts.len(),
            post_ids: a.merged.post_ids(posts),
        })
        .collect();
    by_count(&mut out, |q| (q.posts, q.text.clone()));
    out
}

fn entry(p: &LoadedPost) -> PostEntry {
    let s = &p.summary;
    PostEntry {
        post_id: s.post_id.clone(),
        title: s.title.clone(),
        company: s.extract.company.clone(),
        position: s.extract.position.clone(),
        rounds: s.extract.rounds.iter().map(|r| r.name.clone()).collect(),
        questions: question_count(s),
        summary: format!("{}/summary.md", p.dir),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;
    use crate::summary::Question;

    fn loaded(s: Summary) -> LoadedPost {
        LoadedPost { dir: s.post_id.clone(), summary: s }
    }

    fn batch() -> Vec<LoadedPost> {
        let mut a = sample("a", "美团一面", Some("美团"));
        a.extract.topics = vec!["rag".into(), "Agent".into(), "RAG".into()];
        a.extract.coding_problems = vec![
            CodingProblem { text: "lc54. 螺旋矩阵".into(), leetcode: Some(54) },
            CodingProblem { text: "手写 MHA".into(), leetcode: None },
        ];
        let mut b = sample("b", "美团二面", Some(" 美团 "));
        b.extract.position = Some("后端".into());
        b.extract.coding_problems = vec![CodingProblem { text: "LeetCode 54 螺旋矩阵".into(), leetcode: Some(54) }];
        b.extract.rounds[0].questions.push(Question {
            category: Category::Project,
            text: "1. 讲讲LoRA的原理".into(),
            topics: vec!["lora".into()],
        });
        let mut c = sample("c", "字节一面", Some("字节跳动"));
        c.extract.coding_problems = vec![
            CodingProblem { text: "经典股票问题，对应 LeetCode 121、122".into(), leetcode: Some(121) },
            CodingProblem { text: "手写MHA！".into(), leetcode: None },
        ];
        c.extract.rounds[0].questions.clear();
        let d = sample("d", "无名", None);
        vec![loaded(a), loaded(b), loaded(c), loaded(d)]
    }

    #[test]
    fn companies_merge_spellings_and_count_posts_rounds_questions() {
        let d = build(&batch(), Vec::new(), "t".into());
        let summary: Vec<(Option<&str>, usize, usize, usize)> =
            d.companies.iter().map(|c| (c.company.as_deref(), c.posts, c.rounds, c.questions)).collect();
        assert_eq!(summary, [(Some("美团"), 2, 2, 5), (Some("字节跳动"), 1, 1, 0), (None, 1, 1, 2)]);
        assert_eq!(d.companies[0].positions, ["后端", "算法工程师"]);
        assert_eq!((d.posts, d.questions), (4, 7));
    }

    #[test]
    fn topics_count_posts_case_insensitively() {
        let d = build(&batch(), Vec::new(), "t".into());
        let topics: Vec<(&str, usize)> = d.topics.iter().map(|t| (t.topic.as_str(), t.posts)).collect();
        // "rag"/"RAG" in post a count once; question topics count too ("lora" in b).
        assert_eq!(topics, [("LoRA", 4), ("RAG", 4), ("Agent", 1)]);
    }

    #[test]
    fn categories_cover_the_schema_in_order() {
        let d = build(&batch(), Vec::new(), "t".into());
        let counts: Vec<(Category, usize)> = d.categories.iter().map(|c| (c.category, c.questions)).collect();
        assert_eq!(counts[..3], [(Category::SelfIntro, 3), (Category::Fundamentals, 3), (Category::Project, 1)]);
        assert_eq!(counts.len(), Category::ALL.len());
    }

    #[test]
    fn coding_problems_group_by_number_then_text() {
        let d = build(&batch(), Vec::new(), "t".into());
        let groups: Vec<(Option<u32>, &str, usize)> =
            d.coding_problems.iter().map(|p| (p.leetcode, p.name.as_str(), p.posts)).collect();
        assert_eq!(
            groups,
            [(Some(54), "螺旋矩阵", 3), (None, "手写 MHA", 2), (Some(121), "经典股票问题，对应 LeetCode 121、122", 1)]
        );
        assert_eq!(super::super::problem_label(&d.coding_problems[0]), "LeetCode 54 螺旋矩阵");
        assert_eq!(d.coding_problems[0].post_ids, ["a", "b", "d"]);
    }

    #[test]
    fn problem_names_follow_their_reference() {
        assert_eq!(problem_name("lc54. 螺旋矩阵", 54).as_deref(), Some("螺旋矩阵"));
        assert_eq!(problem_name("Fi} : LeetCode 146 LRU缓存", 146).as_deref(), Some("LRU缓存"));
        assert_eq!(problem_name("leetcode 2两数相加", 2).as_deref(), Some("两数相加"));
        assert_eq!(problem_name("力扣#200：岛屿数量", 200).as_deref(), Some("岛屿数量"));
        assert_eq!(problem_name("LeetCode 121、122、123", 121), None);
        assert_eq!(problem_name("螺旋矩阵", 54), None);
    }

    #[test]
    fn frequent_questions_ignore_numbering_spacing_and_punctuation() {
        let d = build(&batch(), Vec::new(), "t".into());
        let frequent: Vec<(&str, Category, usize)> =
            d.frequent_questions.iter().map(|q| (q.text.as_str(), q.category, q.posts)).collect();
        // "讲讲 LoRA 的原理？" (a, b, d) and "1. 讲讲LoRA的原理" (b) are one question.
        assert_eq!(frequent, [("自我介绍", Category::SelfIntro, 3), ("讲讲 LoRA 的原理？", Category::Fundamentals, 3)]);
        assert_eq!(normalise("Q3: What is RAG?"), "whatisrag");
    }

    #[test]
    fn the_index_links_each_summary() {
        let d = build(&batch(), Vec::new(), "t".into());
        assert_eq!(d.index[1].summary, "b/summary.md");
        assert_eq!(d.index[1].rounds, ["一面"]);
        assert_eq!(d.index[1].questions, 3);
    }
}
