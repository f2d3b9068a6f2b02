//! Question clusters: the same question asked in other words across posts ("agent和LLM区别",
//! "Agent与llm区别？"), found offline with no model.
//!
//! Each question is reduced to what carries its meaning: lower case, known synonyms folded
//! to one spelling (大模型 → llm, 智能体 → agent, 工作流 → workflow), the filler of spoken
//! Chinese questions dropped (请, 讲讲, 什么是, 怎么, …). What is left is a token sequence:
//! a Latin word is one token (so "agent" and "rag" are entities), every other letter is one.
//! Two questions are alike when their token bigrams overlap (Dice) and their tokens are
//! contained in each other; compound questions ("什么是RAG，它怎么提升…？") are also
//! compared clause by clause. Three rules stop look-alikes that n-grams alone would merge:
//! - questions naming disjoint entities are different ("lora的改进方向" vs "agent的改进方向");
//! - a comparison ("X和Y区别") only matches a comparison of the same things;
//! - questions whose topics (from the summaries) are disjoint need a higher score.
//!
//! Clustering is complete-linkage: a question joins a cluster only when it is alike every
//! member, so "什么是 agent" cannot chain every agent question into one heap.
//! The measure on 40 labelled pairs is in `docs/DIGEST.md` (test `labelled_pairs`).

use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Pairs at or above this score are the same question.
const THRESHOLD: f64 = 0.6;
/// The factor on the score of two questions whose topics are known and disjoint.
const DISJOINT_TOPICS: f64 = 0.8;

/// Synonyms folded to one Latin token (so they also act as entities).
static SYNONYMS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"大模型|大语言模型|llms?", " llm "),
        (r"智能体", " agent "),
        (r"工作流", " workflow "),
        (r"多\s*agent|multi\s*-?\s*agent", " multiagent "),
        (r"单\s*agent|single\s*-?\s*agent", " singleagent "),
        (r"function\s*call(?:ing)?|工具调用|tool\s*call(?:ing)?", " functioncall "),
        (r"自我介绍|介绍自己|自己介绍|介绍一下自己", " selfintro "),
        (r"评估", "评测"),
        (r"协同", "协作"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("valid regex"), to))
    .collect()
});

/// Words that ask, not what is asked. Longest first where one contains another.
static FILLER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "问题|请|简单|一下|讲讲|说说|谈谈|聊聊|你们|你|我们|当前的|当前|现在的|是什么|什么是|干什么|干嘛|什么|了解|知道|\
         是|的|吗|呢|么|怎么|如何|怎样|哪些|有|了|做|一个|具体|相关|内容|后续在聊|在聊|场景|问|用两分钟|两分钟|\
         三分钟|分钟|现场|算法|主要|普通|直接|让|它|通过|实现|机制|范式|框架|原理|核心思想|思想|方案|整体|流程|\
         这一步|包括|执行|说|解决",
    )
    .expect("valid regex")
});

static COMPARISON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"区别|不同|差异|异同|对比|相比|比较|\bvs\b").expect("valid regex"));
/// Leading list numbering: "1.", "2、", "Q3:", "(4)".
static NUMBERING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:q?\d{1,3}\s*[.、:：)）]|[(（]\d{1,3}[)）])\s*").expect("valid regex"));
static TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[a-z0-9]+|[^\W\d_a-z]").expect("valid regex"));
static CLAUSE_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[？?；;。！!，,]").expect("valid regex"));

/// Words joining the two sides of a comparison.
const JOINERS: &[&str] = &["和", "与", "跟", "及"];

/// One clause (or the whole question) reduced to tokens.
#[derive(Debug, Clone)]
struct Clause {
    tokens: Vec<String>,
    /// Token bigrams, plus the entities alone (so "什么是 RAG" still has a feature).
    grams: BTreeSet<String>,
    unique: BTreeSet<String>,
    /// Latin tokens: names of things (agent, llm, lora, mcp).
    entities: BTreeSet<String>,
    comparison: bool,
}

impl Clause {
    fn new(text: &str) -> Clause {
        let mut comparison = COMPARISON.is_match(text);
        let text = COMPARISON.replace_all(text, " ");
        let text = FILLER.replace_all(&text, " ");
        let tokens: Vec<String> = TOKEN.find_iter(&text).map(|m| m.as_str().to_string()).collect();
        let entities: BTreeSet<String> =
            tokens.iter().filter(|t| t.starts_with(|c: char| c.is_ascii_lowercase())).cloned().collect();
        // "MCP和Function Calling" alone is a comparison without saying so.
        if !comparison
            && entities.len() == 2
            && tokens.iter().all(|t| entities.contains(t) || JOINERS.contains(&t.as_str()))
        {
            comparison = true;
        }
        let mut grams: BTreeSet<String> = tokens.windows(2).map(|w| format!("{}\u{1}{}", w[0], w[1])).collect();
        grams.extend(entities.iter().cloned());
        if tokens.len() == 1 {
            grams.insert(tokens[0].clone());
        }
        let unique = tokens.iter().cloned().collect();
        Clause { tokens, grams, unique, entities, comparison }
    }

    /// Tokens that are neither entities nor joiners: how much a comparison says besides
    /// naming its two sides.
    fn extra(&self) -> usize {
        self.tokens.iter().filter(|t| !self.entities.contains(*t) && !JOINERS.contains(&t.as_str())).count()
    }
}

/// A question's features, computed once per question.
#[derive(Debug, Clone)]
pub struct Features {
    whole: Clause,
    clauses: Vec<Clause>,
    topics: BTreeSet<String>,
}

impl Features {
    pub fn new(text: &str, topics: &[String]) -> Features {
        let mut text = NUMBERING.replace(&text.to_lowercase(), "").into_owned();
        for (re, to) in SYNONYMS.iter() {
            text = re.replace_all(&text, *to).into_owned();
        }
        let whole = Clause::new(&text);
        let clauses = CLAUSE_END
            .split(&text)
            .map(Clause::new)
            .filter(|c| c.tokens.len() >= 2 || !c.entities.is_empty())
            .collect();
        let topics = topics.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
        Features { whole, clauses, topics }
    }
}

fn dice(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(b).count() as f64 / (a.len() + b.len()) as f64
}

/// How much of the smaller set the larger holds.
fn containment(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let small = a.len().min(b.len());
    if small == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / small as f64
}

fn clause_similarity(a: &Clause, b: &Clause) -> f64 {
    if !a.tokens.is_empty() && a.tokens == b.tokens {
        return 1.0;
    }
    if a.comparison != b.comparison {
        return 0.0;
    }
    if !a.entities.is_empty() && !b.entities.is_empty() {
        let nested = a.entities.is_subset(&b.entities) || b.entities.is_subset(&a.entities);
        // A short comparison is settled by what it compares: "agent和LLM区别" is
        // "Agent与llm区别？" and is not "Agent 和工作流区别".
        if a.comparison && a.entities.len() >= 2 && b.entities.len() >= 2 && a.extra() <= 4 && b.extra() <= 4 {
            return if nested { 1.0 } else { 0.0 };
        }
        if a.entities.is_disjoint(&b.entities) || !nested {
            return 0.0;
        }
    }
    // A one-token side ("什么是 agent") is compared by Dice, not containment: it is
    // contained in every question about agents.
    let overlap = if a.unique.len().min(b.unique.len()) >= 2 {
        containment(&a.unique, &b.unique)
    } else {
        dice(&a.unique, &b.unique)
    };
    0.5 * dice(&a.grams, &b.grams) + 0.5 * overlap
}

/// Whether two clauses share enough to be compared on their own: an entity, or three
/// tokens. "怎么设计的？" alone is in too many questions to mean anything.
fn substantial(a: &Clause, b: &Clause) -> bool {
    let shared: BTreeSet<&String> = a.unique.intersection(&b.unique).collect();
    shared.iter().any(|t| a.entities.contains(*t)) || shared.len() >= 3
}

/// How alike two questions are, from 0 (unrelated) to 1 (the same words).
pub fn similarity(a: &Features, b: &Features) -> f64 {
    let (wa, wb) = (&a.whole, &b.whole);
    if !wa.entities.is_empty() && !wb.entities.is_empty() && wa.entities.is_disjoint(&wb.entities) {
        return 0.0;
    }
    let mut best = clause_similarity(wa, wb);
    for ca in &a.clauses {
        for cb in &b.clauses {
            if substantial(ca, cb) {
                best = best.max(clause_similarity(ca, cb));
            }
        }
    }
    if !a.topics.is_empty() && !b.topics.is_empty() && a.topics.is_disjoint(&b.topics) {
        best *= DISJOINT_TOPICS;
    }
    best
}

pub fn same(a: &Features, b: &Features) -> bool {
    similarity(a, b) >= THRESHOLD
}

/// Groups the questions (by index) into clusters of the same question, complete-linkage:
/// the most alike pairs merge first, and two clusters merge only when every question of
/// one is alike every question of the other. Clusters come out in order of their first
/// member, members in index order, so the result depends only on the input order.
pub fn cluster(features: &[Features]) -> Vec<Vec<usize>> {
    let n = features.len();
    let mut alike = vec![false; n * n];
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let s = similarity(&features[i], &features[j]);
            if s >= THRESHOLD {
                alike[i * n + j] = true;
                alike[j * n + i] = true;
                pairs.push((s, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut of: Vec<usize> = (0..n).collect();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    for (_, i, j) in pairs {
        let (a, b) = (of[i], of[j]);
        if a == b {
            continue;
        }
        let all_alike = members[a].iter().all(|&x| members[b].iter().all(|&y| alike[x * n + y]));
        if all_alike {
            let (keep, gone) = (a.min(b), a.max(b));
            let moved = std::mem::take(&mut members[gone]);
            for &m in &moved {
                of[m] = keep;
            }
            members[keep].extend(moved);
        }
    }
    let mut out: Vec<Vec<usize>> = members.into_iter().filter(|m| !m.is_empty()).collect();
    for m in &mut out {
        m.sort_unstable();
    }
    out.sort_by_key(|m| m[0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn f(text: &str) -> Features {
        Features::new(text, &[])
    }

    #[test]
    fn the_agent_llm_question_is_one_question_and_not_the_workflow_one() {
        assert!(same(&f("4.agent和LLM区别"), &f("Agent与llm区别？")));
        assert!(same(&f("智能体和大模型有什么不同"), &f("agent和LLM区别")));
        assert!(!same(&f("agent和LLM区别"), &f("Agent 和普通工作流有什么区别？")));
        assert!(!same(&f("lora的缺点，改进方向"), &f("agent的改进方向是什么")));
    }

    #[test]
    fn clusters_are_complete_linkage() {
        let texts = [
            "什么是 agent",
            "agent 如何执行工具的",
            "Agent与llm区别？",
            "agent和LLM区别",
            "自我介绍",
            "请做一个简单的自我介绍",
        ];
        let features: Vec<Features> = texts.iter().map(|t| f(t)).collect();
        assert_eq!(cluster(&features), [vec![0], vec![1], vec![2, 3], vec![4, 5]]);
    }

    #[test]
    fn disjoint_topics_need_more_than_look_alike_words() {
        let a = Features::new("项目难点", &["RAG".into()]);
        let b = Features::new("项目有什么难点？", &["RAG".into()]);
        let c = Features::new("项目有什么难点？", &["LoRA".into()]);
        assert!(similarity(&a, &b) > similarity(&a, &c));
    }

    #[derive(Deserialize)]
    struct Side {
        text: String,
    }
    #[derive(Deserialize)]
    struct Pair {
        same: bool,
        a: Side,
        b: Side,
    }
    #[derive(Deserialize)]
    struct Pairs {
        pairs: Vec<Pair>,
    }

    /// The measure in docs/DIGEST.md: how many of the 40 labelled pairs the clustering gets
    /// right (each pair clustered on its own: one cluster means "same").
    #[test]
    fn labelled_pairs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/digest-pairs.json");
        let pairs: Pairs = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(pairs.pairs.len(), 40);
        let (mut same_right, mut different_right) = (0, 0);
        for p in &pairs.pairs {
            let together = cluster(&[f(&p.a.text), f(&p.b.text)]).len() == 1;
            match (p.same, together) {
                (true, true) => same_right += 1,
                (false, false) => different_right += 1,
                _ => println!("wrong ({}): {} | {}", if p.same { "same" } else { "different" }, p.a.text, p.b.text),
            }
        }
        let same_total = pairs.pairs.iter().filter(|p| p.same).count();
        println!(
            "digest pairs: {} of 40 right (same question: {same_right} of {same_total}, look-alikes kept apart: \
             {different_right} of {})",
            same_right + different_right,
            40 - same_total
        );
        assert!(same_right + different_right >= 36, "the clustering got fewer than 36 of 40 labelled pairs right");
        assert!(different_right >= 19, "look-alikes merged");
    }
}
