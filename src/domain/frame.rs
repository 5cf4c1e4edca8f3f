//! Sampling frames: the rosters an organiser uploads, one per group, as CSV.
//!
//! A roster is UTF-8 (with or without BOM) or GBK as Excel saves it in China. Every bad row is
//! reported by line number and reason; a roster with any error is refused whole.
use super::group::RespondentGroup;
use super::strata::{Area, StrataError, band_of};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// At most this many errors are listed (the count says how many there were in all).
pub const MAX_LISTED_ERRORS: usize = 200;
/// The largest roster accepted, in rows.
pub const MAX_ROWS: usize = 2_000_000;

/// A school of the county, in one of its areas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    pub name: String,
    /// Index into the county's areas.
    pub area: usize,
}

impl School {
    pub fn new(name: &str, area: usize) -> Result<School, StrataError> {
        let name = name.trim();
        let n = name.chars().count();
        if n == 0 || n > 100 || name.chars().any(char::is_control) {
            return Err(StrataError::new("name", "学校名称须为 1–100 个字符"));
        }
        Ok(School {
            name: name.to_owned(),
            area,
        })
    }
}

/// Checks a county's list of schools: names unique.
pub fn check_schools(schools: &[School]) -> Result<(), StrataError> {
    if schools.len() > 5_000 {
        return Err(StrataError::new("schools", "学校不能超过 5000 所"));
    }
    for (i, s) in schools.iter().enumerate() {
        if schools[..i].iter().any(|o| o.name == s.name) {
            return Err(StrataError::new("name", format!("学校“{}”重复", s.name)));
        }
    }
    Ok(())
}

/// One person of a roster, checked against the county's areas and schools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// Line in the file (the header is line 1).
    pub line: u64,
    pub external_id: String,
    pub area: usize,
    pub school: Option<usize>,
    pub grade: Option<u8>,
    pub name: Option<String>,
    /// Digits only, without a +86 prefix.
    pub phone: Option<String>,
}

/// A person of a stored roster. Personal data: never logged, purged on request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i32,
    pub group: RespondentGroup,
    pub external_id: String,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub grade: Option<u8>,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Its line in the uploaded file.
    pub line: u64,
}

impl Person {
    /// The phone as organisers may see it: all but the first three and last four digits masked.
    pub fn masked_phone(&self) -> Option<String> {
        self.phone.as_deref().map(|ph| {
            let n = ph.chars().count();
            ph.chars()
                .enumerate()
                .map(|(i, c)| if i >= 3 && i + 4 < n { '*' } else { c })
                .collect()
        })
    }
}

/// Why a line of a roster was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub column: Option<&'static str>,
    pub message: String,
}

/// A refused roster: the listed errors and how many there were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterErrors {
    pub total: usize,
    pub errors: Vec<RowError>,
}

impl RosterErrors {
    fn one(line: u64, column: Option<&'static str>, message: impl Into<String>) -> Self {
        RosterErrors {
            total: 1,
            errors: vec![RowError {
                line,
                column,
                message: message.into(),
            }],
        }
    }
}

/// Decodes a roster file: UTF-8 (a BOM is dropped), else GBK/GB18030 as Excel writes it.
pub fn decode(bytes: &[u8]) -> Result<String, RosterErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
    if had_errors {
        return Err(RosterErrors::one(
            1,
            None,
            "文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV",
        ));
    }
    Ok(text.into_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Area,
    School,
    Grade,
    Name,
    Phone,
}

impl Column {
    fn code(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Area => "area",
            Column::School => "school",
            Column::Grade => "grade",
            Column::Name => "name",
            Column::Phone => "phone",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Column::Id => "编号",
            Column::Area => "乡镇",
            Column::School => "学校",
            Column::Grade => "年级",
            Column::Name => "姓名",
            Column::Phone => "电话",
        }
    }

    fn from_header(h: &str) -> Option<Column> {
        let h = h.trim().trim_start_matches('\u{feff}').to_lowercase();
        Some(match h.as_str() {
            "id" | "编号" | "序号编号" => Column::Id,
            "area" | "乡镇" | "街道" | "乡镇街道" | "乡镇（街道）" | "乡镇(街道)" => {
                Column::Area
            }
            "school" | "学校" => Column::School,
            "grade" | "年级" => Column::Grade,
            "name" | "姓名" => Column::Name,
            "phone" | "电话" | "手机" | "手机号" | "手机号码" | "电话号码" | "联系电话" => {
                Column::Phone
            }
            _ => return None,
        })
    }
}

fn needs_school(group: RespondentGroup) -> bool {
    matches!(
        group,
        RespondentGroup::Parent
            | RespondentGroup::Student
            | RespondentGroup::Teacher
            | RespondentGroup::Principal
    )
}

fn needs_grade(group: RespondentGroup) -> bool {
    matches!(group, RespondentGroup::Parent | RespondentGroup::Student)
}

/// Normalises a phone number as `renke-draw-v2`'s frame line writes it: its digits (spaces,
/// hyphens and brackets dropped, a `+` allowed in front), without one leading 86 country code;
/// `None` when it is not a phone number.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let kept: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '\u{3000}'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = digits.strip_prefix("86").unwrap_or(digits);
    (5..=20).contains(&digits.len()).then(|| digits.to_owned())
}

fn parse_grade(raw: &str) -> Option<u8> {
    let s = raw.trim().trim_end_matches("年级").trim();
    let g = match s {
        "一" => 1,
        "二" => 2,
        "三" => 3,
        "四" => 4,
        "五" => 5,
        "六" => 6,
        "七" | "初一" => 7,
        "八" | "初二" => 8,
        "九" | "初三" => 9,
        _ => s.parse().ok()?,
    };
    (1..=9).contains(&g).then_some(g)
}

#[derive(Default)]
struct ErrorList {
    total: usize,
    listed: Vec<RowError>,
}

impl ErrorList {
    fn push(&mut self, line: u64, column: Option<Column>, message: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(RowError {
                line,
                column: column.map(Column::code),
                message,
            });
        }
    }
}

/// Parses and checks a group's roster against the county's areas and schools.
pub fn parse_roster(
    group: RespondentGroup,
    text: &str,
    areas: &[Area],
    schools: &[School],
) -> Result<Vec<RosterRow>, RosterErrors> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(RosterErrors::one(1, None, format!("表头无法读取：{e}"))),
        None => return Err(RosterErrors::one(1, None, "文件是空的")),
    };
    let mut columns: Vec<Option<Column>> = Vec::new();
    for h in header.iter() {
        let c = Column::from_header(h);
        if let Some(c) = c
            && columns.contains(&Some(c))
        {
            return Err(RosterErrors::one(
                1,
                Some(c.code()),
                format!("表头“{}”出现了两次", c.label()),
            ));
        }
        columns.push(c);
    }
    let mut required = vec![Column::Id, Column::Area];
    if needs_school(group) {
        required.push(Column::School);
    }
    if needs_grade(group) {
        required.push(Column::Grade);
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|c| !columns.contains(&Some(**c)))
        .map(|c| c.label())
        .collect();
    if !missing.is_empty() {
        return Err(RosterErrors::one(
            1,
            None,
            format!(
                "{}名册缺少列：{}（表头可用中文或 id/area/school/grade/name/phone）",
                group.label(),
                missing.join("、")
            ),
        ));
    }

    let area_index: HashMap<&str, usize> = areas
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let school_index: HashMap<&str, usize> = schools
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = Vec::new();
    let mut errors = ErrorList::default();

    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(line, None, format!("这一行无法读取：{e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            errors.push(line, None, format!("名册不能超过 {MAX_ROWS} 行"));
            break;
        }
        let get = |c: Column| {
            columns
                .iter()
                .position(|x| *x == Some(c))
                .and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let before = errors.total;
        let external_id = match get(Column::Id) {
            None => {
                errors.push(line, Some(Column::Id), "缺少编号".into());
                String::new()
            }
            Some(id) if id.chars().count() > 64 => {
                errors.push(line, Some(Column::Id), "编号不能超过 64 个字符".into());
                String::new()
            }
            Some(id) if id.chars().any(char::is_control) => {
                errors.push(line, Some(Column::Id), "编号不能含控制字符".into());
                String::new()
            }
            Some(id) => {
                if let Some(first) = seen.get(id) {
                    errors.push(
                        line,
                        Some(Column::Id),
                        format!("编号“{id}”与第 {first} 行重复"),
                    );
                } else {
                    seen.insert(id.to_owned(), line);
                }
                id.to_owned()
            }
        };
        let area = match get(Column::Area) {
            None => {
                errors.push(line, Some(Column::Area), "缺少乡镇（街道）".into());
                None
            }
            Some(a) => match area_index.get(a) {
                Some(&i) => Some(i),
                None => {
                    errors.push(
                        line,
                        Some(Column::Area),
                        format!("没有名为“{a}”的乡镇（街道）"),
                    );
                    None
                }
            },
        };
        let school = match get(Column::School) {
            None if needs_school(group) => {
                errors.push(line, Some(Column::School), "缺少学校".into());
                None
            }
            None => None,
            Some(s) => match school_index.get(s) {
                Some(&i) => {
                    if let Some(a) = area
                        && schools[i].area != a
                    {
                        errors.push(
                            line,
                            Some(Column::School),
                            format!("学校“{s}”不在该乡镇（街道）"),
                        );
                    }
                    Some(i)
                }
                None => {
                    errors.push(line, Some(Column::School), format!("没有名为“{s}”的学校"));
                    None
                }
            },
        };
        let grade = match get(Column::Grade) {
            None if needs_grade(group) => {
                errors.push(line, Some(Column::Grade), "缺少年级".into());
                None
            }
            None => None,
            Some(g) => match parse_grade(g) {
                Some(g) if needs_grade(group) && band_of(group, g).is_none() => {
                    errors.push(
                        line,
                        Some(Column::Grade),
                        "学生问卷面向三年级及以上，年级须为 3–9".into(),
                    );
                    None
                }
                Some(g) => Some(g),
                None => {
                    errors.push(
                        line,
                        Some(Column::Grade),
                        format!("年级“{g}”无效，须为 1–9 的整数"),
                    );
                    None
                }
            },
        };
        let name = match get(Column::Name) {
            Some(n) if n.chars().count() > 50 => {
                errors.push(line, Some(Column::Name), "姓名不能超过 50 个字符".into());
                None
            }
            n => n.map(str::to_owned),
        };
        let phone = match get(Column::Phone) {
            None => None,
            Some(p) => match normalize_phone(p) {
                Some(p) => Some(p),
                None => {
                    errors.push(line, Some(Column::Phone), "电话号码无效".into());
                    None
                }
            },
        };
        if errors.total == before
            && let Some(area) = area
        {
            rows.push(RosterRow {
                line,
                external_id,
                area,
                school,
                grade,
                name,
                phone,
            });
        }
    }
    if errors.total > 0 {
        return Err(RosterErrors {
            total: errors.total,
            errors: errors.listed,
        });
    }
    if rows.is_empty() {
        return Err(RosterErrors::one(2, None, "名册中没有任何人"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::strata::AreaClass;

    fn county() -> (Vec<Area>, Vec<School>) {
        let areas = vec![
            Area::new("城关镇", AreaClass::Urban, 100).unwrap(),
            Area::new("桥头镇", AreaClass::Town, 50).unwrap(),
        ];
        let schools = vec![
            School::new("城关一小", 0).unwrap(),
            School::new("桥头中学", 1).unwrap(),
        ];
        (areas, schools)
    }

    #[test]
    fn a_good_roster_parses_with_chinese_or_english_headers() {
        let (areas, schools) = county();
        let text = "编号,乡镇,学校,年级,姓名,电话\ns1,城关镇,城关一小,3,张三,138-0000-0001\ns2,桥头镇,桥头中学,初二,李四,+8613800000002\n";
        let rows = parse_roster(RespondentGroup::Student, text, &areas, &schools).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].grade, Some(8));
        assert_eq!(rows[1].phone.as_deref(), Some("13800000002"));
        assert_eq!(rows[1].line, 3);
        let text = "id,area,name\nd1,城关镇,王五\n";
        assert_eq!(
            parse_roster(RespondentGroup::NpcDeputy, text, &areas, &schools)
                .unwrap()
                .len(),
            1
        );
        // Phones as the draw's frame line writes them: digits, one leading 86 dropped.
        for (raw, stored) in [
            ("+86 138-0000-0001", Some("13800000001")),
            ("8613800000001", Some("13800000001")),
            ("+86 86 1380000", Some("861380000")),
            ("(0351) 123-4567", Some("03511234567")),
            ("0086 13800000001", Some("008613800000001")),
            ("138+0000", None),
            ("１３８", None),
        ] {
            assert_eq!(normalize_phone(raw).as_deref(), stored, "{raw}");
        }
        // The phone column under the names Excel sheets give it (else phones would be lost
        // silently and shared phones no longer skipped by the draw).
        for header in ["手机号码", "联系电话", "电话号码"] {
            let text = format!("编号,乡镇,{header}\nd1,城关镇,13800000003\n");
            let rows = parse_roster(RespondentGroup::NpcDeputy, &text, &areas, &schools).unwrap();
            assert_eq!(rows[0].phone.as_deref(), Some("13800000003"), "{header}");
        }
    }

    #[test]
    fn every_bad_row_is_reported_by_line_and_reason() {
        let (areas, schools) = county();
        let text = "编号,乡镇,学校,年级\ns1,城关镇,城关一小,3\ns1,城关镇,城关一小,4\ns3,北山镇,城关一小,3\ns4,城关镇,桥头中学,3\ns5,城关镇,城关一小,2\ns6,城关镇,城关一小,十\n,城关镇,城关一小,5\n";
        let err = parse_roster(RespondentGroup::Student, text, &areas, &schools).unwrap_err();
        let lines: Vec<(u64, Option<&str>)> =
            err.errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            lines,
            vec![
                (3, Some("id")),
                (4, Some("area")),
                (5, Some("school")),
                (6, Some("grade")),
                (7, Some("grade")),
                (8, Some("id")),
            ]
        );
        assert!(err.errors[0].message.contains("第 2 行"));
    }

    #[test]
    fn missing_columns_are_named() {
        let (areas, schools) = county();
        let err = parse_roster(
            RespondentGroup::Parent,
            "编号,乡镇\np1,城关镇\n",
            &areas,
            &schools,
        )
        .unwrap_err();
        assert!(err.errors[0].message.contains("学校、年级"), "{:?}", err);
    }

    #[test]
    fn gbk_and_bom_files_decode() {
        let (gbk, _, _) = encoding_rs::GBK.encode("编号,乡镇\nc1,城关镇\n");
        let text = decode(&gbk).unwrap();
        assert!(text.starts_with("编号"));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("编号,乡镇\n".as_bytes());
        assert!(decode(&bom).unwrap().starts_with("编号"));
        assert!(decode(&[0x81, 0x20, 0xff, 0xfe]).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::domain::strata::AreaClass;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Any bytes (broken GBK, stray quotes, huge fields) give rows or errors, never a panic.
        #[test]
        fn roster_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let areas = vec![Area::new("城关镇", AreaClass::Urban, 100).unwrap()];
            let schools = vec![School::new("城关一小", 0).unwrap()];
            if let Ok(text) = decode(&bytes) {
                for g in RespondentGroup::ALL {
                    let _ = parse_roster(g, &text, &areas, &schools);
                }
            }
        }

        #[test]
        fn roster_like_text_never_panics(
            lines in proptest::collection::vec("[编号乡镇学校年级,\"a-z0-9城关镇一小 \\t\\r]{0,60}", 0..40)
        ) {
            let areas = vec![Area::new("城关镇", AreaClass::Urban, 100).unwrap()];
            let schools = vec![School::new("城关一小", 0).unwrap()];
            let text = format!("编号,乡镇,学校,年级\n{}", lines.join("\n"));
            let _ = parse_roster(RespondentGroup::Student, &text, &areas, &schools);
        }
    }

    #[test]
    fn a_one_megabyte_line_is_an_error_not_a_crash() {
        let areas = vec![Area::new("城关镇", AreaClass::Urban, 100).unwrap()];
        let text = format!("编号,乡镇\n{},城关镇\n", "x".repeat(1 << 20));
        let err = parse_roster(RespondentGroup::Public, &text, &areas, &[]).unwrap_err();
        assert_eq!(err.errors[0].column, Some("id"));
    }
}
