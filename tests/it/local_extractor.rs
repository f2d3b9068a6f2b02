//! Acceptance check of the local extractor on the seed post (the Meituan write-up the
//! legacy script failed to summarise): the figures issue 5 asks for, exactly.

use postmill::provider::local::extractor::extract;
use postmill::summary::Category;

fn seed() -> (String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/inputs/meituan-llm-app-algo/post.md");
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
    assert_eq!(e.rounds[0].questions[1].text, "NLP和LLM最大的区别是什么？两者有何共同和不同之处？");
    assert_eq!(e.rounds[0].questions[1].topics, ["NLP", "LLM"]);

    let leetcode: Vec<u32> = e.coding_problems.iter().filter_map(|p| p.leetcode).collect();
    assert_eq!(leetcode, [54]);
    assert!(e.coding_problems.iter().any(|p| p.text == "lc54. 螺旋矩阵"));
    assert_eq!(e.coding_problems.len(), 2);

    for topic in ["LoRA", "QLoRA", "RAG", "GraphRAG", "MoE", "Transformer", "DPO"] {
        assert!(e.topics.iter().any(|t| t == topic), "topic {topic} missing from {:?}", e.topics);
    }
    // The Xiaohongshu tag line is not a question, and no tag became a topic by itself.
    assert!(questions.iter().all(|q| !q.text.contains("[话题]")));
    assert!(e.overview.contains("美团"));
}

mod provider {
    use postmill::config::LocalConfig;
    use postmill::provider::local::LocalProvider;
    use postmill::provider::{Answer, Budget, Call, Failure, OcrText, PostInput, Provider, Task};
    use std::sync::Arc;

    fn local() -> LocalProvider {
        LocalProvider::new(&LocalConfig { tesseract: "tesseract".into(), languages: "chi_sim+eng".into() })
    }

    fn post() -> Arc<PostInput> {
        Arc::new(PostInput {
            post_id: "ks".into(),
            title: Some("快手大模型算法二面".into()),
            text: "题目都在图里了，攒人品！".into(),
            images: vec![],
        })
    }

    #[tokio::test]
    async fn summary_reads_post_text_and_ocr_text() {
        let ocr = vec![
            OcrText {
                file: "image_1.png".into(),
                text: Some("1. 自我介绍\n2. LoRA和QLoRA的区别\n3. 手撕：LeetCode 146".into()),
            },
            OcrText { file: "image_2.png".into(), text: None },
        ];
        let task = Task::Summary { post: post(), ocr };
        let g = local()
            .generate(Call { key: None, model: "extractor", task: &task, budget: Budget::default() })
            .await
            .unwrap();
        let Answer::Summary(e) = g.answer else { panic!("not a summary") };
        assert_eq!(e.company.as_deref(), Some("快手"));
        assert_eq!(e.rounds.len(), 1);
        assert_eq!(e.rounds[0].name, "二面");
        assert_eq!(e.rounds[0].questions.len(), 3);
        assert_eq!(e.coding_problems[0].leetcode, Some(146));
        assert_eq!(g.model_version.as_deref(), Some("extractor"));
    }

    #[tokio::test]
    async fn combined_is_a_bad_request() {
        let task = Task::Combined { post: post() };
        let err = local()
            .generate(Call { key: None, model: "extractor", task: &task, budget: Budget::default() })
            .await
            .unwrap_err();
        assert_eq!(err.failure, Failure::BadRequest);
        assert!(err.message.contains("separately"));
    }
}
