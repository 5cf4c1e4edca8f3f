//! The whole evaluation of a county in one view: resources (per school, and the difference
//! coefficients), the government-guarantee and quality checklists, and recognition from the
//! survey — each part green, amber or red with its reason, and every shortfall ordered by how
//! far it is from the standard. One typed shape for the page, the JSON API and the workbook.
use super::{
    CheckRecord, CheckStatus, ChecklistItem, GUARANTEE, Indicator, Level, Light, QUALITY,
    SchoolFigures, SchoolPart, SetAside, Variation, checklist_light, judge, parts, resources_light,
    variation, variations,
};
use crate::domain::account::County;
use crate::domain::estimate::{Outlook, chance};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which part of the evaluation a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Resources,
    Guarantee,
    Quality,
    Recognition,
}

impl Part {
    pub fn label(self) -> &'static str {
        match self {
            Part::Resources => "资源配置",
            Part::Guarantee => "政府保障程度",
            Part::Quality => "教育质量",
            Part::Recognition => "社会认可度",
        }
    }
}

/// A part's judgement, for the overview.
#[derive(Debug, Clone, Serialize)]
pub struct PartSummary {
    pub part: Part,
    pub label: &'static str,
    pub light: Light,
    pub light_label: &'static str,
    pub reason: String,
}

/// How a school part stands on one indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Short,
    Within,
    Meets,
}

impl Grade {
    fn of(g: u8) -> Grade {
        match g {
            2 => Grade::Meets,
            1 => Grade::Within,
            _ => Grade::Short,
        }
    }
}

/// What a school part lacks on one indicator to meet its standard.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    pub code: &'static str,
    pub label: &'static str,
    pub standard: f64,
    pub value: f64,
    pub resource_needed: f64,
}

/// One school (or one level of a nine-year school) on the school × indicator grid.
#[derive(Debug, Clone, Serialize)]
pub struct SchoolLine {
    pub school: String,
    pub level: Level,
    pub level_label: &'static str,
    pub pupils: f64,
    pub share: f64,
    pub passes: bool,
    /// Per indicator code.
    pub values: BTreeMap<&'static str, f64>,
    /// Each value as shown: enough digits that one short of its standard never reads as equal.
    pub shown: BTreeMap<&'static str, String>,
    pub grades: BTreeMap<&'static str, Grade>,
    pub needs: Vec<Need>,
}

impl SchoolLine {
    fn of(p: &SchoolPart) -> SchoolLine {
        let mut values = BTreeMap::new();
        let mut shown = BTreeMap::new();
        let mut grades = BTreeMap::new();
        let mut needs = Vec::new();
        for (i, ind) in Indicator::ALL.iter().enumerate() {
            values.insert(ind.code(), p.values[i]);
            shown.insert(ind.code(), figure(p.values[i], ind.standard(p.level), 2));
            grades.insert(ind.code(), Grade::of(p.grades[i]));
            if p.grades[i] < 2 {
                needs.push(Need {
                    code: ind.code(),
                    label: ind.label(),
                    standard: ind.standard(p.level),
                    value: p.values[i],
                    resource_needed: ind.resource_for(p.level, p.pupils) - p.resources[i],
                });
            }
        }
        SchoolLine {
            school: p.school.clone(),
            level: p.level,
            level_label: p.level.label(),
            pupils: p.pupils,
            share: p.share,
            passes: p.passes,
            values,
            shown,
            grades,
            needs,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Contributor {
    pub school: String,
    pub share: f64,
}

/// One indicator's difference coefficient at one level.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorLine {
    pub code: &'static str,
    pub label: &'static str,
    pub level: Level,
    pub level_label: &'static str,
    pub schools: usize,
    pub mean: f64,
    pub cv: Option<f64>,
    /// The coefficient as shown: enough digits not to read as equal to the threshold.
    pub cv_shown: Option<String>,
    pub threshold: f64,
    pub passes: bool,
    /// The coefficient the other way (see [`SetAside::other`]), and whether it would pass.
    pub cv_other: Option<f64>,
    pub cv_other_shown: Option<String>,
    pub passes_other: bool,
    /// The schools that move the coefficient most.
    pub top_contributors: Vec<Contributor>,
}

/// `value` with `digits` decimals, or with as many more (up to six) as it takes not to read as
/// equal to `limit` when it is not: 2.396 against 2.4 shows 2.396, not 2.40.
pub fn figure(value: f64, limit: f64, digits: usize) -> String {
    for d in digits..=6 {
        let shown = format!("{value:.d$}");
        if (value - limit).abs() < 1e-9 || shown != format!("{limit:.d$}") {
            return shown;
        }
    }
    format!("{value:.6}")
}

impl IndicatorLine {
    fn of(v: &Variation, other: &Variation) -> IndicatorLine {
        IndicatorLine {
            code: v.indicator.code(),
            label: v.indicator.label(),
            level: v.level,
            level_label: v.level.label(),
            schools: v.schools,
            mean: v.mean,
            cv: v.cv,
            cv_shown: v.cv.map(|c| figure(c, v.threshold, 3)),
            threshold: v.threshold,
            passes: v.passes,
            cv_other: other.cv,
            cv_other_shown: other.cv.map(|c| figure(c, other.threshold, 3)),
            passes_other: other.passes,
            top_contributors: v
                .contributions
                .iter()
                .take(3)
                .map(|(school, share)| Contributor {
                    school: school.clone(),
                    share: *share,
                })
                .collect(),
        }
    }
}

/// A school listed apart (not scored), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Apart {
    pub school: String,
    pub pupils: f64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub light: Light,
    pub light_label: &'static str,
    pub reason: String,
    pub indicators: Vec<IndicatorLine>,
    pub schools: Vec<SchoolLine>,
    pub apart: Vec<Apart>,
    pub method: &'static str,
    /// The county's rule for small schools, and the other way the coefficients are shown.
    pub rule: SetAside,
    pub rule_label: String,
    pub other_rule_label: String,
}

/// A figure behind a checklist indicator, with what was entered for it.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureLine {
    pub key: &'static str,
    pub label: &'static str,
    pub at_least: bool,
    pub threshold: f64,
    pub unit: &'static str,
    pub value: Option<f64>,
}

/// One checklist indicator: what is required, who leads, what was recorded, how it stands.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub code: &'static str,
    pub number: usize,
    pub standard: &'static str,
    pub lead: &'static str,
    pub responsible: &'static str,
    pub status: CheckStatus,
    pub status_label: &'static str,
    pub recorded: CheckStatus,
    /// Judged from its figures rather than as recorded.
    pub computed: bool,
    pub note: String,
    pub attachments: Vec<String>,
    pub measures: Vec<MeasureLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checklist {
    pub light: Light,
    pub light_label: &'static str,
    pub reason: String,
    pub items: Vec<CheckLine>,
}

/// What the survey tells the readiness view: its latest opened survey's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyResult {
    pub survey_id: i32,
    pub name: String,
    pub respondents: i64,
    /// The estimate of the official result, its interval and where it stands.
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub probability: Option<f64>,
    pub status: Outlook,
    pub target: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recognition {
    pub light: Light,
    pub light_label: &'static str,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Option<(f64, f64)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Outlook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
}

/// A gap to close, with how far it is from the standard (as a share of it).
#[derive(Debug, Clone, Serialize)]
pub struct Shortfall {
    pub part: Part,
    pub what: String,
    pub gap: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorName {
    pub code: &'static str,
    pub label: &'static str,
}

/// The readiness of a county for one year.
#[derive(Debug, Clone, Serialize)]
pub struct ReadinessView {
    pub county: County,
    pub year: i32,
    pub parts: Vec<PartSummary>,
    pub resources: Resources,
    pub guarantee: Checklist,
    pub quality: Checklist,
    pub recognition: Recognition,
    /// Largest gap first.
    pub shortfalls: Vec<Shortfall>,
    pub indicators: Vec<IndicatorName>,
}

const METHOD: &str = "九年一贯制学校（以及分学段填报的特殊教育学校）按小学、初中学生数拆分，资源按同一比例分配；未分学段的特殊教育学校按小学计；差异系数 CV = √(Σ(nᵢ/N)(xᵢ − x̄)²) / x̄，x̄ 为全县合计资源除以合计学生数。";

fn checklist(
    items: &[ChecklistItem],
    records: &BTreeMap<String, CheckRecord>,
    shortfalls: &mut Vec<Shortfall>,
    part: Part,
) -> Checklist {
    let mut statuses = Vec::new();
    let lines = items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let record = records.get(item.code);
            let recorded = record.map_or(CheckStatus::Unknown, |r| r.status);
            let figure = |k: &str| record.and_then(|r| r.figures.get(k).copied());
            let (status, gap) = judge(item, recorded, &figure);
            statuses.push(status);
            if status == CheckStatus::NotMet {
                shortfalls.push(Shortfall {
                    part,
                    what: format!("{}. {}", n + 1, item.standard),
                    gap: gap.max(0.01),
                });
            }
            CheckLine {
                code: item.code,
                number: n + 1,
                standard: item.standard,
                lead: item.lead,
                responsible: item.responsible,
                status,
                status_label: status.label(),
                recorded,
                computed: !item.measures.is_empty()
                    && item.measures.iter().all(|m| figure(m.key).is_some()),
                note: record.map(|r| r.note.clone()).unwrap_or_default(),
                attachments: record.map(|r| r.attachments.clone()).unwrap_or_default(),
                measures: item
                    .measures
                    .iter()
                    .map(|m| MeasureLine {
                        key: m.key,
                        label: m.label,
                        at_least: m.at_least,
                        threshold: m.threshold,
                        unit: m.unit,
                        value: figure(m.key),
                    })
                    .collect(),
            }
        })
        .collect();
    let (light, reason) = checklist_light(&statuses);
    Checklist {
        light,
        light_label: light.label(),
        reason,
        items: lines,
    }
}

fn recognition(survey: Option<&SurveyResult>, shortfalls: &mut Vec<Shortfall>) -> Recognition {
    let Some(s) = survey else {
        return Recognition {
            light: Light::Red,
            light_label: Light::Red.label(),
            reason: "尚未开展社会认可度调查".into(),
            survey_id: None,
            rate: None,
            interval: None,
            status: None,
            target: None,
        };
    };
    let light = match s.status {
        Outlook::Passing => Light::Green,
        Outlook::LikelyPassing => Light::Amber,
        Outlook::LikelyFailing | Outlook::Failing | Outlook::NoData => Light::Red,
    };
    if let Some(rate) = s.rate
        && rate < s.target
    {
        shortfalls.push(Shortfall {
            part: Part::Recognition,
            what: format!(
                "社会认可度 {:.1}%，目标 {:.0}%",
                rate * 100.0,
                s.target * 100.0
            ),
            gap: (s.target - rate) / s.target,
        });
    }
    let reason = match s.rate {
        Some(rate) => format!(
            "{}：预测正式测评认可率 {:.1}%（{}，达标概率 {}），{} 份答卷",
            s.name,
            rate * 100.0,
            s.status.label(),
            s.probability.map_or("—".to_owned(), chance),
            s.respondents
        ),
        None => format!("{}：暂无答卷", s.name),
    };
    Recognition {
        light,
        light_label: light.label(),
        reason,
        survey_id: Some(s.survey_id),
        rate: Some(s.rate),
        interval: Some(s.interval),
        status: Some(s.status),
        target: Some(s.target),
    }
}

impl ReadinessView {
    /// The view from the county's school figures, its checklist records for the year (by code)
    /// and its latest opened survey.
    pub fn build(
        county: County,
        year: i32,
        schools: &[SchoolFigures],
        records: &BTreeMap<String, CheckRecord>,
        survey: Option<&SurveyResult>,
        rule: SetAside,
    ) -> ReadinessView {
        let (scored, apart) = parts(schools, rule);
        let vars = variations(&scored);
        let (other_scored, _) = parts(schools, rule.other());
        let mut shortfalls = Vec::new();
        for v in &vars {
            if let Some(cv) = v.cv
                && !v.passes
            {
                shortfalls.push(Shortfall {
                    part: Part::Resources,
                    what: format!(
                        "{}{}差异系数 {}，要求不超过 {:.2}",
                        v.level.label(),
                        v.indicator.label(),
                        figure(cv, v.threshold, 3),
                        v.threshold
                    ),
                    gap: (cv - v.threshold) / v.threshold,
                });
            }
        }
        for p in scored.iter().filter(|p| !p.passes) {
            for (i, ind) in Indicator::ALL.iter().enumerate() {
                if p.grades[i] < 2 {
                    let standard = ind.standard(p.level);
                    shortfalls.push(Shortfall {
                        part: Part::Resources,
                        what: format!(
                            "{}（{}）{} {}，标准 {}",
                            p.school,
                            p.level.label(),
                            ind.label(),
                            figure(p.values[i], standard, 2),
                            standard
                        ),
                        gap: (standard - p.values[i]) / standard,
                    });
                }
            }
        }
        let (light, reason) = resources_light(&scored, &vars);
        let resources = Resources {
            light,
            light_label: light.label(),
            reason,
            indicators: vars
                .iter()
                .map(|v| IndicatorLine::of(v, &variation(&other_scored, v.indicator, v.level)))
                .collect(),
            schools: scored.iter().map(SchoolLine::of).collect(),
            apart: apart
                .iter()
                .map(|s| Apart {
                    school: s.name.clone(),
                    pupils: s.pupils,
                    reason: rule.label(),
                })
                .collect(),
            method: METHOD,
            rule,
            rule_label: rule.label(),
            other_rule_label: rule.other().label(),
        };
        let guarantee = checklist(&GUARANTEE, records, &mut shortfalls, Part::Guarantee);
        let quality = checklist(&QUALITY, records, &mut shortfalls, Part::Quality);
        let recognition = recognition(survey, &mut shortfalls);
        shortfalls.sort_by(|a, b| {
            b.gap
                .partial_cmp(&a.gap)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let summary = |part: Part, light: Light, reason: &str| PartSummary {
            part,
            label: part.label(),
            light,
            light_label: light.label(),
            reason: reason.to_owned(),
        };
        let parts = vec![
            summary(Part::Resources, resources.light, &resources.reason),
            summary(Part::Guarantee, guarantee.light, &guarantee.reason),
            summary(Part::Quality, quality.light, &quality.reason),
            summary(Part::Recognition, recognition.light, &recognition.reason),
        ];
        ReadinessView {
            county,
            year,
            parts,
            resources,
            guarantee,
            quality,
            recognition,
            shortfalls,
            indicators: Indicator::ALL
                .iter()
                .map(|i| IndicatorName {
                    code: i.code(),
                    label: i.label(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_figure_short_of_its_limit_never_reads_as_equal() {
        assert_eq!(figure(2.396, 2.4, 2), "2.396");
        assert_eq!(figure(2.4, 2.4, 2), "2.40");
        assert_eq!(figure(2.41, 2.4, 2), "2.41");
        assert_eq!(figure(0.5004, 0.5, 3), "0.5004");
        assert_eq!(figure(0.3, 0.5, 3), "0.300");
    }

    use super::*;

    #[test]
    fn an_empty_county_is_red_everywhere_and_lists_nothing_to_fix_in_resources() {
        let county = County {
            id: 1,
            name: "甲县".into(),
        };
        let v = ReadinessView::build(
            county,
            2026,
            &[],
            &BTreeMap::new(),
            None,
            SetAside::default(),
        );
        assert_eq!(v.parts.len(), 4);
        assert_eq!(v.parts[0].light, Light::Red);
        assert_eq!(v.recognition.reason, "尚未开展社会认可度调查");
        assert!(v.resources.schools.is_empty());
        let json = serde_json::to_value(&v).unwrap();
        assert!(json["recognition"].get("survey_id").is_none());
        assert_eq!(json["parts"][3]["part"], "recognition");
    }

    #[test]
    fn a_survey_below_target_is_a_shortfall_of_recognition() {
        let county = County {
            id: 1,
            name: "甲县".into(),
        };
        let survey = SurveyResult {
            survey_id: 7,
            name: "调查".into(),
            respondents: 100,
            rate: Some(0.80),
            interval: Some((0.75, 0.85)),
            probability: Some(0.01),
            status: Outlook::Failing,
            target: 0.85,
        };
        let v = ReadinessView::build(
            county,
            2026,
            &[],
            &BTreeMap::new(),
            Some(&survey),
            SetAside::default(),
        );
        assert_eq!(v.recognition.light, Light::Red);
        let s = v
            .shortfalls
            .iter()
            .find(|s| s.part == Part::Recognition)
            .unwrap();
        assert!((s.gap - 0.05 / 0.85).abs() < 1e-12);
        assert_eq!(s.what, "社会认可度 80.0%，目标 85%");
    }
}
