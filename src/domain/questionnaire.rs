//! Questionnaires: versioned definitions (TOML) of a booklet's items and answer scale, and the
//! checking of a respondent's answers against them.
use super::group::Booklet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The longest free-text comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// The dimensions the evaluation asks about.
pub const DIMENSIONS: [(&str, &str); 8] = [
    ("equity_policy", "教育公平政策"),
    ("resource_sharing", "优质资源共享"),
    ("school_conduct", "规范办学"),
    ("well_rounded", "素质教育"),
    ("exam_reform", "考试评价改革"),
    ("quality", "教育质量"),
    ("burden", "减轻负担"),
    ("overall", "总体评价"),
];

pub fn dimension_label(code: &str) -> &'static str {
    DIMENSIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("其他", |(_, l)| l)
}

/// One option of the answer scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleOption {
    pub code: String,
    pub label: String,
    /// Counts as recognition (满意, 比较满意).
    pub recognized: bool,
    /// Counts in the denominator (不了解 does not).
    pub counted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub options: Vec<ScaleOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable across versions; the form field's name.
    pub id: String,
    pub dimension: String,
    pub text: String,
}

/// A booklet's definition, as its TOML file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub booklet: Booklet,
    pub version: String,
    pub title: String,
    pub intro: String,
    pub comment_prompt: String,
    pub scale: Scale,
    pub items: Vec<Item>,
    /// The booklet in further languages, by BCP 47 tag (`ug`, `bo`, `ii`, `mn`, `ko`, `za`):
    /// every item and option, the title, intro and comment prompt.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, Translation>,
}

/// A booklet's texts in one further language. Answers are the same option codes in every
/// language, so the tally does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// The language's name in itself (ئۇيغۇرچە, བོད་ཡིག), for the switch on the page.
    pub language: String,
    pub title: String,
    pub intro: String,
    pub comment_prompt: String,
    /// Each option's label, by its code.
    pub options: BTreeMap<String, String>,
    /// Each item's text, by its id.
    pub items: BTreeMap<String, String>,
}

/// The language a booklet's own texts are in.
pub const SOURCE_LANGUAGE: &str = "zh-CN";

/// Whether a BCP 47 tag is one Renke takes: a primary language of 2–3 letters and optional
/// subtags of 2–8 letters or digits (`ug`, `ug-Arab`, `mn-Mong`, `ko-KR`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    // Written one way only, as BCP 47 recommends (ug-Arab, ko-KR, not ug-arab): a tag is then
    // one key in the booklet, the survey and a link.
    let canonical = |p: &str| match p.len() {
        4 if p.bytes().all(|b| b.is_ascii_alphabetic()) => {
            p.as_bytes()[0].is_ascii_uppercase() && p[1..].bytes().all(|b| b.is_ascii_lowercase())
        }
        2 if p.bytes().all(|b| b.is_ascii_alphabetic()) => {
            p.bytes().all(|b| b.is_ascii_uppercase())
        }
        _ => p
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
    };
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| {
            (2..=8).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_alphanumeric())
                && canonical(p)
        })
        && tag.len() <= 35
}

/// Characters no questionnaire text may hold: control characters but the line break, and the
/// bidirectional overrides and embeddings that would reorder the page around the text (the
/// marks and isolates a right-to-left translation may need are allowed).
fn unfit_character(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202A}'..='\u{202E}')
}

/// Empty as a reader sees it: nothing but spaces and invisible characters.
fn blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// Whether a language is written right to left (Uyghur, Arabic, Persian, Hebrew, Urdu …), unless
/// the tag names a left-to-right script (`ug-Latn`, `ug-Cyrl`).
pub fn is_right_to_left(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    let ltr_script =
        parts.any(|p| p.eq_ignore_ascii_case("latn") || p.eq_ignore_ascii_case("cyrl"));
    matches!(
        primary,
        "ug" | "ar" | "fa" | "he" | "ur" | "ps" | "sd" | "yi" | "dv" | "ckb" | "ku"
    ) && !ltr_script
}

/// A language's writing direction, as HTML's `dir` names it.
pub fn direction(tag: &str) -> &'static str {
    if is_right_to_left(tag) { "rtl" } else { "ltr" }
}

/// A booklet's texts as a respondent reads them, in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Texts<'a> {
    /// The BCP 47 tag (`zh-CN` for the booklet's own texts) and the writing direction.
    pub lang: &'a str,
    pub dir: &'static str,
    pub title: &'a str,
    pub intro: &'a str,
    pub comment_prompt: &'a str,
    /// Each item's text, in item order.
    pub items: Vec<&'a str>,
    /// Each option's label, in scale order.
    pub options: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DefinitionError {
    pub message: String,
}

fn err(message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        message: message.into(),
    }
}

fn is_code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The definitions that ship inside the binary.
pub const BUILT_IN: [&str; 3] = [
    include_str!("../../questionnaires/social.toml"),
    include_str!("../../questionnaires/staff.toml"),
    include_str!("../../questionnaires/student.toml"),
];

impl Definition {
    /// Parses and checks a definition: unique item ids, known dimensions, a scale whose every
    /// option says whether it is recognised and counted.
    pub fn parse(text: &str) -> Result<Definition, DefinitionError> {
        let def: Definition =
            toml::from_str(text).map_err(|e| err(format!("问卷定义无法解析：{e}")))?;
        def.check()?;
        Ok(def)
    }

    fn check(&self) -> Result<(), DefinitionError> {
        self.check_characters()?;
        let version = self.version.trim();
        if version.is_empty() || version.chars().count() > 32 {
            return Err(err("version 须为 1–32 个字符"));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 50 {
            return Err(err("title 须为 1–50 个字符"));
        }
        if self.intro.chars().count() > 1000 || self.comment_prompt.chars().count() > 200 {
            return Err(err("intro 或 comment_prompt 过长"));
        }
        let options = &self.scale.options;
        if !(2..=10).contains(&options.len()) {
            return Err(err("量表须有 2–10 个选项"));
        }
        let mut codes = HashSet::new();
        for o in options {
            if !is_code(&o.code, 8) {
                return Err(err(format!(
                    "选项代码“{}”无效：须为 1–8 个字母、数字、_ 或 -",
                    o.code
                )));
            }
            if !codes.insert(o.code.as_str()) {
                return Err(err(format!("选项代码“{}”重复", o.code)));
            }
            if o.label.trim().is_empty() || o.label.chars().count() > 20 {
                return Err(err(format!("选项“{}”的文字须为 1–20 个字符", o.code)));
            }
            if o.recognized && !o.counted {
                return Err(err(format!(
                    "选项“{}”计为认可，就必须计入统计（counted = true）",
                    o.code
                )));
            }
        }
        if !options.iter().any(|o| o.recognized)
            || !options.iter().any(|o| o.counted && !o.recognized)
        {
            return Err(err("量表须至少有一个认可选项和一个计入统计的不认可选项"));
        }
        if !(1..=50).contains(&self.items.len()) {
            return Err(err("题目须为 1–50 道"));
        }
        let mut ids = HashSet::new();
        for item in &self.items {
            if !is_code(&item.id, 32) || item.id == "comment" || item.id.starts_with('_') {
                return Err(err(format!(
                    "题目编号“{}”无效：须为 1–32 个字母、数字、_ 或 -",
                    item.id
                )));
            }
            if !ids.insert(item.id.as_str()) {
                return Err(err(format!("题目编号“{}”重复", item.id)));
            }
            if !DIMENSIONS.iter().any(|(c, _)| *c == item.dimension) {
                return Err(err(format!(
                    "题目“{}”的维度“{}”未知",
                    item.id, item.dimension
                )));
            }
            if item.text.trim().is_empty() || item.text.chars().count() > 300 {
                return Err(err(format!("题目“{}”的文字须为 1–300 个字符", item.id)));
            }
        }
        self.check_translations()
    }

    /// No text with a character that would corrupt or reorder the page, nor one blank to a
    /// reader (invisible characters only).
    fn check_characters(&self) -> Result<(), DefinitionError> {
        let mut texts: Vec<(String, &str)> = vec![
            ("title".into(), self.title.as_str()),
            ("intro".into(), self.intro.as_str()),
            ("comment_prompt".into(), self.comment_prompt.as_str()),
        ];
        texts.extend(
            self.scale
                .options
                .iter()
                .map(|o| (format!("选项“{}”", o.code), o.label.as_str())),
        );
        texts.extend(
            self.items
                .iter()
                .map(|i| (format!("题目“{}”", i.id), i.text.as_str())),
        );
        for (tag, t) in &self.translations {
            let named = |what: &str| format!("译文“{tag}”的{what}");
            texts.push((named("language"), t.language.as_str()));
            texts.push((named("title"), t.title.as_str()));
            texts.push((named("intro"), t.intro.as_str()));
            texts.push((named("comment_prompt"), t.comment_prompt.as_str()));
            texts.extend(
                t.options
                    .iter()
                    .map(|(c, v)| (named(&format!("选项“{c}”")), v.as_str())),
            );
            texts.extend(
                t.items
                    .iter()
                    .map(|(id, v)| (named(&format!("题目“{id}”")), v.as_str())),
            );
        }
        for (what, text) in texts {
            if text.chars().any(unfit_character) {
                return Err(err(format!(
                    "{what}含有控制字符或改变文字方向的字符，请删去"
                )));
            }
            if blank(text) && what != "comment_prompt" {
                return Err(err(format!("{what}不能为空")));
            }
        }
        Ok(())
    }

    /// Every translation whole: each item and option, title, intro and prompt, within the same
    /// lengths as the Chinese, nothing for items or options the booklet does not have.
    fn check_translations(&self) -> Result<(), DefinitionError> {
        if self.translations.len() > 8 {
            return Err(err("译文最多 8 种语言"));
        }
        for (tag, t) in &self.translations {
            let named = format!("译文“{tag}”");
            if !is_language_tag(tag) || tag.starts_with("zh") {
                return Err(err(format!(
                    "{named}的语言代码无效：须为 BCP 47 代码（如 ug、bo、ii、mn、ko、za），中文是问卷本身的语言"
                )));
            }
            let text = |what: &str, value: &str, max: usize| {
                if value.trim().is_empty() || value.chars().count() > max {
                    Err(err(format!("{named}的 {what} 须为 1–{max} 个字符")))
                } else {
                    Ok(())
                }
            };
            text("language", &t.language, 30)?;
            text("title", &t.title, 100)?;
            text("intro", &t.intro, 2000)?;
            text("comment_prompt", &t.comment_prompt, 400)?;
            for o in &self.scale.options {
                match t.options.get(&o.code) {
                    None => return Err(err(format!("{named}缺少选项“{}”（{}）", o.code, o.label))),
                    Some(label) => text(&format!("选项“{}”", o.code), label, 40)?,
                }
            }
            if let Some(extra) = t.options.keys().find(|c| self.option(c).is_none()) {
                return Err(err(format!("{named}有问卷中没有的选项“{extra}”")));
            }
            for item in &self.items {
                match t.items.get(&item.id) {
                    None => return Err(err(format!("{named}缺少题目“{}”", item.id))),
                    Some(text_) => text(&format!("题目“{}”", item.id), text_, 600)?,
                }
            }
            if let Some(extra) = t
                .items
                .keys()
                .find(|id| !self.items.iter().any(|i| &i.id == *id))
            {
                return Err(err(format!("{named}有问卷中没有的题目“{extra}”")));
            }
        }
        Ok(())
    }

    /// The languages the booklet can be read in: its own (中文) first, then its translations,
    /// each as (tag, name in itself).
    pub fn languages(&self) -> Vec<(&str, &str)> {
        std::iter::once((SOURCE_LANGUAGE, "中文"))
            .chain(
                self.translations
                    .iter()
                    .map(|(tag, t)| (tag.as_str(), t.language.as_str())),
            )
            .collect()
    }

    /// The booklet's texts in `lang` where it has them, else its own.
    pub fn texts(&self, lang: Option<&str>) -> Texts<'_> {
        match lang.and_then(|l| self.translations.get_key_value(l)) {
            Some((tag, t)) => Texts {
                lang: tag,
                dir: direction(tag),
                title: &t.title,
                intro: &t.intro,
                comment_prompt: &t.comment_prompt,
                // A parsed definition has every text; the Chinese stands in for any other.
                items: self
                    .items
                    .iter()
                    .map(|i| t.items.get(&i.id).map_or(i.text.as_str(), String::as_str))
                    .collect(),
                options: self
                    .scale
                    .options
                    .iter()
                    .map(|o| {
                        t.options
                            .get(&o.code)
                            .map_or(o.label.as_str(), String::as_str)
                    })
                    .collect(),
            },
            None => Texts {
                lang: SOURCE_LANGUAGE,
                dir: "ltr",
                title: &self.title,
                intro: &self.intro,
                comment_prompt: &self.comment_prompt,
                items: self.items.iter().map(|i| i.text.as_str()).collect(),
                options: self
                    .scale
                    .options
                    .iter()
                    .map(|o| o.label.as_str())
                    .collect(),
            },
        }
    }

    pub fn option(&self, code: &str) -> Option<&ScaleOption> {
        self.scale.options.iter().find(|o| o.code == code)
    }

    /// Checks a submitted form against the definition. Every scored item must be answered with
    /// a code of the scale; nothing but the items and `comment` may be sent.
    pub fn parse_answers<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Answers, AnswerErrors> {
        let mut choices: Vec<Option<usize>> = vec![None; self.items.len()];
        let mut comment = None;
        let mut errors = AnswerErrors::default();
        for (name, value) in fields {
            if name == "comment" {
                // Control characters (a NUL, a bell) are no part of anyone's comment: dropped,
                // line breaks and tabs kept.
                let kept: String = value
                    .chars()
                    .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                    .collect();
                let text = kept.trim();
                if text.chars().count() > MAX_COMMENT_CHARS {
                    errors.comment_too_long = true;
                }
                if !text.is_empty() {
                    // Stored as it will be shown: without what would say who wrote it.
                    comment = Some(super::disclosure::mask_personal(text));
                }
                continue;
            }
            let Some(i) = self.items.iter().position(|it| it.id == name) else {
                errors.unknown.push(name.to_owned());
                continue;
            };
            match self.scale.options.iter().position(|o| o.code == value) {
                Some(o) if choices[i].is_none() || choices[i] == Some(o) => choices[i] = Some(o),
                Some(_) => errors.unknown.push(name.to_owned()),
                None if value.is_empty() => {}
                None => errors.unknown.push(format!("{name}={value}")),
            }
        }
        for (i, c) in choices.iter().enumerate() {
            if c.is_none() {
                errors.missing.push(self.items[i].id.clone());
            }
        }
        if errors.is_empty() {
            Ok(Answers {
                choices: choices.into_iter().map(|c| c.unwrap_or(0)).collect(),
                comment,
            })
        } else {
            errors.partial = choices;
            Err(errors)
        }
    }

    /// Too fast to have read the items: under 2 s an item, and never under 20 s.
    pub fn too_fast(&self, seconds: u64) -> bool {
        seconds < (2 * self.items.len() as u64).max(20)
    }
}

/// A complete, valid set of answers: the option index chosen for each item, in item order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub choices: Vec<usize>,
    pub comment: Option<String>,
}

impl Answers {
    /// Every item on the same option (with at least five items): a sign of not reading.
    pub fn straight_lined(&self) -> bool {
        self.choices.len() >= 5 && self.choices.windows(2).all(|w| w[0] == w[1])
    }
}

/// Why a submission was refused, with what was valid kept for showing the form again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerErrors {
    /// Item ids left unanswered.
    pub missing: Vec<String>,
    /// Fields that are not items of this booklet, or codes not of its scale.
    pub unknown: Vec<String>,
    pub comment_too_long: bool,
    /// The valid choices, per item, to keep on the form.
    pub partial: Vec<Option<usize>>,
}

impl AnswerErrors {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unknown.is_empty() && !self.comment_too_long
    }

    /// The request was not made by our form (fields or codes it never sends).
    pub fn is_tampered(&self) -> bool {
        !self.unknown.is_empty()
    }
}

/// A stored version of a booklet, parsed: built in (`county_id` none) or a county's upload.
/// A stored version never changes.
#[derive(Debug, Clone)]
pub struct Questionnaire {
    pub id: i32,
    pub county_id: Option<i32>,
    pub definition: Definition,
    /// The TOML it was parsed from.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn social() -> Definition {
        Definition::parse(BUILT_IN[0]).unwrap()
    }

    #[test]
    fn the_built_in_booklets_are_valid_and_cover_every_dimension() {
        for text in BUILT_IN {
            let d = Definition::parse(text).unwrap();
            assert!((10..=14).contains(&d.items.len()), "{}", d.title);
            assert_eq!(d.scale.options.iter().filter(|o| o.recognized).count(), 2);
            assert_eq!(d.scale.options.iter().filter(|o| !o.counted).count(), 1);
            for (dim, _) in DIMENSIONS {
                assert!(
                    d.items.iter().any(|i| i.dimension == dim),
                    "{} lacks {dim}",
                    d.title
                );
            }
        }
    }

    #[test]
    fn a_bad_definition_says_what_is_wrong() {
        let good = BUILT_IN[0];
        for (bad, words) in [
            (good.replace("id = \"S02\"", "id = \"S01\""), "重复"),
            (
                good.replace("dimension = \"quality\"", "dimension = \"happiness\""),
                "维度",
            ),
            (good.replace(", counted = false }", " }"), "counted"),
            (
                good.replace("booklet = \"social\"", "booklet = \"poetry\""),
                "无法解析",
            ),
            ("not toml at all [[".to_owned(), "无法解析"),
        ] {
            let e = Definition::parse(&bad).unwrap_err();
            assert!(e.message.contains(words), "{}", e.message);
        }
    }

    #[test]
    fn answers_need_every_item_and_only_known_fields_and_codes() {
        let d = social();
        let all: Vec<(String, String)> =
            d.items.iter().map(|i| (i.id.clone(), "A".into())).collect();
        let fields = |extra: &[(&str, &str)], skip: usize| {
            let mut v: Vec<(String, String)> = all.iter().skip(skip).cloned().collect();
            v.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            v
        };
        let ok = fields(&[("comment", " 很好 ")], 0);
        let answers = d
            .parse_answers(ok.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .unwrap();
        assert_eq!(answers.comment.as_deref(), Some("很好"));
        assert!(answers.straight_lined());

        let missing = fields(&[], 2);
        let e = d
            .parse_answers(missing.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .unwrap_err();
        assert_eq!(e.missing, vec!["S01", "S02"]);
        assert!(!e.is_tampered());
        assert_eq!(e.partial[2], Some(0));

        let unknown_code = fields(&[("S01", "Z")], 1);
        let e = d
            .parse_answers(unknown_code.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .unwrap_err();
        assert!(e.is_tampered());
        let unknown_field = fields(&[("admin", "1")], 0);
        assert!(
            d.parse_answers(unknown_field.iter().map(|(a, b)| (a.as_str(), b.as_str())))
                .unwrap_err()
                .is_tampered()
        );
        let long = "长".repeat(501);
        let too_long = fields(&[("comment", long.as_str())], 0);
        assert!(
            d.parse_answers(too_long.iter().map(|(a, b)| (a.as_str(), b.as_str())))
                .unwrap_err()
                .comment_too_long
        );
    }

    #[test]
    fn too_fast_means_under_two_seconds_an_item() {
        let d = social();
        assert!(d.too_fast(19));
        assert!(!d.too_fast(30));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn loading_any_text_as_a_definition_never_panics(text in "\\PC{0,400}") {
            let _ = Definition::parse(&text);
        }

        #[test]
        fn mutated_definitions_never_panic(cut in 0usize..2000, insert in "[\\[\\]{}=\"a-z0-9 \\n]{0,20}") {
            let base = BUILT_IN[0];
            let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
            let text = format!("{}{insert}{}", &base[..at], &base[at..]);
            let _ = Definition::parse(&text);
        }

        #[test]
        fn any_form_fields_give_answers_or_errors(
            fields in proptest::collection::vec(("[A-Z0-9_a-z]{0,6}", "\\PC{0,8}"), 0..40)
        ) {
            let d = Definition::parse(BUILT_IN[0]).unwrap();
            let _ = d.parse_answers(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
    }

    #[test]
    fn language_tags_and_their_direction() {
        for good in [
            "ug",
            "bo",
            "ii",
            "mn-Mong",
            "ko-KR",
            "za",
            "ug-Latn",
            "ug-Arab-CN",
        ] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in [
            "",
            "u",
            "UG",
            "uyghur",
            "ug_CN",
            "ug-",
            "ug-x",
            "<b>",
            "ug-Arab-toolongsubtag",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
        assert!(is_right_to_left("ug") && is_right_to_left("ug-Arab"));
        assert!(!is_right_to_left("ug-Latn") && !is_right_to_left("bo") && !is_right_to_left("mn"));
    }

    #[test]
    fn a_translation_must_be_whole_and_of_this_booklet() {
        let mut d = Definition::parse(BUILT_IN[0]).unwrap();
        let whole = Translation {
            language: "ئۇيغۇرچە".into(),
            title: "t".into(),
            intro: "i".into(),
            comment_prompt: "c".into(),
            options: d
                .scale
                .options
                .iter()
                .map(|o| (o.code.clone(), format!("o{}", o.code)))
                .collect(),
            items: d
                .items
                .iter()
                .map(|i| (i.id.clone(), format!("q{}", i.id)))
                .collect(),
        };
        d.translations.insert("ug".into(), whole.clone());
        assert!(d.check().is_ok());
        let texts = d.texts(Some("ug"));
        assert_eq!(
            (texts.lang, texts.dir, texts.items[0]),
            ("ug", "rtl", "qS01")
        );
        assert_eq!(
            d.texts(Some("bo")).lang,
            SOURCE_LANGUAGE,
            "a language it lacks: Chinese"
        );
        let mut short = whole.clone();
        short.items.remove("S07");
        d.translations.insert("ug".into(), short);
        assert!(d.check().unwrap_err().message.contains("缺少题目“S07”"));
        let mut extra = whole.clone();
        extra.items.insert("S99".into(), "x".into());
        d.translations.insert("ug".into(), extra);
        assert!(d.check().unwrap_err().message.contains("S99"));
        let mut reordering = whole.clone();
        reordering.items.insert("S02".into(), "\u{202E}abc".into());
        d.translations.insert("ug".into(), reordering);
        assert!(d.check().unwrap_err().message.contains("改变文字方向"));
        let mut invisible = whole.clone();
        invisible.title = " \u{200B} ".into();
        d.translations.insert("ug".into(), invisible);
        assert!(d.check().unwrap_err().message.contains("不能为空"));
        d.translations.clear();
        d.items[0].text = "满意吗\u{7}".into();
        assert!(d.check().unwrap_err().message.contains("控制字符"));
        d.items[0].text = "满意吗".into();
        d.translations.insert("zh-TW".into(), whole);
        assert!(d.check().is_err(), "Chinese is the booklet's own language");
    }
}
