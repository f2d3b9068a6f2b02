//! Coding tasks: which lines set one, and the LeetCode numbers they name or imply.
//!
//! People write a coding task many ways: `手撕 LRU`, `代码题：…`, `算法最长子序列长度`,
//! `lc54`, `LeetCode 121、122、123、188`, `leetcode mid`, or only the problem's well-known
//! title. Each form is recognised here; the numbers come from the text or, for a title,
//! from a table of problems that are unmistakable by name.

use regex::Regex;
use std::sync::LazyLock;

/// A LeetCode reference with its number: `lc54`, `LeetCode 146`, `力扣 3`, and the numbers
/// listed after it: `LeetCode 121、122、123、188`.
static LEETCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^a-z])(?:lc|leetcode|力扣)\s*[#.:：-]?\s*(\d{1,4}(?:\s*[、,，/和&]\s*\d{1,4})*)")
        .expect("leetcode")
});

/// Words that mark a coding task wherever they appear.
static CODING_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)手撕|手写代码|代码题|算法题|编程题|写题|做题|写代码|leetcode|力扣|hot\s?100|(?:^|[^a-z])lc\s?\d")
        .expect("coding")
});

/// A line that opens with the kind of task: `算法：…`, `算法最长子序列长度`, `题目是大数加法`,
/// or states one the way problem sets do: `给定一个schema，提取…，以json返回`.
/// `算法工程师`, `算法岗` and friends are roles, not tasks.
static CODING_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:算法(?:[:：\s]|[^\s工岗方相的是有原：:])|题目是|题目[:：]|代码[:：]|笔试题|coding\b|写一个|手写|给定[^？?]{4,}(?:返回|输出|找出|求出|判断))")
        .expect("coding start")
});

/// An AI-coding round listed as an item of its own (`aicoding`, `AI Coding环节`): a task
/// solved live with an AI assistant. Not `拷打aicoding` nor `平时用哪些AI coding工具`, which
/// ask about the candidate's habits.
static AI_CODING_ROUND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^ai\s?(?:coding|编程)(?:环节|题|轮)?$").expect("ai coding round"));

/// Problems people name by title: every listed word must appear; the number when the
/// title is unmistakably one LeetCode problem, else `None` (a known task, no number).
const TITLES: &[(&[&str], Option<u32>)] = &[
    (&["寻找两个正序数组的中位数"], Some(4)),
    (&["整数反转"], Some(7)),
    (&["盛最多水的容器"], Some(11)),
    (&["电话号码的字母组合"], Some(17)),
    (&["删除链表的倒数第"], Some(19)),
    (&["括号生成"], Some(22)),
    (&["两两交换链表"], Some(24)),
    (&["下一个排列"], Some(31)),
    (&["搜索旋转排序数组"], Some(33)),
    (&["组合总和"], Some(39)),
    (&["缺失的第一个正数"], Some(41)),
    (&["跳跃游戏ii"], Some(45)),
    (&["旋转图像"], Some(48)),
    (&["字母异位词分组"], Some(49)),
    (&["n皇后"], Some(51)),
    (&["跳跃游戏"], Some(55)),
    (&["不同路径"], Some(62)),
    (&["最小路径和"], Some(64)),
    (&["最小覆盖子串"], Some(76)),
    (&["单词搜索"], Some(79)),
    (&["复原ip"], Some(93)),
    (&["验证二叉搜索树"], Some(98)),
    (&["对称二叉树"], Some(101)),
    (&["二叉树的最大深度"], Some(104)),
    (&["最长连续序列"], Some(128)),
    (&["单词拆分"], Some(139)),
    (&["排序链表"], Some(148)),
    (&["乘积最大子数组"], Some(152)),
    (&["相交链表"], Some(160)),
    (&["打家劫舍"], Some(198)),
    (&["课程表"], Some(207)),
    (&["实现trie"], Some(208)),
    (&["翻转二叉树"], Some(226)),
    (&["回文链表"], Some(234)),
    (&["最近公共祖先"], Some(236)),
    (&["除自身以外数组的乘积"], Some(238)),
    (&["滑动窗口最大值"], Some(239)),
    (&["移动零"], Some(283)),
    (&["前k个高频元素"], Some(347)),
    (&["分割等和子集"], Some(416)),
    (&["字母异位词"], Some(438)),
    (&["二叉树的直径"], Some(543)),
    (&["和为k的子数组"], Some(560)),
    (&["每日温度"], Some(739)),
    (&["腐烂的橘子"], Some(994)),
    (&["两数之和"], Some(1)),
    (&["两数相加"], Some(2)),
    (&["无重复字符", "最长子串"], Some(3)),
    (&["最长", "无重复", "子串"], Some(3)),
    (&["最长回文子串"], Some(5)),
    (&["三数之和"], Some(15)),
    (&["有效的括号"], Some(20)),
    (&["合并两个有序链表"], Some(21)),
    (&["合并k个"], Some(23)),
    (&["k个一组"], Some(25)),
    (&["有序", "数组", "去重"], Some(26)),
    (&["删除有序数组中的重复项"], Some(26)),
    (&["最长有效括号"], Some(32)),
    (&["接雨水"], Some(42)),
    (&["全排列"], Some(46)),
    (&["最大子数组和"], Some(53)),
    (&["最大子序和"], Some(53)),
    (&["螺旋矩阵"], Some(54)),
    (&["合并区间"], Some(56)),
    (&["爬楼梯"], Some(70)),
    (&["编辑距离"], Some(72)),
    (&["之字形"], Some(103)),
    (&["锯齿形"], Some(103)),
    (&["zigzag"], Some(103)),
    (&["zig-zag"], Some(103)),
    (&["层序遍历"], Some(102)),
    (&["前序遍历"], Some(144)),
    (&["中序遍历"], Some(94)),
    (&["后序遍历"], Some(145)),
    (&["买卖股票的最佳时机"], Some(121)),
    (&["环形链表"], Some(141)),
    (&["lru"], Some(146)),
    (&["最小栈"], Some(155)),
    (&["岛屿数量"], Some(200)),
    (&["反转链表"], Some(206)),
    (&["数组中的第k个最大元素"], Some(215)),
    (&["数组", "第k大"], Some(215)),
    // `二叉搜索树中第K小的元素`, as people say it: `排序二叉树里面找第k小的`, `BST第k小`.
    (&["二叉", "第k小"], Some(230)),
    (&["bst", "第k小"], Some(230)),
    (&["最长递增子序列"], Some(300)),
    (&["最长上升子序列"], Some(300)),
    (&["零钱兑换"], Some(322)),
    (&["字符串相加"], Some(415)),
    (&["最长公共子序列"], Some(1143)),
    // Well-known tasks that are not one LeetCode problem by that name.
    (&["最长公共子串"], None),
    (&["大数加法"], None),
    (&["大数相加"], None),
    (&["快速排序"], None),
    (&["快排"], None),
    (&["堆排序"], None),
    (&["归并排序"], None),
    (&["最长子序列"], None),
];

/// Question words that make a line about a title a knowledge question, not the task.
const ASKS_ABOUT: &[&str] = &["原理", "什么是", "区别", "为什么", "讲一下", "讲讲", "介绍"];

/// The title-table entry a line names, if any.
fn title(text: &str) -> Option<Option<u32>> {
    let lower = text.to_lowercase();
    TITLES.iter().find(|(words, _)| words.iter().all(|w| lower.contains(w))).map(|(_, n)| *n)
}

/// Whether a question line sets a coding task.
pub fn is_coding(text: &str) -> bool {
    if CODING_WORDS.is_match(text) || CODING_START.is_match(text) || AI_CODING_ROUND.is_match(text.trim()) {
        return true;
    }
    title(text).is_some() && !ASKS_ABOUT.iter().any(|w| text.contains(w)) && text.chars().count() <= 40
}

/// Whether a line outside a list still reads as a task set: it opens with the kind of
/// task (`手撕 …`, `算法…`, `leetcode mid`).
pub fn opens_with_task(text: &str) -> bool {
    const CUES: &[&str] =
        &["手撕", "手写", "代码题", "算法题", "编程题", "leetcode", "lc", "力扣", "hot100", "算法", "题目是"];
    // `最后手撕了一道LRU`: a few words of sequence may come before the task.
    const LEAD_IN: &[&str] = &["最后", "然后", "接着", "再", "是", "来", "了", "一道", "道", "一个"];
    let mut lower = text.trim().to_lowercase();
    while let Some(rest) = LEAD_IN.iter().find_map(|w| lower.strip_prefix(w)) {
        lower = rest.trim_start().to_string();
    }
    let lower = CUES.iter().find_map(|w| lower.strip_prefix(w).map(|r| (w, r))).map_or(lower.clone(), |(w, r)| {
        // `手撕了一道LRU` reads as `手撕LRU`.
        let mut r = r.trim_start();
        while let Some(rest) = LEAD_IN.iter().find_map(|l| r.strip_prefix(l)) {
            r = rest.trim_start();
        }
        format!("{w}{r}")
    });
    let opens = CODING_START.is_match(&lower) || CUES.iter().any(|w| lower.starts_with(w));
    // `手撕算法题。这道题是…` is a remark about the task; the task itself has a name.
    let clause = lower.split(['。', '，', ',', '；', ';']).next().unwrap_or("");
    let named = CUES.iter().fold(clause.to_string(), |c, w| c.replace(w, ""));
    opens && named.trim_matches(|c: char| c.is_whitespace() || c == ':' || c == '：').chars().count() >= 2
}

/// Every LeetCode number a text gives (`LeetCode 121、122` → 121, 122), or the one its
/// title implies.
pub fn leetcode_numbers(text: &str) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for c in LEETCODE.captures_iter(text) {
        for n in c[1].split(|ch: char| !ch.is_ascii_digit()).filter_map(|d| d.parse().ok()) {
            if n > 0 && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if out.is_empty()
        && let Some(Some(n)) = title(text)
    {
        out.push(n);
    }
    out
}

/// Whether prose mentions a LeetCode problem by number.
pub fn mentions_leetcode(text: &str) -> bool {
    LEETCODE.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_numbers_on_one_line() {
        assert_eq!(leetcode_numbers("经典股票四连问：LeetCode 121、122、123、188"), [121, 122, 123, 188]);
        assert_eq!(leetcode_numbers("lc54. 螺旋矩阵"), [54]);
        assert_eq!(leetcode_numbers("calc54"), Vec::<u32>::new());
    }

    #[test]
    fn titles_give_numbers() {
        assert_eq!(leetcode_numbers("手撕 有序数字数组原数组去重，O(1)空间复杂度"), [26]);
        assert_eq!(leetcode_numbers("代码：岛屿数量"), [200]);
        assert_eq!(leetcode_numbers("go排序二叉树里面找第k小的"), [230]);
        assert_eq!(leetcode_numbers("手撕：最长无重复子串"), [3]);
        assert!(leetcode_numbers("两个字符串的最长公共子串").is_empty());
    }

    #[test]
    fn coding_forms() {
        assert!(is_coding("算法最长子序列长度"));
        assert!(is_coding("leetcode mid"));
        assert!(is_coding("aicoding"));
        assert!(is_coding("给定一个schema，提取接口名、required为true的字段名，以json返回"));
        assert!(!is_coding("拷打aicoding"));
        assert!(is_coding("两个字符串的最长公共子串"));
        assert!(is_coding("题目是大数加法，秒了"));
        assert!(!is_coding("算法工程师的日常"));
        assert!(!is_coding("LRU的原理是什么"));
        assert!(opens_with_task("手撕 有序数字数组原数组去重"));
        assert!(!opens_with_task("面试官让我手撕"));
        assert!(opens_with_task("最后手撕了一道LRU"));
        assert!(!opens_with_task("最后手撕了一道"));
    }
}
