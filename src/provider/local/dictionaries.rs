//! The word lists the rule-based extractor matches against: companies with their
//! aliases, technical topics, round names and the cue words that mark advice.
//!
//! Kept apart from the matching code so that extending coverage is a data change.

/// A company as it should be reported, and every name posts use for it.
/// Longer aliases come first within an entry only for readability: matching picks the
/// earliest position in the text, then the longest alias there.
pub const COMPANIES: &[(&str, &[&str])] = &[
    ("字节跳动", &["字节跳动", "字节", "ByteDance", "抖音", "TikTok", "剪映", "飞书", "懂车帝", "火山引擎"]),
    ("阿里巴巴", &["阿里巴巴", "阿里云", "阿里", "淘天", "淘宝", "天猫", "饿了么", "高德", "Alibaba"]),
    // Ant Group is its own company to a job seeker (its own hiring, its own offers).
    ("蚂蚁集团", &["蚂蚁集团", "蚂蚁金服", "蚂蚁", "支付宝", "Ant Group"]),
    ("美团", &["美团", "Meituan"]),
    ("腾讯", &["腾讯", "Tencent", "WXG", "天美"]),
    ("百度", &["百度", "Baidu"]),
    ("快手", &["快手", "Kuaishou"]),
    ("京东", &["京东", "JD"]),
    ("小红书", &["小红书", "Xiaohongshu", "RedNote"]),
    ("滴滴", &["滴滴", "Didi"]),
    ("拼多多", &["拼多多", "PDD", "Temu"]),
    ("华为", &["华为", "Huawei"]),
    ("商汤", &["商汤", "SenseTime"]),
    ("得物", &["得物"]),
    ("携程", &["携程", "Ctrip", "Trip.com"]),
    ("DeepSeek", &["DeepSeek", "深度求索"]),
    ("理想汽车", &["理想汽车"]),
    ("小米", &["小米", "Xiaomi"]),
    ("网易", &["网易", "NetEase"]),
    ("米哈游", &["米哈游", "miHoYo"]),
    ("小鹏", &["小鹏", "XPeng"]),
    ("蔚来", &["蔚来", "NIO"]),
    ("晓多科技", &["晓多科技", "晓多"]),
    ("微软", &["微软", "Microsoft"]),
    ("科大讯飞", &["科大讯飞", "讯飞"]),
    ("月之暗面", &["月之暗面", "Moonshot"]),
    ("智谱", &["智谱", "Zhipu"]),
    ("Shopee", &["Shopee", "虾皮"]),
    ("荣耀", &["荣耀"]),
    ("OPPO", &["OPPO"]),
    ("vivo", &["vivo"]),
];

/// Aliases too common as plain words to trust outside a post's title (理想 is "ideal").
pub const TITLE_ONLY_COMPANIES: &[(&str, &[&str])] = &[("理想汽车", &["理想"])];

/// Technical topics: the name reported, then the spellings that count as it.
/// ASCII spellings match case-insensitively and only as whole words (so `RAG` does not
/// fire inside `GraphRAG`, nor `LoRA` inside `QLoRA`).
pub const TOPICS: &[(&str, &[&str])] = &[
    ("LLM", &["LLM", "大模型", "大语言模型"]),
    ("NLP", &["NLP"]),
    ("Transformer", &["Transformer"]),
    ("Attention", &["Attention", "注意力"]),
    ("MHA", &["MHA", "多头注意力"]),
    ("GQA", &["GQA"]),
    ("MQA", &["MQA"]),
    ("MLA", &["MLA"]),
    ("FlashAttention", &["FlashAttention", "Flash Attention"]),
    ("RoPE", &["RoPE", "旋转位置编码"]),
    ("位置编码", &["位置编码"]),
    ("LayerNorm", &["LayerNorm", "RMSNorm"]),
    ("激活函数", &["激活函数"]),
    ("损失函数", &["损失函数"]),
    ("Tokenizer", &["Tokenizer", "分词器", "BPE"]),
    ("RNN", &["RNN", "LSTM"]),
    ("BERT", &["BERT"]),
    ("Mamba", &["Mamba"]),
    ("MoE", &["MoE"]),
    ("LoRA", &["LoRA"]),
    ("QLoRA", &["QLoRA"]),
    ("SFT", &["SFT"]),
    ("微调", &["微调", "fine-tuning", "finetune"]),
    ("RLHF", &["RLHF"]),
    ("DPO", &["DPO"]),
    ("PPO", &["PPO"]),
    ("GRPO", &["GRPO"]),
    ("强化学习", &["强化学习"]),
    ("蒸馏", &["蒸馏", "distillation"]),
    ("量化", &["量化", "NF4", "INT8", "INT4", "GPTQ", "AWQ"]),
    ("KV Cache", &["KV Cache", "KVCache", "KV缓存"]),
    ("vLLM", &["vLLM"]),
    ("PagedAttention", &["PagedAttention"]),
    ("推理加速", &["推理加速", "推理优化"]),
    ("模型部署", &["模型部署"]),
    ("RAG", &["RAG", "检索增强"]),
    ("GraphRAG", &["GraphRAG"]),
    ("Embedding", &["Embedding", "向量化"]),
    ("向量检索", &["向量检索", "向量数据库", "Milvus", "FAISS"]),
    ("Rerank", &["Rerank", "重排"]),
    ("Chunk", &["Chunk", "切片", "分块"]),
    ("召回", &["召回", "Recall"]),
    ("Agent", &["Agent", "智能体"]),
    ("Multi-Agent", &["Multi-Agent", "多Agent", "多智能体"]),
    ("MCP", &["MCP"]),
    ("A2A", &["A2A"]),
    ("Function Calling", &["Function Calling", "Function Call", "工具调用", "tool调用"]),
    ("ReAct", &["ReAct"]),
    ("Prompt", &["Prompt", "提示词"]),
    ("上下文", &["上下文", "Context"]),
    ("LangChain", &["LangChain"]),
    ("LangGraph", &["LangGraph"]),
    ("幻觉", &["幻觉"]),
    ("Memory", &["记忆", "Memory"]),
    ("CoT", &["CoT", "思维链"]),
    ("Skills", &["Skills"]),
    ("MySQL", &["MySQL"]),
    ("Redis", &["Redis"]),
    ("Kafka", &["Kafka", "消息队列", "MQ"]),
    ("索引", &["索引", "B+树"]),
    ("事务", &["事务"]),
    ("HTTP", &["HTTPS", "HTTP"]),
    ("TCP", &["TCP", "UDP"]),
    ("协程", &["协程", "goroutine"]),
    ("多线程", &["多线程", "线程池", "线程"]),
    ("JVM", &["JVM", "GC", "垃圾回收"]),
    ("Docker", &["Docker"]),
    ("Kubernetes", &["Kubernetes", "K8s"]),
    ("etcd", &["ETCD", "Raft"]),
    ("Go", &["Golang"]),
    ("Java", &["Java"]),
    ("Python", &["Python"]),
    ("分布式", &["分布式"]),
    ("微服务", &["微服务"]),
    ("限流", &["限流"]),
];

/// Round names, longest first so `HR面` wins over `面`. Digits and Chinese numerals both.
pub const ROUND_PATTERN: &str = r"(?i)(?:[一二三四五六七八九]|[1-9])面|hr\s*面|hrbp面|终面|技术面|主管面|leader面|总监面|交叉面|加面|业务面|产品面|笔试";

/// Cue words for the three kinds of advice, first match wins.
pub const ADVICE_CUES: &[&str] =
    &["建议", "一定要", "最好", "千万", "务必", "记得", "要提前", "多准备", "没必要", "不要", "要点", "更好"];
/// `复盘` and `关注` were cues once; in these posts they mostly announce the author's own
/// notes (`后续复盘整理一下`), not advice to readers.
pub const TIP_CUES: &[&str] = &["注意", "技巧", "重点"];
pub const EXPERIENCE_CUES: &[&str] = &["总结", "感觉", "经验", "体会", "收获", "整体", "面试官"];
