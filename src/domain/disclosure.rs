//! Disclosure control (SPEC.md "Disclosure control"): what Renke keeps and shows must not tell
//! who answered. This part masks what a respondent may type about themselves into a comment —
//! a mobile number, an ID-card number, an e-mail address — before the comment is stored.
use regex::Regex;
use std::sync::LazyLock;

/// What takes the place of each kind of masked text.
pub const MOBILE_MASK: &str = "[手机号已隐去]";
pub const ID_CARD_MASK: &str = "[身份证号已隐去]";
pub const EMAIL_MASK: &str = "[邮箱已隐去]";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+\s*(?:@|＠)\s*[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("e-mail pattern")
});

/// A run of digits (ASCII or full-width) with the spaces, dashes and a leading + people put
/// between them, ending in a digit or an ID card's X.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?[0-9０-９](?:[0-9０-９ \-－—]*[0-9０-９Xx])?").expect("number pattern")
});

/// The digits of a run, full-width ones as ASCII, an X kept.
fn digits(run: &str) -> String {
    run.chars()
        .filter_map(|c| match c {
            '0'..='9' | 'X' | 'x' => Some(c.to_ascii_uppercase()),
            '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
            _ => None,
        })
        .collect()
}

fn is_mobile(d: &str) -> bool {
    let d = d.strip_prefix("86").filter(|r| r.len() == 11).unwrap_or(d);
    d.len() == 11
        && d.starts_with('1')
        && matches!(d.as_bytes()[1], b'3'..=b'9')
        && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_id_card(d: &str) -> bool {
    let (body, last) = d.split_at(d.len().saturating_sub(1));
    match d.len() {
        18 => {
            body.bytes().all(|b| b.is_ascii_digit())
                && (last == "X" || last.bytes().all(|b| b.is_ascii_digit()))
        }
        15 => d.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// The comment with every mobile number, ID-card number and e-mail address replaced by a
/// mark saying what was there.
pub fn mask_personal(text: &str) -> String {
    let text = EMAIL.replace_all(text, EMAIL_MASK);
    NUMBER
        .replace_all(&text, |c: &regex::Captures<'_>| {
            let run = &c[0];
            let d = digits(run);
            if is_mobile(&d) {
                MOBILE_MASK.to_owned()
            } else if is_id_card(&d) {
                ID_CARD_MASK.to_owned()
            } else {
                run.to_owned()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_id_numbers_and_e_mail_are_masked() {
        assert_eq!(
            mask_personal("请联系我 13800138000，谢谢"),
            "请联系我 [手机号已隐去]，谢谢"
        );
        assert_eq!(mask_personal("电话：138 0013 8000"), "电话：[手机号已隐去]");
        assert_eq!(mask_personal("+86 139-1234-5678"), "[手机号已隐去]");
        assert_eq!(mask_personal("１３９１２３４５６７８"), "[手机号已隐去]");
        assert_eq!(
            mask_personal("身份证 11010519491231002X 号"),
            "身份证 [身份证号已隐去] 号"
        );
        assert_eq!(
            mask_personal("老证 110105491231002"),
            "老证 [身份证号已隐去]"
        );
        assert_eq!(
            mask_personal("邮箱 zhang.san@example.com。"),
            "邮箱 [邮箱已隐去]。"
        );
        assert_eq!(mask_personal("写信给 li_si＠qq.com"), "写信给 [邮箱已隐去]");
    }

    #[test]
    fn other_numbers_and_text_stay() {
        for text in [
            "2023 年 10 月，班额 45 人",
            "希望减少作业，3-4 年级尤其",
            "学校电话 0571-88888888",
            "共 12345678901234567 元",
            "",
        ] {
            assert_eq!(mask_personal(text), text);
        }
    }
}
