//! Acceptance check of the local extractor on the seed post (the Meituan write-up the
//! legacy script failed to summarise): the figures issue 5 asks for, exactly.

use postmill::provider::local::extractor::extract;
use postmill::summary::Category;

fn seed() -> (String, String) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/inputs/meituan-llm-app-algo/post.md"
    );
    let text = std::fs::read_to_string(path).expect("seed post in inputs/");
    let title = text.lines().next().expect("title line").trim().to_string();
    (title, text)
}

#[test]
fn seed_post_company_rounds_questions_and_leetcode() {
    let (title, text) = seed();
    let e = extract(Some(&title), &text, &[]);

    assert_eq!(e.company.as_deref(), Some("美团"));
    assert_eq!(e.position.as_deref(), Some("大模型应用算法工程师"));
    let names: Vec<&str> = e.rounds.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["一面", "二面"]);

    let questions: Vec<_> = e.rounds.iter().flat_map(|r| &r.questions).collect();
    assert_eq!(questions.len(), 24);
    let count = |c: Category| questions.iter().filter(|q| q.category == c).count();
    assert_eq!(count(Category::SelfIntro), 2);
    assert_eq!(count(Category::Fundamentals), 5);
    assert_eq!(count(Category::Project), 15);
    assert_eq!(count(Category::Coding), 2);
    assert_eq!(e.rounds[0].questions.len(), 12);
    assert_eq!(e.rounds[1].questions.len(), 12);

    // Kind prefixes are stripped; the wording is the post's.
    assert_eq!(
        e.rounds[0].questions[1].text,
        "NLP和LLM最大的区别是什么？两者有何共同和不同之处？"
    );
    assert_eq!(e.rounds[0].questions[1].topics, ["NLP", "LLM"]);

    let leetcode: Vec<u32> = e
        .coding_problems
        .iter()
        .filter_map(|p| p.leetcode)
        .collect();
    assert_eq!(leetcode, [54]);
    assert!(e.coding_problems.iter().any(|p| p.text == "lc54. 螺旋矩阵"));
    assert_eq!(e.coding_problems.len(), 2);

    for topic in [
        "LoRA",
        "QLoRA",
        "RAG",
        "GraphRAG",
        "MoE",
        "Transformer",
        "DPO",
    ] {
        assert!(
            e.topics.iter().any(|t| t == topic),
            "topic {topic} missing from {:?}",
            e.topics
        );
    }
    // The Xiaohongshu tag line is not a question, and no tag became a topic by itself.
    assert!(questions.iter().all(|q| !q.text.contains("[话题]")));
    assert!(e.overview.contains("美团"));
}
