//! Sampling frames: the rosters an organiser uploads, one per group, as CSV or XLSX.
//!
//! A CSV roster is UTF-8 (with or without BOM) or GBK as Excel saves it in China. Headers are
//! read under the names county sheets give them (家长姓名, 联系电话, 学校名称, 学号 …); a column
//! Renke does not use is reported, never dropped silently. Every bad row is reported by line
//! number and reason; a roster with any error is refused whole.
use super::group::RespondentGroup;
use super::strata::{Area, StrataError, band_of};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// At most this many errors are listed (the count says how many there were in all).
pub const MAX_LISTED_ERRORS: usize = 200;
/// The largest roster accepted, in rows.
pub const MAX_ROWS: usize = 2_000_000;
/// The most columns a roster's header may have (as a workbook's sheet may).
pub const MAX_COLUMNS: usize = 64;

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
    /// The class as written (2班, (3)班), from a 班级 column or the grade (3年级2班).
    pub class: Option<String>,
    pub name: Option<String>,
    /// Digits only, without a +86 prefix.
    pub phone: Option<String>,
}

/// A checked roster: its people, the columns of the file Renke did not read, and what suggests
/// it was meant for another group (shown with the upload's result, not refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub rows: Vec<RosterRow>,
    pub ignored_columns: Vec<String>,
    pub warnings: Vec<String>,
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
    /// The class as the roster wrote it.
    pub class: Option<String>,
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
    /// The column's code (`phone`), for programs.
    pub column: Option<&'static str>,
    /// The column as the file heads it (联系电话), or its Chinese name where the file has none.
    pub heading: Option<String>,
    pub message: String,
}

/// A refused roster: the listed errors and how many there were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterErrors {
    pub total: usize,
    pub errors: Vec<RowError>,
}

impl RosterErrors {
    /// A file in neither UTF-8 nor GBK.
    pub fn unrecognised_encoding() -> Self {
        RosterErrors::one(
            1,
            None,
            "文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV",
        )
    }

    fn one(line: u64, column: Option<&'static str>, message: impl Into<String>) -> Self {
        RosterErrors {
            total: 1,
            errors: vec![RowError {
                line,
                column,
                heading: None,
                message: message.into(),
            }],
        }
    }
}

/// Decodes a roster file: UTF-8 (a BOM is dropped), else GBK/GB18030 as Excel writes it.
pub fn decode(bytes: &[u8]) -> Result<String, RosterErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => decode_gbk(bytes),
    }
}

fn decode_gbk(bytes: &[u8]) -> Result<String, RosterErrors> {
    let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
    if had_errors {
        return Err(RosterErrors::unrecognised_encoding());
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
    Class,
}

impl Column {
    /// Every column, in declaration order (`c as usize` is its place here).
    const ALL: [Column; 7] = [
        Column::Id,
        Column::Area,
        Column::School,
        Column::Grade,
        Column::Name,
        Column::Phone,
        Column::Class,
    ];

    fn code(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Area => "area",
            Column::School => "school",
            Column::Grade => "grade",
            Column::Name => "name",
            Column::Phone => "phone",
            Column::Class => "class",
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
            Column::Class => "班级",
        }
    }

    /// The column a header names in a group's roster, and how strongly: a 序号 is an id only
    /// where there is no 编号 or 学号, and of 学生姓名 and 家长姓名 in a parents' roster the
    /// parent's is read.
    fn from_header(group: RespondentGroup, h: &str) -> Option<(Column, u8)> {
        let h: String = h
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let exact =
            match h.as_str() {
                "id" | "编号" | "序号编号" | "学号" | "工号" | "人员编号" | "代表编号"
                | "委员编号" => Some((Column::Id, 3)),
                "序号" | "no" | "no." => Some((Column::Id, 1)),
                "area" | "乡镇" | "街道" | "乡镇街道" | "乡镇（街道）" | "乡镇(街道)"
                | "乡镇/街道" => Some((Column::Area, 3)),
                "school" | "学校" | "学校名称" | "所在学校" | "就读学校" | "任教学校" => {
                    Some((Column::School, 3))
                }
                "grade" | "年级" | "所在年级" | "就读年级" => Some((Column::Grade, 3)),
                "class" | "班级" | "班" | "所在班级" => Some((Column::Class, 3)),
                "name" | "姓名" => Some((Column::Name, 3)),
                "phone" | "电话" | "手机" | "手机号" | "手机号码" | "电话号码" | "联系电话"
                | "联系方式" => Some((Column::Phone, 3)),
                _ => None,
            };
        if exact.is_some() {
            return exact;
        }
        // As county sheets word them: 家长姓名, 所在乡镇/街道, 家长手机号 …; a heading naming
        // the group's own people outranks another's.
        let has = |w: &str| h.contains(w);
        let own = if group_words(group).iter().any(|w| has(w)) {
            2
        } else {
            1
        };
        if has("身份证") {
            None
        } else if has("手机") || has("电话") {
            Some((Column::Phone, own))
        } else if has("姓名") {
            Some((Column::Name, own))
        } else if has("乡镇") || has("街道") {
            Some((Column::Area, 1))
        } else if has("学校") {
            Some((Column::School, 1))
        } else if has("年级") {
            Some((Column::Grade, 1))
        } else if has("班级") {
            Some((Column::Class, 1))
        } else {
            None
        }
    }
}

/// The columns of a group's roster template, in Chinese, as its header is written.
pub fn template_columns(group: RespondentGroup) -> Vec<&'static str> {
    let mut columns = vec!["编号", "乡镇"];
    if needs_school(group) {
        columns.push("学校");
    }
    if needs_grade(group) {
        columns.extend(["年级", "班级"]);
    }
    columns.extend(["姓名", "电话"]);
    columns
}

/// Two example rows of a group's template, with the county's own first area and school.
pub fn template_rows(
    group: RespondentGroup,
    areas: &[Area],
    schools: &[School],
) -> Vec<Vec<String>> {
    let area = areas.first().map_or("城关镇", |a| a.name.as_str());
    let school = schools
        .iter()
        .find(|s| s.area == 0)
        .map_or("城关第一小学", |s| s.name.as_str());
    let grades = match group {
        RespondentGroup::Student => ["三年级", "初一"],
        _ => ["一年级", "七年级"],
    };
    (0..2)
        .map(|i| {
            template_columns(group)
                .into_iter()
                .map(|c| match c {
                    "编号" => {
                        format!("{}{:04}", group.code().chars().next().unwrap_or('x'), i + 1)
                    }
                    "乡镇" => area.to_owned(),
                    "学校" => school.to_owned(),
                    "年级" => grades[i].to_owned(),
                    "班级" => format!("{}班", i + 1),
                    "姓名" => ["张三", "李四"][i].to_owned(),
                    _ => format!("1380000000{}", i + 1),
                })
                .collect()
        })
        .collect()
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

fn grade_number(s: &str) -> Option<u8> {
    Some(match s {
        "一" => 1,
        "二" => 2,
        "三" => 3,
        "四" => 4,
        "五" => 5,
        "六" => 6,
        "七" => 7,
        "八" => 8,
        "九" => 9,
        _ => s.parse().ok()?,
    })
}

/// A grade as people write it — 3, 三, 三年级, 3年级2班, 小学三年级, 初一, 初中一年级, 七年级,
/// 初一(3)班 — and the class written after it, if any.
pub fn parse_grade(raw: &str) -> Option<(u8, Option<String>)> {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.as_str();
    let (junior, s) = if let Some(rest) = s.strip_prefix("初中") {
        (true, rest)
    } else {
        (false, s.strip_prefix("小学").unwrap_or(s))
    };
    let (grade, rest) = if let Some(rest) = s.strip_prefix('初') {
        let mut chars = rest.chars();
        let g = match chars.next()? {
            '一' | '1' => 7,
            '二' | '2' => 8,
            '三' | '3' => 9,
            _ => return None,
        };
        (
            g,
            chars
                .as_str()
                .strip_prefix("年级")
                .unwrap_or(chars.as_str()),
        )
    } else {
        let (number, rest) = match s.find("年级") {
            Some(i) => (&s[..i], &s[i + "年级".len()..]),
            None => {
                let end = s
                    .char_indices()
                    .find(|(_, c)| !c.is_ascii_digit() && !"一二三四五六七八九".contains(*c))
                    .map_or(s.len(), |(i, _)| i);
                (&s[..end], &s[end..])
            }
        };
        let g = grade_number(number)?;
        let g = if junior && (1..=3).contains(&g) {
            g + 6
        } else {
            g
        };
        (g, rest)
    };
    if !(1..=9).contains(&grade) {
        return None;
    }
    // What follows is a class (2班, (3)班, （3）班) or nothing.
    let class = match rest {
        "" => None,
        r if r.ends_with('班') && r.chars().count() <= 12 => Some(r.to_owned()),
        _ => return None,
    };
    Some((grade, class))
}

#[derive(Default)]
struct ErrorList {
    total: usize,
    listed: Vec<RowError>,
    /// Each column's heading in the file, by the column.
    headings: [Option<String>; 7],
}

impl ErrorList {
    fn push(&mut self, line: u64, column: Option<Column>, message: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(RowError {
                line,
                column: column.map(Column::code),
                heading: column.map(|c| {
                    self.headings[c as usize]
                        .clone()
                        .unwrap_or_else(|| c.label().to_owned())
                }),
                message,
            });
        }
    }
}

/// The words by which a heading names a group's people (家长姓名, 教师电话 …).
fn group_words(group: RespondentGroup) -> &'static [&'static str] {
    match group {
        RespondentGroup::Parent => &["家长", "监护人"],
        RespondentGroup::Student => &["学生"],
        RespondentGroup::Teacher => &["教师", "老师"],
        RespondentGroup::Principal => &["校长"],
        RespondentGroup::NpcDeputy => &["人大代表"],
        RespondentGroup::CppccMember => &["政协委员"],
        RespondentGroup::Public => &["群众", "居民"],
    }
}

/// What in a roster's headings suggests it belongs to another group: its name or phone column
/// headed for another group's people (教师姓名 in a parents' roster), or grades in a roster of a
/// group that has none.
fn header_warnings(group: RespondentGroup, headings: &[Option<String>; 7]) -> Vec<String> {
    let mut out = Vec::new();
    for c in [Column::Name, Column::Phone] {
        let Some(h) = &headings[c as usize] else {
            continue;
        };
        if group_words(group).iter().any(|w| h.contains(w)) {
            continue;
        }
        // A parents' roster may name the pupil; a pupils' roster gives a guardian's phone.
        let family =
            |g: RespondentGroup| matches!(g, RespondentGroup::Parent | RespondentGroup::Student);
        if let Some(other) = RespondentGroup::ALL
            .into_iter()
            .filter(|g| *g != group && !(family(*g) && family(group)))
            .find(|g| group_words(*g).iter().any(|w| h.contains(w)))
        {
            out.push(format!(
                "表头“{h}”像是{}名册的列，这里上传的是{}名册：请确认没有传错群体",
                other.label(),
                group.label()
            ));
        }
    }
    if !needs_grade(group)
        && let Some(h) = &headings[Column::Grade as usize]
    {
        out.push(format!(
            "名册有“{h}”列，但{}不分年级（家长和学生名册才有年级）：请确认没有传错群体",
            group.label()
        ));
    }
    out
}

/// One of the template's example rows (p0001 张三 13800000001, p0002 李四 13800000002), left
/// in by mistake.
fn is_template_example(id: &str, name: Option<&str>, phone: Option<&str>) -> bool {
    let numbered = |n: &str| id.len() == 5 && id.ends_with(n) && id.is_char_boundary(1);
    match (name, phone) {
        (Some("张三"), Some("13800000001")) => numbered("0001"),
        (Some("李四"), Some("13800000002")) => numbered("0002"),
        _ => false,
    }
}

/// A roster's lines as read from its file: each record with its line number, or why the line
/// could not be read.
pub type Record = Result<(u64, csv::StringRecord), (u64, String)>;

/// Counts a text's lines as it is read: CR, LF and CRLF each end one (csv's own count is off for
/// CRLF files, Excel's, and a file's CR-only lines are lines too). Only the breaks the CSV
/// reader has read ahead of its current record are kept, so any size of file is counted in a
/// few bytes.
struct LineCounter<R> {
    inner: R,
    /// Bytes read so far, and whether the last of them was a CR.
    read: u64,
    after_cr: bool,
    /// Offsets of the breaks read but not yet passed by a record, and the lines before them.
    ahead: std::collections::VecDeque<u64>,
    passed: u64,
}

impl<R: std::io::Read> std::io::Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            let is_break = b == b'\r' || (b == b'\n' && !self.after_cr);
            if is_break {
                self.ahead.push_back(self.read + i as u64);
            }
            self.after_cr = b == b'\r';
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl<R> LineCounter<R> {
    /// The line at a byte offset (1: the first); offsets are asked in increasing order.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.ahead.front().is_some_and(|&b| b < offset) {
            self.ahead.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

/// The records of a CSV text read from `text` as it streams (UTF-8, without a BOM), each with
/// its line number, the header first.
pub fn csv_records(text: impl std::io::Read) -> impl Iterator<Item = Record> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(LineCounter {
            inner: text,
            read: 0,
            after_cr: false,
            ahead: Default::default(),
            passed: 0,
        });
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut record = csv::StringRecord::new();
        match reader.read_record(&mut record) {
            Ok(false) => {
                done = true;
                None
            }
            Ok(true) => {
                let offset = record.position().map_or(0, |p| p.byte());
                Some(Ok((reader.get_mut().line_at(offset), record)))
            }
            Err(e) => {
                // An I/O error ends the file; a malformed line does not.
                done = matches!(e.kind(), csv::ErrorKind::Io(_));
                let offset = e.position().map_or(0, |p| p.byte());
                Some(Err((
                    reader.get_mut().line_at(offset),
                    format!("这一行无法读取：{e}"),
                )))
            }
        }
    })
}

/// Parses and checks a group's CSV roster against the county's areas and schools.
pub fn parse_roster(
    group: RespondentGroup,
    text: &str,
    areas: &[Area],
    schools: &[School],
) -> Result<Roster, RosterErrors> {
    let lines = text.bytes().filter(|b| *b == b'\n').count();
    let mut rows = Vec::with_capacity(lines.min(MAX_ROWS));
    let shape = read_roster(group, csv_records(text.as_bytes()), areas, schools, |r| {
        rows.push(r);
        true
    })?;
    Ok(Roster {
        rows,
        ignored_columns: shape.ignored_columns,
        warnings: shape.warnings,
    })
}

/// A checked roster without its people (who were handed on one by one as they were read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterShape {
    pub rows: usize,
    pub ignored_columns: Vec<String>,
    pub warnings: Vec<String>,
}

/// A roster's id, as kept to find repeated ones: 96 bits of two hashes (a collision among two
/// million ids has odds of about 1 in 10^16), so with its line an id takes 16 bytes, not its
/// string.
fn id_key(id: &str) -> [u32; 3] {
    use std::hash::{Hash, Hasher};
    let [a, b] = [0u8, 1].map(|salt| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    });
    [a as u32, (a >> 32) as u32, b as u32]
}

/// Reads and checks a group's roster, its first record the header, against the county's areas
/// and schools, handing each good person to `each` as it is read (`each` returns false to stop
/// reading). Nothing of the people is kept here but their ids' hashes (to find repeated ids),
/// so a file of any size is checked in little memory, and read again to be stored.
pub fn read_roster(
    group: RespondentGroup,
    mut records: impl Iterator<Item = Record>,
    areas: &[Area],
    schools: &[School],
    mut each: impl FnMut(RosterRow) -> bool,
) -> Result<RosterShape, RosterErrors> {
    let header = match records.next() {
        Some(Ok((_, h))) => h,
        Some(Err((line, e))) => {
            return Err(RosterErrors::one(
                line.max(1),
                None,
                format!("表头无法读取：{e}"),
            ));
        }
        None => return Err(RosterErrors::one(1, None, "文件是空的")),
    };
    if header.len() > MAX_COLUMNS {
        return Err(RosterErrors::one(
            1,
            None,
            format!(
                "表头有 {} 列，超过上限 {MAX_COLUMNS} 列：请只保留名册需要的列",
                header.len()
            ),
        ));
    }
    let mut columns: Vec<Option<Column>> = Vec::new();
    let mut ranks: Vec<u8> = Vec::new();
    let mut ignored_columns = Vec::new();
    for h in header.iter() {
        let found = Column::from_header(group, h);
        if let Some((c, rank)) = found
            && let Some(first) = columns.iter().position(|x| *x == Some(c))
        {
            // A weaker name for a column already found (序号 beside 编号) is left unread.
            if ranks[first] != rank {
                if rank > ranks[first] {
                    ignored_columns.push(header.get(first).unwrap_or("").trim().to_owned());
                    columns[first] = None;
                } else {
                    ignored_columns.push(h.trim().to_owned());
                    columns.push(None);
                    ranks.push(0);
                    continue;
                }
            } else {
                return Err(RosterErrors::one(
                    1,
                    Some(c.code()),
                    format!(
                        "表头“{}”和“{}”都是{}列，请只保留一列",
                        header.get(first).unwrap_or("").trim(),
                        h.trim(),
                        c.label()
                    ),
                ));
            }
        }
        match found {
            Some((c, rank)) => {
                columns.push(Some(c));
                ranks.push(rank);
            }
            None => {
                if !h.trim().is_empty() {
                    ignored_columns.push(h.trim().to_owned());
                }
                columns.push(None);
                ranks.push(0);
            }
        }
    }
    let position = |c: Column| columns.iter().position(|x| *x == Some(c));
    // Each column's place in the file, by the column: looked up once, not per row.
    let at = Column::ALL.map(position);
    let headings = at.map(|i| i.and_then(|i| header.get(i)).map(|h| h.trim().to_owned()));
    let warnings = header_warnings(group, &headings);
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
        let unread = if ignored_columns.is_empty() {
            String::new()
        } else {
            format!("；未识别的列：{}", ignored_columns.join("、"))
        };
        // A file of another group says so: the missing column is then the least of it.
        let other = warnings
            .iter()
            .map(|w| format!("。{w}"))
            .collect::<String>();
        return Err(RosterErrors::one(
            1,
            None,
            format!(
                "{}名册缺少列：{}（表头可用中文，如 编号/学号、乡镇、学校、年级、班级、姓名、电话{}）{other}",
                group.label(),
                missing.join("、"),
                unread
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
    // Lines of files within the upload limit fit in 32 bits.
    let mut seen: HashMap<[u32; 3], u32> = HashMap::new();
    let mut rows = 0usize;
    let mut errors = ErrorList {
        headings,
        ..ErrorList::default()
    };

    for record in records {
        let (line, record) = match record {
            Ok(r) => r,
            Err((line, message)) => {
                errors.push(line, None, message);
                continue;
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows >= MAX_ROWS {
            errors.push(line, None, format!("名册不能超过 {MAX_ROWS} 行"));
            break;
        }
        let get = |c: Column| {
            at[c as usize]
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
                match seen.entry(id_key(id)) {
                    std::collections::hash_map::Entry::Occupied(first) => errors.push(
                        line,
                        Some(Column::Id),
                        format!("编号“{id}”与第 {} 行重复", first.get()),
                    ),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(line.min(u64::from(u32::MAX)) as u32);
                    }
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
        let (grade, class_in_grade) = match get(Column::Grade) {
            None if needs_grade(group) => {
                errors.push(line, Some(Column::Grade), "缺少年级".into());
                (None, None)
            }
            None => (None, None),
            Some(g) => match parse_grade(g) {
                Some((n, _)) if needs_grade(group) && band_of(group, n).is_none() => {
                    errors.push(
                        line,
                        Some(Column::Grade),
                        format!(
                            "{g}：一、二年级学生不参加调查（学生问卷面向三至九年级），请从学生名册中删去这一行"
                        ),
                    );
                    (None, None)
                }
                Some((n, class)) => (Some(n), class),
                None => {
                    errors.push(
                        line,
                        Some(Column::Grade),
                        format!("年级“{g}”无法识别：可写 3、三年级、3年级2班、初一、七年级"),
                    );
                    (None, None)
                }
            },
        };
        let class = match get(Column::Class) {
            Some(c) if c.chars().count() > 20 || c.chars().any(char::is_control) => {
                errors.push(line, Some(Column::Class), "班级不能超过 20 个字符".into());
                None
            }
            Some(c) => Some(c.to_owned()),
            None => class_in_grade,
        };
        let name = match get(Column::Name) {
            Some(n) if n.chars().count() > 50 => {
                errors.push(line, Some(Column::Name), "姓名不能超过 50 个字符".into());
                None
            }
            Some(n) if n.chars().any(char::is_control) => {
                errors.push(line, Some(Column::Name), "姓名不能含控制字符".into());
                None
            }
            n => n.map(str::to_owned),
        };
        let phone = match get(Column::Phone) {
            None => None,
            Some(p) => match normalize_phone(p) {
                Some(p) if is_mobile(&p) => Some(p),
                _ => {
                    errors.push(
                        line,
                        Some(Column::Phone),
                        format!(
                            "手机号码“{p}”无效：须为 11 位数字、以 1 开头（没有手机号的请留空）"
                        ),
                    );
                    None
                }
            },
        };
        if is_template_example(&external_id, name.as_deref(), phone.as_deref()) {
            errors.push(
                line,
                Some(Column::Name),
                format!(
                    "这是模板中的示例行（{}）：请删去示例行，填入本县的名单后再上传",
                    name.as_deref().unwrap_or("")
                ),
            );
        }
        if errors.total == before
            && let Some(area) = area
        {
            rows += 1;
            let go_on = each(RosterRow {
                line,
                external_id,
                area,
                school,
                grade,
                class,
                name,
                phone,
            });
            if !go_on {
                break;
            }
        }
    }
    if errors.total > 0 {
        return Err(RosterErrors {
            total: errors.total,
            errors: errors.listed,
        });
    }
    if rows == 0 {
        return Err(RosterErrors::one(2, None, "名册中没有任何人"));
    }
    Ok(RosterShape {
        rows,
        ignored_columns,
        warnings,
    })
}

/// A mainland mobile number as the frame line writes it: 11 digits starting with 1.
pub fn is_mobile(phone: &str) -> bool {
    phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::strata::AreaClass;

    pub(super) fn county() -> (Vec<Area>, Vec<School>) {
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
        let rows = parse_roster(RespondentGroup::Student, text, &areas, &schools)
            .unwrap()
            .rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].grade, Some(8));
        assert_eq!(rows[1].phone.as_deref(), Some("13800000002"));
        assert_eq!(rows[1].line, 3);
        let text = "id,area,name\nd1,城关镇,王五\n";
        assert_eq!(
            parse_roster(RespondentGroup::NpcDeputy, text, &areas, &schools)
                .unwrap()
                .rows
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
            let rows = parse_roster(RespondentGroup::NpcDeputy, &text, &areas, &schools)
                .unwrap()
                .rows;
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
    fn headers_as_county_sheets_word_them_and_unread_columns_reported() {
        let (areas, schools) = county();
        let text = "序号,学号,学生姓名,学校名称,所在乡镇/街道,年级,班级,家长手机号,家庭住址\r\n1,s1,张三,城关一小,城关镇,三年级,2班,13800000001,城关路 1 号\r\n2,s2,李四,桥头中学,桥头镇,初一,(3)班,,\r\n";
        let roster = parse_roster(RespondentGroup::Student, text, &areas, &schools).unwrap();
        assert_eq!(roster.ignored_columns, ["序号", "家庭住址"]);
        let r = &roster.rows;
        assert_eq!(r[0].external_id, "s1");
        assert_eq!(r[0].name.as_deref(), Some("张三"));
        assert_eq!(r[0].phone.as_deref(), Some("13800000001"));
        assert_eq!((r[0].grade, r[0].class.as_deref()), (Some(3), Some("2班")));
        assert_eq!(
            (r[1].grade, r[1].class.as_deref(), r[1].line),
            (Some(7), Some("(3)班"), 3)
        );
        // Without a 学号, the 序号 is the id.
        let text = "序号,乡镇,联系电话\n1,城关镇,13800000002\n";
        let roster = parse_roster(RespondentGroup::Public, text, &areas, &schools).unwrap();
        assert!(roster.ignored_columns.is_empty());
        assert_eq!(roster.rows[0].external_id, "1");
        // Two columns of the same kind: which ones is said.
        let err = parse_roster(
            RespondentGroup::Public,
            "编号,乡镇,电话,电话号码\n",
            &areas,
            &schools,
        )
        .unwrap_err();
        assert!(
            err.errors[0].message.contains("“电话”和“电话号码”"),
            "{err:?}"
        );
    }

    #[test]
    fn errors_name_the_files_own_headings_and_a_template_left_as_is_is_refused() {
        let (areas, schools) = county();
        let text = "编号,所在乡镇,联系电话\nd1,城关镇,12345\nd2,无名镇,13912340002\n";
        let err = parse_roster(RespondentGroup::NpcDeputy, text, &areas, &schools).unwrap_err();
        let got: Vec<_> = err
            .errors
            .iter()
            .map(|e| (e.column, e.heading.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("phone"), Some("联系电话")),
                (Some("area"), Some("所在乡镇"))
            ]
        );
        // The template downloaded and sent back unedited: both example rows named.
        let rows = template_rows(RespondentGroup::Parent, &areas, &schools);
        let mut text = template_columns(RespondentGroup::Parent).join(",");
        for r in &rows {
            text.push('\n');
            text.push_str(&r.join(","));
        }
        let err = parse_roster(RespondentGroup::Parent, &text, &areas, &schools).unwrap_err();
        assert_eq!(err.total, 2, "{err:?}");
        assert!(err.errors[0].message.contains("示例行（张三）"), "{err:?}");
        assert_eq!(err.errors[1].heading.as_deref(), Some("姓名"));
    }

    #[test]
    fn a_roster_that_looks_like_another_groups_is_said_to() {
        let (areas, schools) = county();
        // Teachers' headings in a parents' upload; grades in a teachers' upload.
        let text =
            "编号,乡镇,学校,年级,教师姓名,教师电话\nt1,城关镇,城关一小,3,王老师,13912340001\n";
        let roster = parse_roster(RespondentGroup::Parent, text, &areas, &schools).unwrap();
        assert_eq!(roster.warnings.len(), 2, "{:?}", roster.warnings);
        assert!(roster.warnings[0].contains("像是教师名册"));
        let text = "编号,乡镇,学校,年级,姓名\nt1,城关镇,城关一小,3,王老师\n";
        let roster = parse_roster(RespondentGroup::Teacher, text, &areas, &schools).unwrap();
        assert!(
            roster.warnings[0].contains("教师不分年级"),
            "{:?}",
            roster.warnings
        );
        // A parents' roster naming the pupil and the parent reads the parent's name, and a
        // pupils' roster with a guardian's phone is as expected: no warning.
        let text = "编号,乡镇,学校,年级,学生姓名,家长姓名,家长手机号\np1,城关镇,城关一小,3,小明,王芳,13912340001\n";
        let roster = parse_roster(RespondentGroup::Parent, text, &areas, &schools).unwrap();
        assert_eq!(roster.rows[0].name.as_deref(), Some("王芳"));
        assert_eq!(roster.ignored_columns, ["学生姓名"]);
        assert!(roster.warnings.is_empty(), "{:?}", roster.warnings);
        let text =
            "学号,乡镇,学校,年级,学生姓名,家长手机号\ns1,城关镇,城关一小,3,小明,13912340001\n";
        let roster = parse_roster(RespondentGroup::Student, text, &areas, &schools).unwrap();
        assert!(roster.warnings.is_empty(), "{:?}", roster.warnings);
    }

    #[test]
    fn grades_are_read_as_people_write_them() {
        for (raw, grade, class) in [
            ("3", 3, None),
            ("三", 3, None),
            ("三年级", 3, None),
            ("3年级2班", 3, Some("2班")),
            ("三年级（2）班", 3, Some("（2）班")),
            ("小学三年级", 3, None),
            ("初一", 7, None),
            ("初一(3)班", 7, Some("(3)班")),
            ("初中一年级", 7, None),
            ("七年级", 7, None),
            ("九年级", 9, None),
            (" 8 ", 8, None),
        ] {
            assert_eq!(
                parse_grade(raw),
                Some((grade, class.map(str::to_owned))),
                "{raw}"
            );
        }
        for raw in ["十", "高一", "0", "三年级二", "初四", "", "年级"] {
            assert_eq!(parse_grade(raw), None, "{raw}");
        }
    }

    #[test]
    fn phones_must_be_mobiles_and_young_students_are_named_per_line() {
        let (areas, schools) = county();
        let text = "编号,乡镇,学校,年级,电话\r\ns1,城关镇,城关一小,3,1380000000\r\ns2,城关镇,城关一小,一年级,\r\ns3,城关镇,城关一小,3,0351-1234567\r\ns4,城关镇,城关一小,3,+86 138 0000 0004\r\n";
        let err = parse_roster(RespondentGroup::Student, text, &areas, &schools).unwrap_err();
        let got: Vec<(u64, Option<&str>)> = err.errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            got,
            [(2, Some("phone")), (3, Some("grade")), (4, Some("phone"))]
        );
        assert!(err.errors[0].message.contains("11 位"), "{err:?}");
        assert!(
            err.errors[1].message.contains("一、二年级学生不参加调查"),
            "{err:?}"
        );
        // Parents of first graders are in the survey.
        let text = "编号,乡镇,学校,年级\np1,城关镇,城关一小,一年级\n";
        assert!(parse_roster(RespondentGroup::Parent, text, &areas, &schools).is_ok());
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

    #[test]
    fn lines_are_counted_the_same_however_the_text_arrives() {
        /// One byte a read: a CRLF split over two reads is still one break.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                if buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let text = "编号,乡镇\r\nd1,城关镇\r\nd2,\"桥头\n镇\"\rd3,城关镇\nd4,桥头镇\r\n";
        let whole: Vec<u64> = csv_records(text.as_bytes()).map(|r| r.unwrap().0).collect();
        let trickled: Vec<u64> = csv_records(Trickle(text.as_bytes()))
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(whole, vec![1, 2, 3, 5, 6]);
        assert_eq!(trickled, whole);
    }

    #[test]
    fn control_characters_in_a_name_and_headers_past_the_bound_are_refused() {
        let (areas, schools) = super::tests::county();
        let text = "编号,乡镇,姓名\nd1,城关镇,张\u{0}三\n";
        let err = parse_roster(RespondentGroup::NpcDeputy, text, &areas, &schools).unwrap_err();
        assert!(err.errors[0].message.contains("控制字符"), "{err:?}");
        let wide = format!("编号,乡镇{}\nd1,城关镇\n", ",x".repeat(MAX_COLUMNS));
        let err = parse_roster(RespondentGroup::NpcDeputy, &wide, &areas, &schools).unwrap_err();
        assert!(err.errors[0].message.contains("超过上限 64 列"), "{err:?}");
    }
}
