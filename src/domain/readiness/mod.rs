//! Readiness: the rest of the evaluation — the 7 resource indicators per school and their
//! pupil-weighted coefficients of variation, the 15 government-guarantee and 9 quality
//! indicators (SPEC.md "Readiness", and the last table of the reference document).
use serde::Serialize;
use std::collections::BTreeMap;

pub mod view;

/// The size under which some provinces set teaching points aside; shown beside the county's
/// own rule for comparison.
pub const COMMON_SET_ASIDE: u32 = 50;

/// What a county's small-school rule must be.
pub const SET_ASIDE_RANGE: &str = "教学点人数界限须为 1–1000 的整数，或留空（全部学校计入）";

/// Which schools the coefficients of variation leave out. By default none: every school
/// counts, teaching points and special-education schools included. A county may set aside
/// teaching points under `below` pupils, as its province's practice says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SetAside {
    pub below: Option<u32>,
}

impl SetAside {
    /// Checks a county's setting: 1–1000 pupils, or none.
    pub fn new(below: Option<i64>) -> Result<SetAside, String> {
        match below {
            None => Ok(SetAside { below: None }),
            Some(n) if (1..=1000).contains(&n) => Ok(SetAside {
                below: Some(n as u32),
            }),
            Some(_) => Err(SET_ASIDE_RANGE.into()),
        }
    }

    pub fn sets_aside(self, school: &SchoolFigures) -> bool {
        self.below.is_some_and(|n| school.pupils < f64::from(n))
    }

    /// The rule in words.
    pub fn label(self) -> String {
        match self.below {
            None => "全部学校计入（含教学点和特殊教育学校）".into(),
            Some(n) => format!("不足 {n} 人的教学点单列，不计入差异系数"),
        }
    }

    /// The other way the coefficients are shown: with every school where the county sets
    /// some aside, and without teaching points under 50 where it sets none aside.
    pub fn other(self) -> SetAside {
        match self.below {
            None => SetAside {
                below: Some(COMMON_SET_ASIDE),
            },
            Some(_) => SetAside { below: None },
        }
    }
}
/// A school passes when this many indicators meet the standard…
pub const MIN_MEETING: usize = 6;
/// …and the rest reach this share of it.
pub const FLOOR_SHARE: f64 = 0.85;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Primary,
    Junior,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Primary => "小学",
            Level::Junior => "初中",
        }
    }

    /// The largest coefficient of variation allowed.
    pub fn cv_threshold(self) -> f64 {
        match self {
            Level::Primary => 0.50,
            Level::Junior => 0.45,
        }
    }
}

/// The seven resource indicators, in the order of the reference table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    QualifiedTeachers,
    BackboneTeachers,
    PeArtsTeachers,
    TeachingSpace,
    SportsSpace,
    EquipmentValue,
    MultimediaRooms,
}

impl Indicator {
    pub const ALL: [Indicator; 7] = [
        Indicator::QualifiedTeachers,
        Indicator::BackboneTeachers,
        Indicator::PeArtsTeachers,
        Indicator::TeachingSpace,
        Indicator::SportsSpace,
        Indicator::EquipmentValue,
        Indicator::MultimediaRooms,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Indicator::QualifiedTeachers => "qualified_teachers",
            Indicator::BackboneTeachers => "backbone_teachers",
            Indicator::PeArtsTeachers => "pe_arts_teachers",
            Indicator::TeachingSpace => "teaching_space",
            Indicator::SportsSpace => "sports_space",
            Indicator::EquipmentValue => "equipment_value",
            Indicator::MultimediaRooms => "multimedia_rooms",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Indicator::QualifiedTeachers => "每百名学生高于规定学历教师数",
            Indicator::BackboneTeachers => "每百名学生县级及以上骨干教师数",
            Indicator::PeArtsTeachers => "每百名学生体育、艺术专任教师数",
            Indicator::TeachingSpace => "生均教学及辅助用房面积（m²）",
            Indicator::SportsSpace => "生均体育运动场馆面积（m²）",
            Indicator::EquipmentValue => "生均教学仪器设备值（元）",
            Indicator::MultimediaRooms => "每百名学生网络多媒体教室数（间）",
        }
    }

    /// Per 100 pupils (people, rooms) or per pupil (space, money).
    pub fn per(self) -> f64 {
        match self {
            Indicator::TeachingSpace | Indicator::SportsSpace | Indicator::EquipmentValue => 1.0,
            _ => 100.0,
        }
    }

    pub fn standard(self, level: Level) -> f64 {
        let (p, j) = match self {
            Indicator::QualifiedTeachers => (4.2, 5.3),
            Indicator::BackboneTeachers => (1.0, 1.0),
            Indicator::PeArtsTeachers => (0.9, 0.9),
            Indicator::TeachingSpace => (4.5, 5.8),
            Indicator::SportsSpace => (7.5, 10.2),
            Indicator::EquipmentValue => (2000.0, 2500.0),
            Indicator::MultimediaRooms => (2.3, 2.4),
        };
        match level {
            Level::Primary => p,
            Level::Junior => j,
        }
    }

    /// The raw resource (teachers, m², yuan, rooms) that brings `pupils` to the standard.
    pub fn resource_for(self, level: Level, pupils: f64) -> f64 {
        self.standard(level) * pupils / self.per()
    }
}

/// What kind of school: scored by level, nine-year schools split into their two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolKind {
    Primary,
    Junior,
    NineYear,
    /// Special-education schools count at the levels of their pupils (primary where the file
    /// does not split them).
    Special,
}

impl SchoolKind {
    pub const ALL: [SchoolKind; 4] = [
        SchoolKind::Primary,
        SchoolKind::Junior,
        SchoolKind::NineYear,
        SchoolKind::Special,
    ];

    /// The code the kind is stored under.
    pub fn code(self) -> &'static str {
        match self {
            SchoolKind::Primary => "primary",
            SchoolKind::Junior => "junior",
            SchoolKind::NineYear => "nine_year",
            SchoolKind::Special => "special",
        }
    }

    pub fn from_code(code: &str) -> Option<SchoolKind> {
        SchoolKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One school's raw figures, as uploaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolFigures {
    pub name: String,
    pub kind: SchoolKind,
    pub pupils: f64,
    pub primary_pupils: f64,
    pub junior_pupils: f64,
    /// The raw resource behind each indicator, in [`Indicator::ALL`] order.
    pub resources: [f64; 7],
}

/// A school (or the primary or junior part of a nine-year school) scored at one level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolPart {
    pub school: String,
    pub level: Level,
    pub pupils: f64,
    /// The share of the school's resources given to this part (1 unless nine-year).
    pub share: f64,
    pub resources: [f64; 7],
    pub values: [f64; 7],
    /// Per indicator: 2 meets, 1 within 85%, 0 short.
    pub grades: [u8; 7],
    pub passes: bool,
}

impl SchoolPart {
    fn new(school: &str, level: Level, pupils: f64, share: f64, resources: [f64; 7]) -> SchoolPart {
        let mut values = [0.0; 7];
        let mut grades = [0; 7];
        for (i, ind) in Indicator::ALL.iter().enumerate() {
            values[i] = if pupils > 0.0 {
                resources[i] / pupils * ind.per()
            } else {
                0.0
            };
            let std = ind.standard(level);
            grades[i] = if values[i] >= std - 1e-9 {
                2
            } else if values[i] >= FLOOR_SHARE * std - 1e-9 {
                1
            } else {
                0
            };
        }
        let meeting = grades.iter().filter(|g| **g == 2).count();
        let passes = meeting >= MIN_MEETING && grades.iter().all(|g| *g >= 1);
        SchoolPart {
            school: school.to_owned(),
            level,
            pupils,
            share,
            resources,
            values,
            grades,
            passes,
        }
    }
}

/// Splits schools into scored parts; the schools the rule sets aside are returned apart.
pub fn parts(schools: &[SchoolFigures], rule: SetAside) -> (Vec<SchoolPart>, Vec<&SchoolFigures>) {
    let mut scored = Vec::new();
    let mut apart = Vec::new();
    for s in schools {
        if rule.sets_aside(s) {
            apart.push(s);
            continue;
        }
        let split = s.primary_pupils + s.junior_pupils > 0.0;
        match s.kind {
            SchoolKind::Primary => scored.push(SchoolPart::new(
                &s.name,
                Level::Primary,
                s.pupils,
                1.0,
                s.resources,
            )),
            SchoolKind::Junior => scored.push(SchoolPart::new(
                &s.name,
                Level::Junior,
                s.pupils,
                1.0,
                s.resources,
            )),
            SchoolKind::Special if !split => scored.push(SchoolPart::new(
                &s.name,
                Level::Primary,
                s.pupils,
                1.0,
                s.resources,
            )),
            SchoolKind::NineYear | SchoolKind::Special => {
                // Resources are split between the parts in proportion to their pupils.
                let total = s.primary_pupils + s.junior_pupils;
                for (level, n) in [
                    (Level::Primary, s.primary_pupils),
                    (Level::Junior, s.junior_pupils),
                ] {
                    if n > 0.0 && total > 0.0 {
                        let share = n / total;
                        scored.push(SchoolPart::new(
                            &s.name,
                            level,
                            n,
                            share,
                            s.resources.map(|r| r * share),
                        ));
                    }
                }
            }
        }
    }
    (scored, apart)
}

/// An indicator's pupil-weighted coefficient of variation at one level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variation {
    pub indicator: Indicator,
    pub level: Level,
    pub schools: usize,
    /// The pooled value Σ resource / Σ pupils (not the mean of school values).
    pub mean: f64,
    pub cv: Option<f64>,
    pub threshold: f64,
    pub passes: bool,
    /// Each school's share of Σ (nᵢ/N)(xᵢ − x̄)²: what moves the CV most.
    pub contributions: Vec<(String, f64)>,
}

/// CV = sqrt(Σ (nᵢ/N)(xᵢ − x̄)²) / x̄, with x̄ = Σ resourceᵢ / Σ nᵢ (per the indicator's unit).
pub fn variation(parts: &[SchoolPart], indicator: Indicator, level: Level) -> Variation {
    let i = Indicator::ALL
        .iter()
        .position(|x| *x == indicator)
        .unwrap_or(0);
    let at: Vec<&SchoolPart> = parts
        .iter()
        .filter(|p| p.level == level && p.pupils > 0.0)
        .collect();
    let n: f64 = at.iter().map(|p| p.pupils).sum();
    let resource: f64 = at.iter().map(|p| p.resources[i]).sum();
    let mean = if n > 0.0 {
        resource / n * indicator.per()
    } else {
        0.0
    };
    let terms: Vec<(String, f64)> = at
        .iter()
        .map(|p| {
            (
                p.school.clone(),
                p.pupils / n * (p.values[i] - mean).powi(2),
            )
        })
        .collect();
    let var: f64 = terms.iter().map(|(_, t)| t).sum();
    let cv = (mean > 0.0 && !at.is_empty()).then(|| var.sqrt() / mean);
    let mut contributions: Vec<(String, f64)> = terms
        .into_iter()
        .map(|(s, t)| (s, if var > 0.0 { t / var } else { 0.0 }))
        .collect();
    contributions.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let threshold = level.cv_threshold();
    Variation {
        indicator,
        level,
        schools: at.len(),
        mean,
        cv,
        threshold,
        passes: cv.is_some_and(|c| c <= threshold + 1e-12),
        contributions,
    }
}

/// Every indicator at every level that has schools.
pub fn variations(parts: &[SchoolPart]) -> Vec<Variation> {
    let mut out = Vec::new();
    for level in [Level::Primary, Level::Junior] {
        if parts.iter().any(|p| p.level == level) {
            for ind in Indicator::ALL {
                out.push(variation(parts, ind, level));
            }
        }
    }
    out
}

/// A green / amber / red judgement with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Green,
    Amber,
    Red,
}

impl Light {
    pub fn label(self) -> &'static str {
        match self {
            Light::Green => "达标",
            Light::Amber => "待完善",
            Light::Red => "未达标",
        }
    }
}

/// The resource part: green when every CV and every school passes.
pub fn resources_light(parts: &[SchoolPart], vars: &[Variation]) -> (Light, String) {
    if parts.is_empty() {
        return (Light::Red, "尚未上传学校资源数据".into());
    }
    let cv_bad = vars.iter().filter(|v| !v.passes).count();
    let schools_bad = parts.iter().filter(|p| !p.passes).count();
    match (cv_bad, schools_bad) {
        (0, 0) => (Light::Green, "所有学校、所有差异系数均达标".into()),
        (0, n) => (
            Light::Amber,
            format!("差异系数均达标，{n} 所学校（或学段）未达标"),
        ),
        (c, n) => (
            Light::Red,
            format!("{c} 项差异系数超标，{n} 所学校（或学段）未达标"),
        ),
    }
}

/// How a numeric checklist figure is judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measure {
    pub key: &'static str,
    pub label: &'static str,
    /// true: the figure must be at least the threshold; false: at most.
    pub at_least: bool,
    pub threshold: f64,
    pub unit: &'static str,
}

const fn at_least(
    key: &'static str,
    label: &'static str,
    threshold: f64,
    unit: &'static str,
) -> Measure {
    Measure {
        key,
        label,
        at_least: true,
        threshold,
        unit,
    }
}

const fn at_most(
    key: &'static str,
    label: &'static str,
    threshold: f64,
    unit: &'static str,
) -> Measure {
    Measure {
        key,
        label,
        at_least: false,
        threshold,
        unit,
    }
}

impl Measure {
    pub fn met(&self, value: f64) -> bool {
        if self.at_least {
            value >= self.threshold - 1e-9
        } else {
            value <= self.threshold + 1e-9
        }
    }

    /// How far a figure is from the threshold, as a share of it (0 when met).
    pub fn gap(&self, value: f64) -> f64 {
        if self.met(value) || self.threshold == 0.0 {
            0.0
        } else {
            (value - self.threshold).abs() / self.threshold
        }
    }
}

/// An indicator of the government-guarantee or quality checklist.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistItem {
    pub code: &'static str,
    pub standard: &'static str,
    pub lead: &'static str,
    pub responsible: &'static str,
    pub measures: &'static [Measure],
}

macro_rules! item {
    ($code:literal, $standard:literal, $lead:literal, $resp:literal, [$($m:expr),* $(,)?]) => {
        ChecklistItem { code: $code, standard: $standard, lead: $lead, responsible: $resp, measures: &[$($m),*] }
    };
}

/// The 15 government-guarantee indicators.
pub const GUARANTEE: [ChecklistItem; 15] = [
    item!(
        "g01",
        "县域内义务教育学校规划布局合理，符合国家规定要求",
        "县教育局",
        "县自然资源和规划局",
        []
    ),
    item!(
        "g02",
        "县域内城乡义务教育学校建设标准统一、教师编制标准统一、生均公用经费基准定额统一、基本装备配置标准统一",
        "县教育局",
        "县委编办、县财政局",
        []
    ),
    item!(
        "g03",
        "所有小学、初中每12个班级配备音乐、美术专用教室1间以上；其中，每间音乐专用教室面积不小于96平方米，每间美术专用教室面积不小于90平方米",
        "县教育局",
        "县财政局",
        []
    ),
    item!(
        "g04",
        "所有小学、初中学校规模不超过2000人，九年一贯制学校、十二年一贯制学校义务教育阶段规模不超过2500人",
        "县教育局",
        "县住房和城乡建设局",
        [
            at_most("largest_school", "最大小学、初中学校规模", 2000.0, "人"),
            at_most(
                "largest_nine_year",
                "最大一贯制学校义务教育阶段规模",
                2500.0,
                "人"
            ),
        ]
    ),
    item!(
        "g05",
        "小学、初中所有班级学生数分别不超过45人、50人",
        "县教育局",
        "",
        [
            at_most("largest_primary_class", "最大小学班额", 45.0, "人"),
            at_most("largest_junior_class", "最大初中班额", 50.0, "人"),
        ]
    ),
    item!(
        "g06",
        "不足100名学生村小学和教学点按100名学生核定公用经费",
        "县教育局",
        "县财政局",
        []
    ),
    item!(
        "g07",
        "特殊教育学校生均公用经费不低于6000元",
        "县教育局",
        "县财政局",
        [at_least(
            "special_funding",
            "特殊教育学校生均公用经费",
            6000.0,
            "元"
        ),]
    ),
    item!(
        "g08",
        "全县义务教育学校教师平均工资收入水平不低于当地公务员平均工资收入水平，按规定足额核定教师绩效工资总量",
        "县教育局",
        "县财政局、县人力资源和社会保障局",
        []
    ),
    item!(
        "g09",
        "教师5年360学时培训完成率达到100%",
        "县教育局",
        "",
        [at_least(
            "training_completion",
            "5年360学时培训完成率",
            100.0,
            "%"
        ),]
    ),
    item!(
        "g10",
        "县级教育行政部门在核定的教职工编制总额和岗位总量内，统筹分配各校教职工编制和岗位数量",
        "县教育局",
        "县委编办",
        []
    ),
    item!(
        "g11",
        "全县每年交流轮岗教师的比例不低于符合交流轮岗条件教师总数的10%；其中，骨干教师不低于交流轮岗教师总数的20%",
        "县教育局",
        "",
        [
            at_least("rotation_share", "交流轮岗教师比例", 10.0, "%"),
            at_least("rotation_backbone_share", "其中骨干教师比例", 20.0, "%"),
        ]
    ),
    item!(
        "g12",
        "专任教师持有教师资格证上岗率达到100%",
        "县教育局",
        "",
        [at_least("certified_share", "持证上岗率", 100.0, "%"),]
    ),
    item!(
        "g13",
        "城区和镇区公办小学、初中（均不含寄宿制学校）就近划片入学比例分别达到100%、95%以上",
        "县教育局",
        "",
        [
            at_least("nearby_primary", "小学就近划片入学比例", 100.0, "%"),
            at_least("nearby_junior", "初中就近划片入学比例", 95.0, "%"),
        ]
    ),
    item!(
        "g14",
        "全县优质高中招生名额分配比例不低于50%，并向农村初中倾斜",
        "县教育局",
        "",
        [at_least(
            "quota_allocation",
            "优质高中招生名额分配比例",
            50.0,
            "%"
        ),]
    ),
    item!(
        "g15",
        "留守儿童关爱体系健全，全县符合条件的随迁子女在公办学校和政府购买服务的民办学校就读的比例不低于85%",
        "县教育局",
        "县财政局、县新居民服务中心、县妇联",
        [at_least(
            "migrant_share",
            "随迁子女在公办及购买服务民办学校就读比例",
            85.0,
            "%"
        ),]
    ),
];

/// The 9 education-quality indicators.
pub const QUALITY: [ChecklistItem; 9] = [
    item!(
        "q01",
        "全县初中三年巩固率达到95%以上",
        "县教育局",
        "",
        [at_least("retention", "初中三年巩固率", 95.0, "%")]
    ),
    item!(
        "q02",
        "全县残疾儿童少年入学率达到95%以上",
        "县教育局",
        "县残联",
        [at_least(
            "disabled_enrolment",
            "残疾儿童少年入学率",
            95.0,
            "%"
        )]
    ),
    item!(
        "q03",
        "所有学校建立章程，实现学校管理与教学信息化",
        "县教育局",
        "",
        []
    ),
    item!(
        "q04",
        "全县所有学校按照不低于学校年度公用经费预算总额的5%安排教师培训经费",
        "县教育局",
        "县财政局",
        [at_least(
            "training_budget",
            "教师培训经费占公用经费比例（最低的学校）",
            5.0,
            "%"
        )]
    ),
    item!(
        "q05",
        "教师能熟练运用信息化手段组织教学，设施设备利用率达到较高水平",
        "县教育局",
        "",
        []
    ),
    item!(
        "q06",
        "所有学校德育工作、校园文化建设水平达到良好以上",
        "县教育局",
        "",
        []
    ),
    item!(
        "q07",
        "课程开齐开足，教学秩序规范，综合实践活动有效开展",
        "县教育局",
        "",
        []
    ),
    item!("q08", "无过重课业负担", "县教育局", "", []),
    item!(
        "q09",
        "在国家义务教育质量监测中，相关科目学生学业水平达到Ⅲ级以上，且校际差异率低于0.15",
        "县教育局",
        "",
        [at_most("school_difference", "校际差异率", 0.15, "")]
    ),
];

/// What an organiser recorded for a checklist indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Met,
    NotMet,
    InProgress,
    Unknown,
}

impl CheckStatus {
    pub fn parse(s: &str) -> Option<CheckStatus> {
        match s {
            "met" => Some(CheckStatus::Met),
            "not_met" => Some(CheckStatus::NotMet),
            "in_progress" => Some(CheckStatus::InProgress),
            "unknown" | "" => Some(CheckStatus::Unknown),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            CheckStatus::Met => "met",
            CheckStatus::NotMet => "not_met",
            CheckStatus::InProgress => "in_progress",
            CheckStatus::Unknown => "unknown",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Met => "已达标",
            CheckStatus::NotMet => "未达标",
            CheckStatus::InProgress => "推进中",
            CheckStatus::Unknown => "未填写",
        }
    }
}

/// What was recorded for one checklist indicator in one year.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRecord {
    pub code: String,
    pub status: CheckStatus,
    pub note: String,
    /// Links to the evidence.
    pub attachments: Vec<String>,
    /// The indicator's figures by measure key.
    pub figures: BTreeMap<String, f64>,
}

/// An indicator's status: computed from its figures when it has measures and all are given,
/// else as recorded. Returns the status and the largest gap.
pub fn judge(
    item: &ChecklistItem,
    recorded: CheckStatus,
    figures: &dyn Fn(&str) -> Option<f64>,
) -> (CheckStatus, f64) {
    if item.measures.is_empty() {
        return (
            recorded,
            if recorded == CheckStatus::NotMet {
                1.0
            } else {
                0.0
            },
        );
    }
    let values: Vec<Option<f64>> = item.measures.iter().map(|m| figures(m.key)).collect();
    if values.iter().any(Option::is_none) {
        return (
            recorded,
            if recorded == CheckStatus::NotMet {
                1.0
            } else {
                0.0
            },
        );
    }
    let gap = item
        .measures
        .iter()
        .zip(&values)
        .map(|(m, v)| m.gap(v.unwrap_or(0.0)))
        .fold(0.0, f64::max);
    (
        if gap > 0.0 {
            CheckStatus::NotMet
        } else {
            CheckStatus::Met
        },
        gap,
    )
}

/// A checklist part: green when every indicator is met, red when any is not, else amber.
pub fn checklist_light(statuses: &[CheckStatus]) -> (Light, String) {
    let met = statuses.iter().filter(|s| **s == CheckStatus::Met).count();
    let not_met = statuses
        .iter()
        .filter(|s| **s == CheckStatus::NotMet)
        .count();
    let total = statuses.len();
    if met == total {
        (Light::Green, format!("{total} 项均已达标"))
    } else if not_met > 0 {
        (
            Light::Red,
            format!("{not_met} 项未达标，{met} / {total} 项已达标"),
        )
    } else {
        (
            Light::Amber,
            format!("{met} / {total} 项已达标，其余推进中或未填写"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn school(name: &str, kind: SchoolKind, pupils: f64, per_pupil: [f64; 7]) -> SchoolFigures {
        let resources = std::array::from_fn(|i| per_pupil[i] * pupils / Indicator::ALL[i].per());
        SchoolFigures {
            name: name.into(),
            kind,
            pupils,
            primary_pupils: 0.0,
            junior_pupils: 0.0,
            resources,
        }
    }

    const GOOD: [f64; 7] = [5.0, 1.2, 1.0, 5.0, 8.0, 2500.0, 2.5];

    #[test]
    fn a_school_passes_with_six_meeting_and_the_seventh_within_85_percent() {
        let mut v = GOOD;
        v[4] = 7.5 * 0.9; // sports space at 90% of the standard
        let (p, _) = parts(
            &[school("甲小", SchoolKind::Primary, 500.0, v)],
            SetAside::default(),
        );
        assert!(p[0].passes);
        assert_eq!(p[0].grades[4], 1);
        v[4] = 7.5 * 0.8; // 80%: short
        let (p, _) = parts(
            &[school("甲小", SchoolKind::Primary, 500.0, v)],
            SetAside::default(),
        );
        assert!(!p[0].passes);
        let mut two = GOOD;
        two[0] = 4.0;
        two[1] = 0.9; // two within 85%: only five meet
        let (p, _) = parts(
            &[school("乙小", SchoolKind::Primary, 500.0, two)],
            SetAside::default(),
        );
        assert!(!p[0].passes);
    }

    #[test]
    fn the_weighted_cv_is_computed_from_the_pooled_mean() {
        // Two primary schools: 900 pupils at 4.0 per 100, 100 pupils at 8.0 per 100.
        let a = school(
            "大校",
            SchoolKind::Primary,
            900.0,
            [4.0, 1.0, 1.0, 5.0, 8.0, 2000.0, 2.3],
        );
        let b = school(
            "小校",
            SchoolKind::Primary,
            100.0,
            [8.0, 1.0, 1.0, 5.0, 8.0, 2000.0, 2.3],
        );
        let (p, _) = parts(&[a, b], SetAside::default());
        let v = variation(&p, Indicator::QualifiedTeachers, Level::Primary);
        // x̄ = (36 + 8) / 1000 × 100 = 4.4; var = 0.9·0.16 + 0.1·12.96 = 1.44; CV = 1.2 / 4.4.
        assert!((v.mean - 4.4).abs() < 1e-9);
        assert!((v.cv.unwrap() - 1.2 / 4.4).abs() < 1e-9);
        assert!(v.passes);
        assert_eq!(v.contributions[0].0, "小校");
        // Unweighted, the two values 4 and 8 around their mean 6 give CV 2/6 ≈ 0.33; weighting
        // matters: here a tiny outlier school moves the unweighted CV far more.
        let unweighted = 2.0 / 6.0;
        assert!(v.cv.unwrap() < unweighted);
    }

    #[test]
    fn weighting_decides_pass_or_fail() {
        // A big school at the standard and a tiny one far above it: the unweighted CV fails
        // (values 1 and 4, mean 2.5, sd 1.5 → 0.6 > 0.5) but the weighted one passes.
        let big = school(
            "大校",
            SchoolKind::Primary,
            2000.0,
            [4.2, 1.0, 0.9, 4.5, 7.5, 2000.0, 2.3],
        );
        let mut v = [4.2, 4.0, 0.9, 4.5, 7.5, 2000.0, 2.3];
        v[1] = 4.0;
        let tiny = school("小校", SchoolKind::Primary, 60.0, v);
        let (p, _) = parts(&[big, tiny], SetAside::default());
        let var = variation(&p, Indicator::BackboneTeachers, Level::Primary);
        assert!(var.passes, "{:?}", var.cv);
        let unweighted_cv = 1.5 / 2.5;
        assert!(unweighted_cv > Level::Primary.cv_threshold());
    }

    #[test]
    fn nine_year_schools_split_by_pupils_and_every_school_counts_unless_a_rule_says() {
        let mut s = school("九年一贯", SchoolKind::NineYear, 1000.0, GOOD);
        s.primary_pupils = 600.0;
        s.junior_pupils = 400.0;
        let small = school("教学点", SchoolKind::Primary, 30.0, GOOD);
        let special = school("特校", SchoolKind::Special, 200.0, GOOD);
        let all = [s, small, special];
        let (p, apart) = parts(&all, SetAside::default());
        assert_eq!(
            p.len(),
            4,
            "the teaching point and the special school count"
        );
        assert!(apart.is_empty());
        assert_eq!(
            (p[0].level, p[0].pupils, p[0].share),
            (Level::Primary, 600.0, 0.6)
        );
        assert!((p[1].resources[0] - 0.4 * 50.0).abs() < 1e-9);
        assert_eq!((p[3].school.as_str(), p[3].level), ("特校", Level::Primary));
        let rule = SetAside::new(Some(50)).unwrap();
        let (p, apart) = parts(&all, rule);
        assert_eq!(p.len(), 3);
        assert_eq!(apart[0].name, "教学点");
        assert_eq!(rule.other(), SetAside::default());
        assert!(SetAside::new(Some(0)).is_err() && SetAside::new(Some(1001)).is_err());
    }

    #[test]
    fn a_small_school_moves_the_coefficient_and_both_ways_are_computed() {
        // A teaching point of 20 pupils with a large sports ground beside two schools at the
        // standard: counting it raises the sports-space CV.
        let mut v = GOOD;
        v[4] = 60.0; // m² per pupil
        let tiny = school("村教学点", SchoolKind::Primary, 20.0, v);
        let a = school("甲小", SchoolKind::Primary, 800.0, GOOD);
        let b = school("乙小", SchoolKind::Primary, 600.0, GOOD);
        let all = [a, b, tiny];
        let cv = |rule| {
            let (p, _) = parts(&all, rule);
            variation(&p, Indicator::SportsSpace, Level::Primary)
                .cv
                .unwrap()
        };
        let every = cv(SetAside::default());
        let without = cv(SetAside::default().other());
        assert!(every > without + 0.1, "{every} vs {without}");
    }

    #[test]
    fn checklist_figures_decide_met_or_not() {
        let g05 = &GUARANTEE[4];
        let figs = |k: &str| match k {
            "largest_primary_class" => Some(46.0),
            "largest_junior_class" => Some(48.0),
            _ => None,
        };
        let (s, gap) = judge(g05, CheckStatus::Met, &figs);
        assert_eq!(s, CheckStatus::NotMet);
        assert!((gap - 1.0 / 45.0).abs() < 1e-9);
        let (s, _) = judge(&QUALITY[0], CheckStatus::Unknown, &|_| Some(96.0));
        assert_eq!(s, CheckStatus::Met);
        // Without figures, what was recorded stands.
        assert_eq!(
            judge(&GUARANTEE[0], CheckStatus::InProgress, &|_| None).0,
            CheckStatus::InProgress
        );
        assert_eq!(
            checklist_light(&[CheckStatus::Met, CheckStatus::InProgress]).0,
            Light::Amber
        );
    }

    proptest! {
        #[test]
        fn scaling_every_resource_leaves_the_cv_unchanged(
            schools in proptest::collection::vec((60.0f64..3000.0, proptest::array::uniform7(0.1f64..10.0)), 1..12),
            k in 0.1f64..50.0,
        ) {
            let base: Vec<SchoolFigures> = schools.iter().enumerate().map(|(i, (n, v))| school(&format!("s{i}"), SchoolKind::Primary, *n, *v)).collect();
            let scaled: Vec<SchoolFigures> = base.iter().map(|s| SchoolFigures { resources: s.resources.map(|r| r * k), ..s.clone() }).collect();
            let (a, _) = parts(&base, SetAside::default());
            let (b, _) = parts(&scaled, SetAside::default());
            for ind in Indicator::ALL {
                let (x, y) = (variation(&a, ind, Level::Primary).cv.unwrap(), variation(&b, ind, Level::Primary).cv.unwrap());
                prop_assert!((x - y).abs() < 1e-9 * x.max(1.0));
            }
        }
    }
}

/// Why a line of the schools file was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

const COLUMNS: [(&str, &str); 12] = [
    ("school", "学校"),
    ("kind", "类型"),
    ("pupils", "学生数"),
    ("primary_pupils", "小学学生数"),
    ("junior_pupils", "初中学生数"),
    ("qualified_teachers", "高于规定学历教师数"),
    ("backbone_teachers", "骨干教师数"),
    ("pe_arts_teachers", "体育艺术专任教师数"),
    ("teaching_space_m2", "教学及辅助用房面积"),
    ("sports_space_m2", "体育运动场馆面积"),
    ("equipment_value_yuan", "教学仪器设备值"),
    ("multimedia_rooms", "网络多媒体教室数"),
];

/// The header of the downloadable template, in Chinese (the English codes are read too).
pub fn template_header() -> Vec<&'static str> {
    COLUMNS.iter().map(|(_, l)| *l).collect()
}

fn parse_kind(s: &str) -> Option<SchoolKind> {
    match s.trim() {
        "primary" | "小学" => Some(SchoolKind::Primary),
        "junior" | "初中" => Some(SchoolKind::Junior),
        "nine_year" | "九年一贯制" | "九年一贯" => Some(SchoolKind::NineYear),
        "special" | "特殊教育" | "特殊教育学校" => Some(SchoolKind::Special),
        _ => None,
    }
}

/// Checks the rows of a schools file (the first row is the header, English or Chinese).
/// Every bad row is reported by line; any error refuses the whole file.
pub fn parse_schools(rows: &[Vec<String>]) -> Result<Vec<SchoolFigures>, Vec<LineError>> {
    let err = |line: u64, column: Option<&str>, message: String| LineError {
        line,
        column: column.map(str::to_owned),
        message,
    };
    let Some(header) = rows.first() else {
        return Err(vec![err(1, None, "文件是空的".into())]);
    };
    let mut index = [usize::MAX; 12];
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        if let Some(c) = COLUMNS
            .iter()
            .position(|(code, label)| *code == h || *label == h)
        {
            index[c] = i;
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(index)
        .filter(|(_, i)| *i == usize::MAX)
        .map(|((code, _), _)| *code)
        .collect();
    if !missing.is_empty() {
        return Err(vec![err(
            1,
            None,
            format!("缺少列：{}", missing.join(", ")),
        )]);
    }
    let mut errors = Vec::new();
    let mut out: Vec<SchoolFigures> = Vec::new();
    for (n, row) in rows.iter().enumerate().skip(1) {
        let line = n as u64 + 1;
        let get = |c: usize| row.get(index[c]).map(|s| s.trim()).unwrap_or("");
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let before = errors.len();
        let name = get(0).to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(err(
                line,
                Some("school"),
                "学校名称须为 1–100 个字符".into(),
            ));
        } else if out.iter().any(|s| s.name == name) {
            errors.push(err(line, Some("school"), format!("学校“{name}”重复")));
        }
        let kind = parse_kind(get(1));
        if kind.is_none() {
            errors.push(err(
                line,
                Some("kind"),
                "类型须为 primary、junior、nine_year 或 special".into(),
            ));
        }
        let mut numbers = [0.0f64; 10];
        for (k, v) in numbers.iter_mut().enumerate() {
            let c = k + 2;
            let text = get(c).replace(',', "");
            let optional = matches!(c, 3 | 4) && kind != Some(SchoolKind::NineYear);
            if text.is_empty() && optional {
                continue;
            }
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => *v = x,
                _ => errors.push(err(
                    line,
                    Some(COLUMNS[c].0),
                    format!("{}须为非负数", COLUMNS[c].1),
                )),
            }
        }
        if numbers[0] <= 0.0 && errors.len() == before {
            errors.push(err(line, Some("pupils"), "学生数须大于 0".into()));
        }
        if kind == Some(SchoolKind::NineYear)
            && errors.len() == before
            && (numbers[1] + numbers[2] - numbers[0]).abs() > 0.5
        {
            errors.push(err(
                line,
                Some("primary_pupils"),
                "九年一贯制学校的小学、初中学生数之和须等于学生数".into(),
            ));
        }
        if errors.len() == before
            && let Some(kind) = kind
        {
            out.push(SchoolFigures {
                name,
                kind,
                pupils: numbers[0],
                primary_pupils: numbers[1],
                junior_pupils: numbers[2],
                resources: std::array::from_fn(|i| numbers[3 + i]),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if out.is_empty() {
        return Err(vec![err(2, None, "文件中没有任何学校".into())]);
    }
    Ok(out)
}
