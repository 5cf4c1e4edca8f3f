//! Disclosure control (SPEC.md "Disclosure control"): what Renke keeps and shows must not tell
//! who answered. Here: masking what a respondent may type about themselves into a comment — a
//! mobile number, an ID-card number, an e-mail address — before it is stored; and coarsening
//! the response-level export so that every combination of what could identify someone (group,
//! area, school, grade band) covers at least [`K`] responses.
use super::geography::AreaScope;
use super::group::RespondentGroup;
use super::response::Mode;
use super::strata::{AreaClass, Band};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// No figure and no combination of a response-level file rests on fewer respondents.
pub const K: i64 = 5;

/// Where a response stands: the finest cell the tally keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub school: Option<i32>,
    pub band: Option<Band>,
}

/// How much of a response's cell its exported row shows, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shown {
    /// Group, area, school and band.
    Full,
    /// Group, area and band (the school left blank).
    AreaBand,
    /// Group and area.
    Area,
    /// Group and area class.
    Class,
    /// The group alone.
    Group,
    /// Not in the file: its group has fewer than K responses.
    Withheld,
}

impl Shown {
    const LADDER: [Shown; 5] = [
        Shown::Full,
        Shown::AreaBand,
        Shown::Area,
        Shown::Class,
        Shown::Group,
    ];

    /// The key the cell shows under this level (what its row's quasi-identifiers read).
    pub fn key(self, c: &Cell, class: Option<AreaClass>) -> ShownKey {
        let area = |a: AreaScope| a.area().map_or(-1, i64::from);
        let class_code = |c: Option<AreaClass>| c.map_or(-1, |c| c as i64);
        match self {
            Shown::Full => (c.group, 0, area(c.area), c.school, c.band),
            Shown::AreaBand => (c.group, 1, area(c.area), None, c.band),
            Shown::Area => (c.group, 2, area(c.area), None, None),
            Shown::Class => (c.group, 3, class_code(class), None, None),
            Shown::Group | Shown::Withheld => (c.group, 4, 0, None, None),
        }
    }

    pub fn school(self) -> bool {
        self == Shown::Full
    }

    pub fn band(self) -> bool {
        matches!(self, Shown::Full | Shown::AreaBand)
    }

    pub fn area(self) -> bool {
        matches!(self, Shown::Full | Shown::AreaBand | Shown::Area)
    }

    pub fn class(self) -> bool {
        self != Shown::Group && self != Shown::Withheld
    }
}

/// For every cell with responses, how much of it the export shows: each cell is shown as finely
/// as it can be while the responses sharing what its rows read number at least [`K`]; cells
/// still under K together at one level go one level coarser. Two rows that read the same
/// always come from groups of at least K each, so every combination in the file covers K.
/// A row's quasi-identifiers as the file shows them (see [`Shown`]).
pub type ShownKey = (RespondentGroup, u8, i64, Option<i32>, Option<Band>);

/// The shown keys whose rows may also say how they were answered (网络 / 电话 / 纸质): those
/// where every way present covers at least K responses. Elsewhere the column stays blank for
/// every row of the key, so a blank says nothing about which row is the rare one.
pub fn modes_shown(
    counts: &BTreeMap<(Cell, Mode), i64>,
    shown: &BTreeMap<Cell, Shown>,
    class_of: impl Fn(AreaScope) -> Option<AreaClass>,
) -> std::collections::BTreeSet<ShownKey> {
    let mut by_key: BTreeMap<ShownKey, BTreeMap<Mode, i64>> = BTreeMap::new();
    for ((cell, mode), n) in counts {
        let Some(level) = shown.get(cell).filter(|s| **s != Shown::Withheld) else {
            continue;
        };
        let key = level.key(cell, class_of(cell.area));
        *by_key.entry(key).or_default().entry(*mode).or_default() += n;
    }
    by_key
        .into_iter()
        .filter(|(_, modes)| modes.values().all(|n| *n == 0 || *n >= K))
        .map(|(k, _)| k)
        .collect()
}

pub fn coarsen(
    counts: &BTreeMap<Cell, i64>,
    class_of: impl Fn(AreaScope) -> Option<AreaClass>,
) -> BTreeMap<Cell, Shown> {
    let mut out = BTreeMap::new();
    let mut pending: Vec<(Cell, i64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (*c, *n))
        .collect();
    for level in Shown::LADDER {
        let mut together: BTreeMap<_, i64> = BTreeMap::new();
        for (c, n) in &pending {
            *together.entry(level.key(c, class_of(c.area))).or_default() += n;
        }
        pending.retain(|(c, _)| {
            let enough = together[&level.key(c, class_of(c.area))] >= K;
            if enough {
                out.insert(*c, level);
            }
            !enough
        });
    }
    for (c, _) in pending {
        out.insert(c, Shown::Withheld);
    }
    out
}

/// Complementary suppression within one breakdown whose parts the reader can add up (to a
/// total shown elsewhere, or to what other breakdowns show): `sizes` are the parts'
/// respondents, `hidden` says which are already hidden. A part under [`K`] is hidden; then, while
/// the hidden parts together hold fewer than K (so the total minus the shown parts would give
/// them back), the smallest part still shown is hidden too. Empty parts have nothing to hide.
/// Returns whether anything more was hidden.
pub fn complement(sizes: &[i64], hidden: &mut [bool]) -> bool {
    let mut changed = false;
    for (h, &n) in hidden.iter_mut().zip(sizes) {
        if n > 0 && n < K && !*h {
            *h = true;
            changed = true;
        }
    }
    loop {
        let together: i64 = sizes
            .iter()
            .zip(hidden.iter())
            .filter(|(_, h)| **h)
            .map(|(n, _)| *n)
            .sum();
        if together == 0 || together >= K {
            return changed;
        }
        let smallest = (0..sizes.len())
            .filter(|&i| !hidden[i] && sizes[i] > 0)
            .min_by_key(|&i| (sizes[i], i));
        match smallest {
            Some(i) => {
                hidden[i] = true;
                changed = true;
            }
            None => return changed,
        }
    }
}

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
    half_width_digits(run)
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The text with digits typed with a Chinese input method (０–９) as ASCII ones.
pub fn half_width_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            c => c,
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
    fn small_cells_are_shown_coarser_until_each_combination_holds_five() {
        let p = RespondentGroup::Principal;
        let cell = |area: i32, school: Option<i32>| Cell {
            group: p,
            area: AreaScope::Area(area),
            school,
            band: None,
        };
        let class = |a: AreaScope| match a.area() {
            Some(1 | 2) => Some(AreaClass::Urban),
            _ => Some(AreaClass::Rural),
        };
        // Area 1: a school with 6 principals, one with a lone principal, one with 3; area 2: 2;
        // area 3: 1; a lone teacher.
        let counts: BTreeMap<Cell, i64> = [
            (cell(1, Some(10)), 6),
            (cell(1, Some(11)), 1),
            (cell(1, Some(12)), 3),
            (cell(2, Some(20)), 2),
            (cell(3, Some(30)), 1),
        ]
        .into_iter()
        .chain([(
            Cell {
                group: RespondentGroup::Teacher,
                area: AreaScope::Area(1),
                school: Some(10),
                band: None,
            },
            1,
        )])
        .collect();
        let shown = coarsen(&counts, class);
        assert_eq!(shown[&cell(1, Some(10))], Shown::Full);
        // The lone one and the three go together under their area's name (4: not enough),
        // then with area 2's two under 城区 (6).
        assert_eq!(shown[&cell(1, Some(11))], Shown::Class);
        assert_eq!(shown[&cell(1, Some(12))], Shown::Class);
        assert_eq!(shown[&cell(2, Some(20))], Shown::Class);
        // Area 3's lone principal is shown as a principal only, with the… nobody else: withheld.
        assert_eq!(shown[&cell(3, Some(30))], Shown::Withheld);
        assert_eq!(
            shown[&Cell {
                group: RespondentGroup::Teacher,
                area: AreaScope::Area(1),
                school: Some(10),
                band: None
            }],
            Shown::Withheld
        );
    }

    #[test]
    fn a_lone_hidden_part_takes_the_smallest_other_with_it() {
        // The staff booklet: 12 teachers and one principal; the principal alone would be the
        // booklet minus the teachers.
        let mut hidden = vec![false, false];
        assert!(complement(&[12, 1], &mut hidden));
        assert_eq!(hidden, vec![true, true]);
        // Two small parts that hold five together hide only themselves.
        let mut hidden = vec![false; 4];
        complement(&[3, 2, 40, 9], &mut hidden);
        assert_eq!(hidden, vec![true, true, false, false]);
        // One small part and the next smallest (not the empty one) go together.
        let mut hidden = vec![false; 4];
        complement(&[0, 2, 40, 9], &mut hidden);
        assert_eq!(hidden, vec![false, true, false, true]);
        // Nothing small: nothing hidden.
        let mut hidden = vec![false; 3];
        assert!(!complement(&[5, 0, 7], &mut hidden));
        assert_eq!(hidden, vec![false; 3]);
    }

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
