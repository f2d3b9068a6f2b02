//! The category of a question from the cues a person reads it by (gold/FORMAT.md's
//! definitions): who it is about (你的项目, 你们 → project), whether it poses a situation
//! (如果, 设计一个, 怎么保证 → scenario), asks for a concept (原理, 区别 → fundamentals), or
//! is about the candidate as a colleague (离职, 团队, 协作 → behavioral).
//!
//! Cues are tried strongest first; a section heading the question sits under and the
//! question just before it (a follow-up continues its topic) decide what cues leave open.

use super::coding;
use crate::summary::Category;
use regex::Regex;
use std::sync::LazyLock;

const SELF_INTRO: &[&str] = &["自我介绍", "介绍一下自己", "介绍下自己", "介绍一下你自己", "介绍自己"];

/// About the candidate as a person to hire and work with.
const BEHAVIORAL: &[&str] = &[
    "职业规划",
    "个人规划",
    "期望薪资",
    "薪资",
    "薪酬",
    "离职",
    "换工作",
    "离开当前公司",
    "离开上一家",
    "团队规模",
    "团队",
    "团队协作",
    "跨角色",
    "里程碑",
    "对接的",
    "到岗",
    "实习多久",
    "实习计划",
    "每周可以实习",
    "加班",
    "兴趣爱好",
    "抗压",
    "为什么选择我们",
    "对我们公司",
    "我们公司了解",
    "工作时间",
    "哪里人",
    "评价一下自己",
    "评价自己",
    "优势和不足",
    "你的优缺点",
    "自己的优缺点",
    "希望从事",
    "看重什么",
    "最看重",
    "职级",
    "意见不合",
    "市场行情",
    "看机会",
];

/// About the candidate's own work: their project, internship, résumé, what they did.
const PROJECT: &[&str] = &[
    "项目",
    "实习",
    "你的",
    "你做",
    "你们",
    "你负责",
    "你之前",
    "你提到",
    "你说",
    "你采用",
    "你在",
    "你自己",
    "简历",
    "拷打",
    "难点",
    "上述",
    "用的什么",
    "用的哪",
    "实际用",
    "哪家的",
    "哪个基模",
    "谁搭的",
    "这个",
    "这些",
    "我做的",
    "你写的",
    "你用",
    "你是怎么",
];

/// Point at the candidate's work too, but as often ask about a technology in general:
/// they count only when the question names no known topic or concept.
const PROJECT_WEAK: &[&str] = &[
    "做过",
    "用过",
    "做了啥",
    "做了什么",
    "采用的",
    "用的是",
    "用了什么",
    "用了哪些",
    "有没出现",
    "有没有遇到",
    "有实践",
    "实践经验",
    "是否有",
    "你是如何",
    "你如何",
    "怎么定义",
    "你有",
];

/// A lead-in that points at the résumé before asking a concept: `看你项目用到了ETCD，讲一下RAFT`.
const LEAD_IN: &[&str] = &["看你", "看了你", "简历说", "你提到"];
/// Asks for a concept, whatever led in to it.
const CONCEPT_ASK: &[&str] = &[
    "讲一下",
    "讲讲",
    "区别",
    "原理",
    "什么是",
    "是什么",
    "如何理解",
    "底层",
    "核心思想",
    "特点",
    "优缺点",
    "为什么能",
    "讲一讲",
];

/// A situation or a system to design, not tied to the candidate's project.
const SCENARIO: &[&str] = &[
    "假设",
    "假如",
    "让你",
    "给你",
    "场景",
    "设计一个",
    "开发一个",
    "搭建一个",
    "对一个",
    "高并发",
    "大数据量",
    "实际部署",
    "我们业务",
    "我们的业务",
    "如果让你",
    "机制设计",
    "系统设计",
];

/// Pose a situation too, but inside a concept question as often: they count only when
/// the question names no known topic.
const SCENARIO_WEAK: &[&str] =
    &["如果", "怎么保证", "如何保证", "怎么设计", "如何设计", "遇到", "线上", "怎么解", "优先", "怎么迭代", "怎么开展"];

/// Asks what something is or how it works.
const FUNDAMENTALS: &[&str] = &[
    "原理",
    "区别",
    "什么是",
    "是什么",
    "为什么",
    "介绍一下",
    "讲一下",
    "讲讲",
    "说一下",
    "说说",
    "了解",
    "哪些",
    "有哪些",
    "机制",
    "底层",
    "流程",
    "局限",
    "优缺点",
    "作用",
    "算法",
    "八股",
    "怎么理解",
    "如何理解",
    "变体",
];

/// `怎么实现的？`, `是如何搭建的`: asked in the past tense, about what the candidate built.
static DID_IT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:怎么|如何)[^样，,？?。；;][^，,？?。；;]{0,11}的(?:[？?，,。；;）)]|$)|(?:做|用|搭|建|选)了[^，,？?。]{0,6}(?:什么|哪些|啥)")
        .expect("did it")
});

/// The category of one question. `section` is the kind its heading announced; `previous`
/// the category of the question before it in the same round (a follow-up stays on topic).
pub fn categorize(text: &str, section: Option<Category>, previous: Option<Category>) -> Category {
    let lower = text.to_lowercase();
    let has = |cues: &[&str]| cues.iter().any(|c| lower.contains(c));
    if has(SELF_INTRO) {
        return Category::SelfIntro;
    }
    if coding::is_coding(text) {
        return Category::Coding;
    }
    if has(BEHAVIORAL) {
        return Category::Behavioral;
    }
    // A heading that names the kind settles the rest of its section.
    let topical = has(CONCEPT_ASK);
    let named = !super::find_topics(text).is_empty();
    if has(LEAD_IN) && topical {
        return Category::Fundamentals;
    }
    if let Some(kind) = section
        && kind != Category::Other
    {
        // Except that a knowledge section still holds questions about the candidate's
        // own work (`回头看你之前做过的项目…`).
        return match kind {
            Category::Fundamentals if has(PROJECT) => Category::Project,
            _ => kind,
        };
    }
    // `适用场景` asks where a technique fits: knowledge, not a situation to handle.
    let situational = ["适用场景", "应用场景", "使用场景"].iter().fold(lower.clone(), |t, w| t.replace(w, ""));
    let posed = SCENARIO.iter().any(|c| situational.contains(c));
    if has(PROJECT) && !(posed && (lower.contains("假设") || lower.contains("假如") || lower.contains("让你"))) {
        return Category::Project;
    }
    if posed {
        return Category::Scenario;
    }
    if !topical && (has(PROJECT_WEAK) || DID_IT.is_match(&lower)) {
        return Category::Project;
    }
    if !topical && has(SCENARIO_WEAK) {
        return Category::Scenario;
    }
    // Interviewers drill into a project: a question with no concept of its own right
    // after a project question is about that project (`成本统计怎么做？`).
    let asks = ["怎么", "如何", "什么", "吗", "哪", "？", "?"].iter().any(|w| lower.contains(w));
    if previous == Some(Category::Project) && asks && !topical && !named && !has(FUNDAMENTALS) {
        return Category::Project;
    }
    // A short follow-up (`那…`, `为什么？`) continues the question before it.
    let follow_up = ["那", "追问", "为什么", "为啥", "还有", "然后"].iter().any(|w| lower.starts_with(w));
    if follow_up && let Some(prev) = previous.filter(|p| matches!(p, Category::Project | Category::Scenario)) {
        return prev;
    }
    if has(FUNDAMENTALS) || !super::find_topics(text).is_empty() || lower.contains('？') || lower.contains('?') {
        return Category::Fundamentals;
    }
    Category::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category::*;

    fn cat(text: &str) -> Category {
        categorize(text, None, None)
    }

    #[test]
    fn cues_people_use() {
        assert_eq!(cat("大模型常用的位置编码有哪些？优缺点分别是什么？"), Fundamentals);
        assert_eq!(cat("为什么离开当前公司？下一份工作最看重什么？"), Behavioral);
        assert_eq!(cat("团队规模和分工是怎样的？你负责的边界在哪？"), Behavioral);
        assert_eq!(cat("假设你开发一个类似cc的多Agent，你怎么开发，子Agent之间怎么通信"), Scenario);
        assert_eq!(cat("如何对一个agent系统做链路追踪，可观测性"), Scenario);
        assert_eq!(cat("workflow 是如何搭建的，开源的还是自己搭的系统"), Project);
        assert_eq!(cat("你的项目有用过 mcp 吗，能介绍一下吗"), Project);
        assert_eq!(cat("什么是协程，进程，线程"), Fundamentals);
        assert_eq!(cat("两个字符串的最长公共子串"), Coding);
    }

    #[test]
    fn sections_and_follow_ups() {
        assert_eq!(categorize("为什么选择这个模型？", Some(Project), None), Project);
        assert_eq!(categorize("SSE的局限性", Some(Fundamentals), None), Fundamentals);
        assert_eq!(categorize("为啥？", None, Some(Scenario)), Scenario);
    }
}
