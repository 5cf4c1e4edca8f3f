//! The free-text 意见和建议, made readable: which dimension each respondent rated lowest (to
//! filter by), and the words they use most, segmented with jieba.
use super::questionnaire::Definition;
use jieba_rs::Jieba;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The dimension of the item a respondent rated lowest: the counted option furthest down the
/// scale (满意 first, 不满意 last; 不了解 is not counted), the first such item in the
/// questionnaire's order. `None` when nothing they answered is counted.
pub fn lowest_dimension<'d>(def: &'d Definition, answers: &[(String, String)]) -> Option<&'d str> {
    let rank = |code: &str| {
        def.scale
            .options
            .iter()
            .position(|o| o.code == code && o.counted)
    };
    let mut worst: Option<(usize, &str)> = None;
    for item in &def.items {
        let Some(code) = answers
            .iter()
            .find(|(id, _)| *id == item.id)
            .map(|(_, c)| c)
        else {
            continue;
        };
        if let Some(r) = rank(code)
            && worst.is_none_or(|(w, _)| r > w)
        {
            worst = Some((r, item.dimension.as_str()));
        }
    }
    worst.map(|(_, d)| d)
}

/// Words that say nothing about a theme: function words, and the words every comment box
/// collects (希望, 建议 …).
const STOPWORDS: &[&str] = &[
    "我们",
    "你们",
    "他们",
    "她们",
    "自己",
    "这个",
    "那个",
    "这些",
    "那些",
    "这样",
    "那样",
    "什么",
    "怎么",
    "没有",
    "不是",
    "就是",
    "还是",
    "但是",
    "而且",
    "因为",
    "所以",
    "如果",
    "可以",
    "能够",
    "应该",
    "希望",
    "建议",
    "意见",
    "谢谢",
    "感谢",
    "非常",
    "比较",
    "一些",
    "一个",
    "已经",
    "现在",
    "还有",
    "以及",
    "或者",
    "其他",
    "没什么",
    "暂无",
    "无意见",
    "觉得",
    "认为",
    "一点",
    "有点",
    "方面",
    "问题",
    "情况",
    "进一步",
    "继续",
    "更加",
    "越来越",
];

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Whether a segment can name a theme: two characters or more, Chinese or letters, not a
/// stopword and not a masked number.
fn is_theme(word: &str) -> bool {
    word.chars().count() >= 2
        && word
            .chars()
            .all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || c.is_alphabetic())
        && !STOPWORDS.contains(&word)
}

/// A comment without its `[…]` masks.
fn without_masks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The words of the comments by how many comments use them (a word counts once per comment),
/// most first (ties: by the word), at most `limit`.
pub fn keywords<'a>(
    comments: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for text in comments {
        // Masked numbers read `[手机号已隐去]`: not a theme.
        let text = without_masks(text);
        let mut seen: Vec<&str> = jieba()
            .cut(&text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| is_theme(w))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            *counts.entry(w.to_owned()).or_default() += 1;
        }
    }
    let mut out: Vec<(String, u64)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::{BUILT_IN, Definition};

    #[test]
    fn the_lowest_rated_item_names_the_dimension() {
        let def = Definition::parse(BUILT_IN[0]).unwrap();
        let first = &def.items[0];
        let other = def
            .items
            .iter()
            .find(|i| i.dimension != first.dimension)
            .unwrap();
        let codes: Vec<&str> = def.scale.options.iter().map(|o| o.code.as_str()).collect();
        // Best on every item but one rated 不满意 (the last counted option).
        let worst_counted = def
            .scale
            .options
            .iter()
            .rev()
            .find(|o| o.counted)
            .unwrap()
            .code
            .clone();
        let answers: Vec<(String, String)> = def
            .items
            .iter()
            .map(|i| {
                let code = if i.id == other.id {
                    worst_counted.clone()
                } else {
                    codes[0].to_owned()
                };
                (i.id.clone(), code)
            })
            .collect();
        assert_eq!(
            lowest_dimension(&def, &answers),
            Some(other.dimension.as_str())
        );
        // 不了解 everywhere counts for nothing.
        let unknown = def.scale.options.iter().find(|o| !o.counted).unwrap();
        let none: Vec<(String, String)> = def
            .items
            .iter()
            .map(|i| (i.id.clone(), unknown.code.clone()))
            .collect();
        assert_eq!(lowest_dimension(&def, &none), None);
    }

    #[test]
    fn keywords_are_counted_once_per_comment_without_function_words() {
        let words = keywords(
            [
                "希望减少学生的作业，作业太多了",
                "作业太重，孩子睡眠不足",
                "食堂饭菜质量有待提高，孩子吃不饱",
                "电话 [手机号已隐去] 联系我",
            ],
            5,
        );
        assert_eq!(words[0], ("作业".to_owned(), 2));
        assert!(
            words.iter().any(|(w, n)| w == "孩子" && *n == 2),
            "{words:?}"
        );
        assert!(
            !words
                .iter()
                .any(|(w, _)| w == "希望" || w.contains("手机号") || w.contains("隐去"))
        );
        assert!(words.len() <= 5);
    }
}
