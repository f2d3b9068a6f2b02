//! The category of a question from the cues a person reads it by (gold/FORMAT.md's
//! definitions): who it is about (你的项目, 你们 → project), whether it poses a situation
//! (如果, 设计一个, 怎么保证 → scenario), asks for a concept (原理, 区别 → fundamentals), or
//! is about the candidate as a colleague (离职, 团队, 协作 → behavioral), or about their
//! habits and learning (平时怎么用AI, 学习路线 → other). Why a choice was made
//! (`为什么选择…`, `为什么引入…`) and what was done or measured (`做了啥`, `幻觉率多少`) point
//! at the candidate's own system; `了解…吗` asks what they know.
//!
//! Cues are tried strongest first; a section heading the question sits under and the
//! question just before it (a follow-up continues its topic) decide what cues leave open.

use super::coding;
use crate::summary::Category;
use regex::Regex;
use std::sync::LazyLock;

const SELF_INTRO: &[&str] = &["自我介绍", "介绍一下自己", "介绍下自己", "介绍一下你自己", "介绍自己", "个人介绍"];

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
    "职业定位",
    "竞争力",
    "基本情况",
    "毕业院校",
    "绩效",
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
    "的经历",
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
    "哪里来",
    "多少次",
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
    // A situation to handle, not a topic's setting (`在视频通话场景中`, `高准确性场景`).
    "业务场景",
    "实际场景",
    "真实场景",
    "生产场景",
    "这种场景",
    "一个场景",
    "场景题",
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
    // `接口偶尔卡死，排查思路是什么`: a fault to chase down, whatever else it names.
    "排查思路",
    // `如何实现一个类似淘宝搜索框的…`: a system like a known one, to build.
    "一个类似",
    "机制设计",
    "系统设计",
];

/// Ask what to do in a situation, even under a knowledge heading.
const SITUATION: &[&str] = &["怎么排查", "如何排查", "排查思路", "了怎么办"];

/// Pose a situation too, but inside a concept question as often: they count only when
/// the question names no known topic.
/// `如果` is not one: it poses a situation only when an action is asked for ([`IF_ACT`]);
/// `如果上下文过长，会采用哪些方式` asks for known techniques. Nor is `怎么设计`, which asks
/// as often how a known mechanism is laid out (`长期/中期/短期记忆分别怎么设计`).
const SCENARIO_WEAK: &[&str] = &[
    "怎么保证",
    "如何保证",
    "遇到",
    "线上",
    "怎么解？",
    "怎么解?",
    "优先",
    "怎么迭代",
    "怎么开展",
    "怎么排查",
    "如何排查",
    "了怎么办",
];

/// A situation followed by the candidate's move: `如果要提升相关度，你会怎么做？`.
static IF_ACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:如果|假如|要是)[^？?]*(?:你会|你怎么|你打算|该怎么|怎么办|怎么做|如何做|思路|方案)")
        .expect("if act")
});

/// Why a choice was made, asked at the start of a clause: `为什么选择多Agent协作`,
/// `为什么在检索阶段引入 BM25`, `为什么要用ETCD不用你现成的Redis`. The choice is the
/// candidate's; `Mysql为什么使用B+树` and `Redis 为什么采用单线程模型` (the subject named
/// first) ask about the technology.
static WHY_CHOSEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[，,？?。；;：:])\s*那?为(?:什么|啥)(?:要|会)?(?:在[^，,？?。]{0,8})?(?:选择|选用|选|引入|采用|不采用|使用|要用|不直接用|不用|直接用|考虑|要做[？?，,。]|要做这)")
        .expect("why chosen")
});

/// A figure of the candidate's system: `幻觉率多少`, `文档chunk完有多少id`, `rerank 后一般返回几个块`.
/// Not `上下文窗口大概是多少` (a fact about a model) nor `了解多少`.
static FIGURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[率量有用花占到]多少|(?:返回|召回|保留|取)几个").expect("figure"));

/// What the candidate used, not what a thing is: `文档切片采用的是什么策略`.
static USED_WHAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:采用|使用|选用|选择)的?是(?:什么|啥|哪)|用的是(?:什么|啥|哪)").expect("used what")
});

/// About the candidate's habits and learning: not their project, not HR (gold `other`):
/// `平时用哪些AI协助开发`, `最近一年你的agent学习路线`.
const HABITS: &[&str] = &[
    "学习路线",
    "学习了哪些",
    "平时怎么用",
    "平常怎么用",
    "平时用哪些",
    "平常用哪些",
    "ai coding",
    "aicoding",
    "ai协助",
    "ai辅助",
    "ai编程",
    "ai工具",
    "ai怎么用",
    "ai 的实践",
    "ai的实践",
    "更喜欢",
];

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
    Regex::new(r"(?:怎么|如何)[^样，,？?。；;][^，,？?。；;]{0,11}的(?:[？?，,。；;）)]|$)|(?:做|用|搭|建|选|定制|上|加|改|实现|引入|采用|尝试)了[^，,？?。]{0,6}(?:什么|哪些|啥)")
        .expect("did it")
});

/// A bracketed remark in the author's voice.
static ASIDE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[（(][^）)]*(?:我|不会)[^）)]*[）)]").expect("aside"));

/// How a named thing works, asked in the present: `Redis 哨兵模式是怎么工作的？`,
/// `MVCC 是怎么实现的？`, `mysql如何解决的` (the `是` or a technology's name puts the thing
/// first; `记忆模块怎么实现的` asks what was built).
static HOW_IT_WORKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"是(?:怎么|如何|怎样)(?:工作|实现|运作|运行|调度|执行|完成|保证)的|[a-z][a-z0-9+#]+\s*(?:是)?(?:怎么|如何|怎样)(?:解决|实现|保证|处理)的")
        .expect("how it works")
});

/// Whether the candidate did or met something: `有没有做评测`, `有没有遇见数据量大的问题`,
/// `分段有没有做优化`, `有没有涉及老数据迁移` (not `有没有了解过`, a knowledge ask).
static HAVE_YOU: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"有没有(?:做|遇|用|考虑|防|对|涉及|出过|试|加)").expect("have you"));

/// Past-tense asks about what was done: `做了啥`, `定制了哪些能力`.
static DID_PAST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:做|搭|建|定制|上|加|改|实现|引入)了[^，,？?。]{0,6}(?:什么|哪些|啥)").expect("did past")
});

/// What the candidate knows of the company itself: `对拼多多有什么了解吗`, `对字节的看法`
/// (why us, a behavioural ask), not `对RAG有什么了解` (knowledge).
fn asks_about_employer(lower: &str) -> bool {
    static OPINION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^对(.{1,8}?)(?:有什么了解|有哪些了解|了解多少|的了解|的看法|有什么看法|的印象)").expect("opinion")
    });
    let Some(c) = OPINION.captures(lower) else { return false };
    let name = &c[1];
    crate::provider::local::dictionaries::COMPANIES
        .iter()
        .any(|(_, aliases)| aliases.iter().any(|a| a.to_lowercase() == name))
        || ["贵司", "我们", "公司", "我们公司"].contains(&name)
}

/// The category of one question. `section` is the kind its heading announced; `previous`
/// the category of the question before it in the same round (a follow-up stays on topic).
pub fn categorize(text: &str, section: Option<Category>, previous: Option<Category>) -> Category {
    // The author's aside about their answer (`（这个真不会，举了个例子说我在业务遇到…）`)
    // says nothing about what was asked.
    let lower = ASIDE.replace_all(text, "").to_lowercase();
    let has = |cues: &[&str]| cues.iter().any(|c| lower.contains(c));
    // `自我介绍后，面试官直接问我的 Agent 项目…`: the introduction only marks when.
    let after_intro = ["自我介绍后", "自我介绍完", "自我介绍之后"].iter().any(|w| lower.contains(w));
    if has(SELF_INTRO) && !after_intro {
        return Category::SelfIntro;
    }
    if coding::is_coding(text) {
        return Category::Coding;
    }
    if has(BEHAVIORAL) || asks_about_employer(&lower) {
        return Category::Behavioral;
    }
    if has(HABITS) {
        return Category::Other;
    }
    let owned = has(&["项目", "你的", "你们"]);
    // `了解X吗`, `了解哪些…`: asks what the candidate knows, not what they built
    // (`了解SFT、PPO这些训练方法吗` names no project with its `这些`).
    if lower.contains("了解") && !owned {
        return Category::Fundamentals;
    }
    if WHY_CHOSEN.is_match(&lower) && section != Some(Category::Fundamentals) {
        return Category::Project;
    }
    if HOW_IT_WORKS.is_match(&lower) && !owned && section != Some(Category::Project) {
        return Category::Fundamentals;
    }
    let topical = has(CONCEPT_ASK) && !USED_WHAT.is_match(&lower);
    // What the candidate did or measured: `做了啥`, `吞吐量多少`, `采用的是什么策略`.
    let did = FIGURE.is_match(&lower) || USED_WHAT.is_match(&lower) || DID_PAST.is_match(&lower);
    let named = !super::find_topics(text).is_empty();
    if has(LEAD_IN) && topical {
        return Category::Fundamentals;
    }
    // A heading that names the kind settles the rest of its section.
    if let Some(kind) = section
        && kind != Category::Other
    {
        // Except that a knowledge section still holds questions about the candidate's
        // own work (`回头看你之前做过的项目…`, `LLM推理优化做了啥？`).
        return match kind {
            Category::Fundamentals if has(PROJECT) || did => Category::Project,
            // and situations to handle (`es有12个分片…查询特别慢，怎么排查`).
            Category::Fundamentals if has(SITUATION) => Category::Scenario,
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
    if did || (!topical && (has(PROJECT_WEAK) || HAVE_YOU.is_match(&lower) || DID_IT.is_match(&lower))) {
        return Category::Project;
    }
    if !topical && (has(SCENARIO_WEAK) || IF_ACT.is_match(&lower)) {
        return Category::Scenario;
    }
    // Interviewers drill into a project: a question with no concept of its own right
    // after a project question is about that project (`成本统计怎么做？`).
    let asks = ["怎么", "如何", "什么", "吗", "哪", "？", "?"].iter().any(|w| lower.contains(w));
    if previous == Some(Category::Project) && asks && !topical && !named && !has(FUNDAMENTALS) {
        return Category::Project;
    }
    // A short follow-up (`那…`, `为什么？`) continues the question before it.
    let follow_up = ["那", "追问", "为什么", "为啥", "还有", "然后"].iter().any(|w| lower.starts_with(w))
        || ["再想想", "别的办法", "其他办法", "还有别的", "还有呢"].iter().any(|w| lower.contains(w));
    if follow_up && let Some(prev) = previous.filter(|p| matches!(p, Category::Project | Category::Scenario)) {
        return prev;
    }
    if has(FUNDAMENTALS) || !super::find_topics(text).is_empty() || lower.contains('？') || lower.contains('?') {
        return Category::Fundamentals;
    }
    // No cue at all: chat (`开场聊天`, `聊业务`) is other; a bare topic line (`语义识别`,
    // `多轮对话的实现方案`) is knowledge, unless it continues a project drill
    // (`知识库匹配` after questions about the candidate's knowledge base).
    if lower.contains('聊') {
        Category::Other
    } else if previous == Some(Category::Project) {
        Category::Project
    } else {
        Category::Fundamentals
    }
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
    fn choices_figures_and_habits() {
        assert_eq!(cat("在Agent架构设计中，为什么选择多Agent协作，而不是单Agent完成所有任务？"), Project);
        assert_eq!(cat("为什么在检索阶段引入 BM25？"), Project);
        assert_eq!(cat("Mysql为什么使用B+树"), Fundamentals);
        assert_eq!(cat("Redis 为什么采用单线程模型？"), Fundamentals);
        assert_eq!(categorize("`MVCC` 是怎么实现的？", None, Some(Project)), Fundamentals);
        assert_eq!(cat("分段有没有做优化"), Project);
        assert_eq!(cat("MySQL 的事务隔离级别，各隔离级别会有什么问题，mysql如何解决的"), Fundamentals);
        assert_eq!(cat("日常开发常用哪些AI编程工具？有没有做过二次改造？"), Other);
        assert_eq!(cat("对比同届应届生，你的核心竞争力在哪里？"), Behavioral);
        assert_eq!(cat("对拼多多有什么了解吗，能否接受时间"), Behavioral);
        assert_eq!(cat("对RAG有什么了解"), Fundamentals);
        assert_eq!(cat("接口偶尔卡死，排查思路是什么"), Scenario);
        assert_eq!(cat("线程、进程、协程解释（这个真不会，举了个例子来说我在业务遇到这几个概念）"), Fundamentals);
        assert_eq!(cat("RAGAS有哪些指标，为什么不直接用库"), Project);
        assert_eq!(cat("幻觉率和引用错误率多少？业务上能否接受？"), Project);
        assert_eq!(cat("以Codex为例，它的上下文窗口大概是多少？"), Fundamentals);
        assert_eq!(cat("文档切片采用的是什么策略？"), Project);
        assert_eq!(cat("Transformer中的FFN模块作用是什么？"), Fundamentals);
        assert_eq!(cat("了解SFT、PPO、DPO、GRPO这些训练方法吗？分别有什么特点？"), Fundamentals);
        assert_eq!(cat("平时用哪些AI协助开发？"), Other);
        assert_eq!(categorize("LLM推理优化做了啥？", Some(Fundamentals), None), Project);
    }

    #[test]
    fn situations_need_an_ask_for_action() {
        assert_eq!(cat("如果要提升相关度，你会怎么做？"), Scenario);
        assert_eq!(cat("如果不做训练怎么让agent知道怎么调用工具？"), Fundamentals);
        assert_eq!(cat("高准确性场景怎么控制幻觉？"), Fundamentals);
        assert_eq!(cat("真实的业务场景下，你有什么优化的思路吗？"), Scenario);
    }

    #[test]
    fn lines_without_cues() {
        assert_eq!(cat("语义识别"), Fundamentals);
        assert_eq!(cat("开场聊天"), Other);
        assert_eq!(categorize("知识库匹配", None, Some(Project)), Project);
    }

    #[test]
    fn sections_and_follow_ups() {
        assert_eq!(categorize("为什么选择这个模型？", Some(Project), None), Project);
        assert_eq!(categorize("SSE的局限性", Some(Fundamentals), None), Fundamentals);
        assert_eq!(categorize("为啥？", None, Some(Scenario)), Scenario);
    }
}
