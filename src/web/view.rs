//! How surveys and plans are shown: one serialisable shape for the JSON API and the pages.
use crate::domain::group::RespondentGroup;
use crate::domain::quota::{QuotaSummary, SamplePlan, thousands};
use crate::domain::survey::{Phase, Survey};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A decimal such as "1304.322" with its integer part grouped: "1,304.322".
fn thousands_decimal(text: &str) -> String {
    match text.split_once('.') {
        Some((whole, frac)) => format!("{}.{frac}", thousands(whole.parse().unwrap_or(0))),
        None => thousands(text.parse().unwrap_or(0)),
    }
}

#[derive(Debug, Serialize)]
pub struct PlanLine {
    pub group: RespondentGroup,
    pub label: &'static str,
    pub booklet: &'static str,
    pub base: u64,
    pub quota: u64,
    pub frame: Option<u64>,
    pub capped: bool,
    pub received: u64,
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub total: u64,
    pub by_rate: u64,
    pub floor_applied: bool,
    /// Quota per group code, as `GET /api/v1/quota` gives it.
    pub groups: BTreeMap<&'static str, u64>,
    pub lines: Vec<PlanLine>,
    pub capped: Vec<RespondentGroup>,
    pub unfilled: u64,
    /// The arithmetic spelled out, one step a line (Chinese).
    pub steps: Vec<String>,
}

impl PlanView {
    pub fn new(survey: &Survey, plan: &SamplePlan) -> Self {
        let p = &survey.settings.plan;
        let mut steps = Vec::new();
        let rate = p.rate.to_string();
        let exact = thousands_decimal(&p.exact_rate_product());
        if p.floor > 0 {
            steps.push(format!(
                "样本量 n = max(⌈P × r⌉, 下限) = max(⌈{} × {rate}‰⌉, {}) = max({}, {}) = {}",
                thousands(p.population),
                thousands(p.floor),
                thousands(plan.by_rate),
                thousands(p.floor),
                thousands(plan.total)
            ));
        } else {
            steps.push(format!(
                "样本量 n = ⌈P × r⌉ = ⌈{} × {rate}‰⌉ = ⌈{exact}⌉ = {}",
                thousands(p.population),
                thousands(plan.total)
            ));
        }
        steps.push(format!(
            "家长 p = ⌈n × s⌉ = ⌈{} × {}⌉ = ⌈{}⌉ = {}",
            thousands(plan.total),
            p.parent_share.fraction(),
            thousands_decimal(&p.exact_parent_product()),
            thousands(plan.parents_base)
        ));
        let mut others = format!(
            "其余 n − p = {} − {} = {}，平均分给六类：⌊{} ÷ 6⌋ = {}",
            thousands(plan.total),
            thousands(plan.parents_base),
            thousands(plan.others_total),
            thousands(plan.others_total),
            thousands(plan.others_each)
        );
        if plan.others_remainder > 0 {
            let first: Vec<&str> = RespondentGroup::OTHERS
                .iter()
                .take(plan.others_remainder as usize)
                .map(|g| g.label())
                .collect();
            others.push_str(&format!(
                "，余 {}，按固定顺序由{}各多 1 人",
                plan.others_remainder,
                first.join("、")
            ));
        }
        steps.push(others);
        for line in plan.groups.values().filter(|g| g.capped) {
            steps.push(format!(
                "{}名册仅 {} 人，少于配额 {}，配额降为 {}；差额按固定顺序轮流分给仍有余量的群体",
                line.group.label(),
                thousands(line.frame.unwrap_or(0)),
                thousands(line.base),
                thousands(line.quota)
            ));
        }
        if plan.unfilled > 0 {
            steps.push(format!(
                "各群体名册均已用尽，仍有 {} 个名额无法分配",
                thousands(plan.unfilled)
            ));
        }
        PlanView {
            total: plan.total,
            by_rate: plan.by_rate,
            floor_applied: plan.floor_applied,
            groups: QuotaSummary::from(plan).groups,
            lines: plan
                .groups
                .values()
                .map(|g| PlanLine {
                    group: g.group,
                    label: g.group.label(),
                    booklet: g.group.booklet().label(),
                    base: g.base,
                    quota: g.quota,
                    frame: g.frame,
                    capped: g.capped,
                    received: g.received,
                })
                .collect(),
            capped: plan.capped_groups().collect(),
            unfilled: plan.unfilled,
            steps,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SurveyView {
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub population: u64,
    pub rate_permille: f64,
    pub parent_share: f64,
    pub floor: u64,
    pub target: f64,
    pub estimator: &'static str,
    pub estimator_label: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    /// Where the window stands now: draft, not_started, answering, ended, closed.
    pub phase: &'static str,
    pub phase_label: &'static str,
    pub editable: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Languages offered besides Chinese.
    pub languages: Vec<String>,
    pub plan: PlanView,
}

impl SurveyView {
    pub fn new(survey: &Survey) -> Self {
        Self::with_plan(survey, &SamplePlan::compute(&survey.settings.plan))
    }

    /// With a plan that knows the roster sizes (group caps applied).
    pub fn with_plan(survey: &Survey, plan: &SamplePlan) -> Self {
        let s = &survey.settings;
        let phase = Phase::of(survey.status, s.window, Utc::now());
        SurveyView {
            id: survey.id,
            county_id: survey.county_id,
            name: s.name.clone(),
            population: s.plan.population,
            rate_permille: s.plan.rate.permille(),
            parent_share: s.plan.parent_share.fraction().as_f64(),
            floor: s.plan.floor,
            target: s.target.fraction().as_f64(),
            estimator: s.estimator.code(),
            estimator_label: s.estimator.label(),
            status: survey.status.code(),
            status_label: survey.status.label(),
            phase: phase.code(),
            phase_label: phase.label(),
            editable: survey.status.editable(),
            archived_at: survey.archived_at,
            opens_at: s.window.opens_at,
            closes_at: s.window.closes_at,
            created_at: survey.created_at,
            updated_at: survey.updated_at,
            languages: survey.languages.clone(),
            plan: PlanView::new(survey, plan),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(super::thousands(869_548), "869,548");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands_decimal("1304.322"), "1,304.322");
    }
}
