//! The LeetCode problems the digest can link to: number, the slug of its page on
//! leetcode.cn, and its Chinese title(s).
//!
//! A problem links to `https://leetcode.cn/problems/<slug>/` only when its number is in
//! this table: a slug cannot be derived from a number, and a guessed link that 404s is
//! worse than none. The titles let a post that names the problem without its number
//! ("手撕：求岛屿数量") count with the posts that give it ("lc200").

/// (number, slug, titles as posts write them). The first title is leetcode.cn's.
const PROBLEMS: &[(u32, &str, &[&str])] = &[
    (1, "two-sum", &["两数之和"]),
    (2, "add-two-numbers", &["两数相加"]),
    (3, "longest-substring-without-repeating-characters", &["无重复字符的最长子串"]),
    (4, "median-of-two-sorted-arrays", &["寻找两个正序数组的中位数"]),
    (5, "longest-palindromic-substring", &["最长回文子串"]),
    (11, "container-with-most-water", &["盛最多水的容器"]),
    (15, "3sum", &["三数之和"]),
    (19, "remove-nth-node-from-end-of-list", &["删除链表的倒数第N个结点", "删除链表的倒数第N个节点"]),
    (20, "valid-parentheses", &["有效的括号"]),
    (21, "merge-two-sorted-lists", &["合并两个有序链表"]),
    (22, "generate-parentheses", &["括号生成"]),
    (23, "merge-k-sorted-lists", &["合并K个升序链表"]),
    (25, "reverse-nodes-in-k-group", &["K个一组翻转链表"]),
    (31, "next-permutation", &["下一个排列"]),
    (32, "longest-valid-parentheses", &["最长有效括号"]),
    (33, "search-in-rotated-sorted-array", &["搜索旋转排序数组"]),
    (39, "combination-sum", &["组合总和"]),
    (42, "trapping-rain-water", &["接雨水"]),
    (46, "permutations", &["全排列"]),
    (48, "rotate-image", &["旋转图像"]),
    (53, "maximum-subarray", &["最大子数组和", "最大子序和"]),
    (54, "spiral-matrix", &["螺旋矩阵"]),
    (55, "jump-game", &["跳跃游戏"]),
    (56, "merge-intervals", &["合并区间"]),
    (62, "unique-paths", &["不同路径"]),
    (70, "climbing-stairs", &["爬楼梯"]),
    (72, "edit-distance", &["编辑距离"]),
    (76, "minimum-window-substring", &["最小覆盖子串"]),
    (79, "word-search", &["单词搜索"]),
    (84, "largest-rectangle-in-histogram", &["柱状图中最大的矩形"]),
    (88, "merge-sorted-array", &["合并两个有序数组"]),
    (92, "reverse-linked-list-ii", &["反转链表II"]),
    (94, "binary-tree-inorder-traversal", &["二叉树的中序遍历"]),
    (98, "validate-binary-search-tree", &["验证二叉搜索树"]),
    (102, "binary-tree-level-order-traversal", &["二叉树的层序遍历"]),
    (103, "binary-tree-zigzag-level-order-traversal", &["二叉树的锯齿形层序遍历", "之字形层序遍历", "锯齿形层序遍历"]),
    (104, "maximum-depth-of-binary-tree", &["二叉树的最大深度"]),
    (121, "best-time-to-buy-and-sell-stock", &["买卖股票的最佳时机"]),
    (122, "best-time-to-buy-and-sell-stock-ii", &["买卖股票的最佳时机II"]),
    (124, "binary-tree-maximum-path-sum", &["二叉树中的最大路径和"]),
    (128, "longest-consecutive-sequence", &["最长连续序列"]),
    (139, "word-break", &["单词拆分"]),
    (141, "linked-list-cycle", &["环形链表"]),
    (142, "linked-list-cycle-ii", &["环形链表II"]),
    (146, "lru-cache", &["LRU缓存", "LRU Cache", "LRU缓存机制"]),
    (148, "sort-list", &["排序链表"]),
    (155, "min-stack", &["最小栈"]),
    (160, "intersection-of-two-linked-lists", &["相交链表"]),
    (198, "house-robber", &["打家劫舍"]),
    (200, "number-of-islands", &["岛屿数量"]),
    (206, "reverse-linked-list", &["反转链表"]),
    (215, "kth-largest-element-in-an-array", &["数组中的第K个最大元素"]),
    (236, "lowest-common-ancestor-of-a-binary-tree", &["二叉树的最近公共祖先"]),
    (239, "sliding-window-maximum", &["滑动窗口最大值"]),
    (300, "longest-increasing-subsequence", &["最长递增子序列", "最长上升子序列"]),
    (322, "coin-change", &["零钱兑换"]),
    (415, "add-strings", &["字符串相加"]),
    (560, "subarray-sum-equals-k", &["和为K的子数组"]),
    (704, "binary-search", &["二分查找"]),
    (1143, "longest-common-subsequence", &["最长公共子序列"]),
];

/// The leetcode.cn page of problem `number`, when its slug is known.
pub(super) fn url(number: u32) -> Option<String> {
    PROBLEMS.iter().find(|p| p.0 == number).map(|p| format!("https://leetcode.cn/problems/{}/", p.1))
}

/// The leetcode.cn title of problem `number`, when known.
pub(super) fn title(number: u32) -> Option<&'static str> {
    PROBLEMS.iter().find(|p| p.0 == number).map(|p| p.2[0])
}

/// The number of the problem a text names by title ("手撕：求岛屿数量" → 200): the longest
/// title found in it, so "环形链表 II" is 142, not 141.
pub(super) fn by_title(text: &str) -> Option<u32> {
    let text = super::aggregate::normalise(text);
    let mut best: Option<(usize, u32)> = None;
    for &(number, _, titles) in PROBLEMS {
        for t in titles {
            let t = super::aggregate::normalise(t);
            if !t.is_empty() && text.contains(&t) && best.is_none_or(|(len, _)| t.len() > len) {
                best = Some((t.len(), number));
            }
        }
    }
    best.map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_link_unknown_ones_do_not() {
        assert_eq!(url(54).as_deref(), Some("https://leetcode.cn/problems/spiral-matrix/"));
        assert_eq!(url(9999), None);
        assert_eq!(title(200), Some("岛屿数量"));
    }

    #[test]
    fn titles_name_their_problem_longest_first() {
        assert_eq!(by_title("手撕题—求岛屿数量，邮箱发题"), Some(200));
        assert_eq!(by_title("环形链表 II"), Some(142));
        assert_eq!(by_title("手撕：LRU Cache"), Some(146));
        assert_eq!(by_title("实现树节点的Zig-zag（之字形）层序遍历"), Some(103));
        assert_eq!(by_title("手撕 MHA"), None);
    }

    #[test]
    fn the_table_has_one_row_per_number() {
        let mut numbers: Vec<u32> = PROBLEMS.iter().map(|p| p.0).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), PROBLEMS.len());
    }
}
