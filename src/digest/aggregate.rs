//! The figures of the digest: per company, topics, categories, coding problems, repeated
//! questions and the post index, computed from the loaded summaries.
//!
//! Everything that merges spellings (topics, companies, questions) counts *posts*, not
//! mentions, so one long post cannot dominate, and shows the spelling most posts use
//! (ties broken alphabetically, so the output never depends on reading order).

use super::cluster::{self, Features};
use super::{
    AskedIn, CategoryCount, CompanyStats, Digest, LoadedPost, MonthCount, PostEntry, ProblemGroup, QuestionCluster,
    SCHEMA_VERSION, SkippedSummary, TopicCount,
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
        question_clusters: question_clusters(posts),
        months: months(posts),
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
            // A problem named by its title without its number counts with the posts that
            // give the number.
            let number = leetcode.or_else(|| super::leetcode::by_title(text));
            let key = match number {
                Some(n) => (Some(n), String::new()),
                None => (None, normalise(text)),
            };
            if key == (None, String::new()) {
                continue;
            }
            let (names, texts) = groups.entry(key).or_default();
            texts.add(i, &one_line(text));
            if let Some(name) = leetcode.and_then(|n| problem_name(text, n)) {
                names.add(i, &name);
            } else if let Some(title) = number.filter(|_| leetcode.is_none()).and_then(super::leetcode::title) {
                names.add(i, title);
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

/// The category most askers gave a cluster; the first in the schema's order among equals.
fn majority_category(categories: impl Iterator<Item = Category>) -> Category {
    let mut counts = [0usize; Category::ALL.len()];
    for c in categories {
        if let Some(i) = Category::ALL.iter().position(|&k| k == c) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..counts.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    Category::ALL[best]
}

fn question_clusters(posts: &[LoadedPost]) -> Vec<QuestionCluster> {
    // Every question with its post and round, in post order.
    let mut asked: Vec<(usize, &str, &crate::summary::Question)> = Vec::new();
    for (i, p) in posts.iter().enumerate() {
        for r in &p.summary.extract.rounds {
            for q in &r.questions {
                if !normalise(&q.text).is_empty() {
                    asked.push((i, r.name.as_str(), q));
                }
            }
        }
    }
    let features: Vec<Features> = asked.iter().map(|(_, _, q)| Features::new(&q.text, &q.topics)).collect();
    let mut out: Vec<QuestionCluster> = cluster::cluster(&features)
        .into_iter()
        .map(|members| {
            let post_set: BTreeSet<usize> = members.iter().map(|&m| asked[m].0).collect();
            let mut companies = Merged::default();
            let mut rounds = BTreeSet::new();
            let mut topics: BTreeMap<String, Merged> = BTreeMap::new();
            for &m in &members {
                let (i, round, q) = asked[m];
                if let Some(c) = trimmed(&posts[i].summary.extract.company) {
                    companies.add(i, c);
                }
                if !round.trim().is_empty() {
                    rounds.insert(one_line(round));
                }
                for t in q.topics.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
                    topics.entry(fold(t)).or_default().add(m, t);
                }
            }
            let mut topics: Vec<(usize, String)> = topics.values().map(|t| (t.posts.len(), t.display())).collect();
            by_count(&mut topics, |t| (t.0, fold(&t.1)));
            let mut company_names: Vec<String> = companies.forms.keys().cloned().collect();
            company_names.dedup_by(|a, b| fold(a) == fold(b));
            QuestionCluster {
                text: representative(&members, &features, &asked),
                category: majority_category(members.iter().map(|&m| asked[m].2.category)),
                topics: topics.into_iter().map(|(_, t)| t).collect(),
                posts: post_set.len(),
                companies: company_names,
                rounds: rounds.into_iter().collect(),
                post_ids: post_set.iter().map(|&i| posts[i].summary.post_id.clone()).collect(),
                asked: members
                    .iter()
                    .map(|&m| {
                        let (i, round, q) = asked[m];
                        AskedIn {
                            post_id: posts[i].summary.post_id.clone(),
                            round: one_line(round),
                            text: one_line(&q.text),
                            summary: format!("{}/summary.md", posts[i].dir),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    // Most posts first, then most times asked; the clustering's order (first asked first)
    // settles the rest, so equal counts keep a stable order.
    out.sort_by(|a, b| b.posts.cmp(&a.posts).then(b.asked.len().cmp(&a.asked.len())));
    out
}

/// The wording most like all the others in its cluster; among equals the one asked most
/// often in those exact words, then the shortest, then the first alphabetically.
fn representative(
    members: &[usize],
    features: &[Features],
    asked: &[(usize, &str, &crate::summary::Question)],
) -> String {
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for &m in members {
        *times.entry(one_line(&asked[m].2.text)).or_default() += 1;
    }
    let mut best: Option<(f64, usize, usize, String)> = None;
    for &m in members {
        let score: f64 =
            members.iter().filter(|&&o| o != m).map(|&o| cluster::similarity(&features[m], &features[o])).sum();
        let text = one_line(&asked[m].2.text);
        let (n, len) = (times[&text], text.chars().count());
        let better = match &best {
            None => true,
            Some((s, bn, blen, bt)) => {
                if (score - s).abs() > 1e-9 {
                    score > *s
                } else {
                    (std::cmp::Reverse(n), len, &text) < (std::cmp::Reverse(*bn), *blen, bt)
                }
            }
        };
        if better {
            best = Some((score, n, len, text));
        }
    }
    best.map(|(_, _, _, t)| t).unwrap_or_default()
}

/// Posts per publication month, in UTC; posts without a (readable) date count as unknown.
fn months(posts: &[LoadedPost]) -> Vec<MonthCount> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown = 0;
    for p in posts {
        let month = p
            .summary
            .source
            .published_at
            .as_deref()
            .and_then(|t| t.trim().parse::<jiff::Timestamp>().ok())
            .map(|t| t.strftime("%Y-%m").to_string());
        match month {
            Some(m) => *counts.entry(m).or_default() += 1,
            None => unknown += 1,
        }
    }
    let mut out: Vec<MonthCount> = counts.into_iter().map(|(m, posts)| MonthCount { month: Some(m), posts }).collect();
    if unknown > 0 {
        out.push(MonthCount { month: None, posts: unknown });
    }
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
    fn clusters_merge_rewordings_and_count_posts() {
        let d = build(&batch(), Vec::new(), "t".into());
        let top: Vec<(&str, Category, usize)> =
            d.question_clusters.iter().take(2).map(|q| (q.text.as_str(), q.category, q.posts)).collect();
        // "讲讲 LoRA 的原理？" (a, b, d) and "1. 讲讲LoRA的原理" (b) are one question.
        assert_eq!(top, [("讲讲 LoRA 的原理？", Category::Fundamentals, 3), ("自我介绍", Category::SelfIntro, 3)]);
        let lora = &d.question_clusters[0];
        assert_eq!(lora.asked.len(), 4);
        assert_eq!(lora.companies, ["美团"]);
        assert_eq!(lora.post_ids, ["a", "b", "d"]);
        assert_eq!(lora.asked[2].summary, "b/summary.md");
        assert_eq!(normalise("Q3: What is RAG?"), "whatisrag");
    }

    #[test]
    fn months_count_dated_posts_and_the_rest() {
        let mut posts = batch();
        posts[0].summary.source.published_at = Some("2026-02-27T02:30:00+08:00".into());
        posts[1].summary.source.published_at = Some("2026-03-01T00:00:00Z".into());
        posts[2].summary.source.published_at = Some("not a date".into());
        let d = build(&posts, Vec::new(), "t".into());
        let months: Vec<(Option<&str>, usize)> = d.months.iter().map(|m| (m.month.as_deref(), m.posts)).collect();
        // 02:30 in UTC+8 is still February in UTC.
        assert_eq!(months, [(Some("2026-02"), 1), (Some("2026-03"), 1), (None, 2)]);
    }

    #[test]
    fn the_index_links_each_summary() {
        let d = build(&batch(), Vec::new(), "t".into());
        assert_eq!(d.index[1].summary, "b/summary.md");
        assert_eq!(d.index[1].rounds, ["一面"]);
        assert_eq!(d.index[1].questions, 3);
    }
}
