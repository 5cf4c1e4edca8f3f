//! The estimate of the official result (SPEC.md "Estimate of the official result"): the county's
//! respondents weighted to the composition of the official sample, its variance by Taylor
//! linearisation, the probability that the official survey reaches the target, and how the
//! estimate moves under other readings of the same answers.
//!
//! Weighting cell c = (group, area class). Target share T_c = the plan's quotas of the group's
//! strata in that class ÷ the plan's total; m_c respondents; weight w_i = T_c / m_c. Every
//! respondent of a cell has the same weight, so everything here is computed from each cell's
//! sums (n, Σx, Σy, Σx², Σy², Σxy), never from the responses themselves.
use super::geography::AreaScope;
use super::group::RespondentGroup;
use super::response::Source;
use super::strata::{AreaClass, FullPlan};
use super::tally::{SourceKey, SourceSums, Sums};
use serde::Serialize;
use std::collections::BTreeMap;

const Z95: f64 = 1.96;

/// The method, written out for the report and the workbook.
pub const METHOD: [(&str, &str); 6] = [
    (
        "加权",
        "正式测评按同样规则组成样本（各群体按计划占比、各乡镇按人口比例）。把答卷按“群体 × 城乡类别”分格，每格的目标占比 T = 该格计划配额 ÷ 计划总量，每份答卷的权重 w = T ÷ 该格答卷数；没有答卷的格子不参与，其余权重按比例放大。",
    ),
    (
        "加权认可率",
        "R = Σ wᵢyᵢ ÷ Σ wᵢxᵢ，xᵢ 为第 i 人计入的题数（“不了解”不计入），yᵢ 为其中认可（满意、比较满意）的题数。",
    ),
    (
        "方差",
        "泰勒线性化，每格为一层、每人为一个群：zᵢ = wᵢ(yᵢ − R·xᵢ)，v = Σ（各格）mₖ/(mₖ−1)·Σ(zᵢ − z̄ₖ)² ÷ (Σ wᵢxᵢ)²，mₖ 为该格答卷数；95% 区间 R ± 1.96√v，截取在 [0, 1]。设计效应 = v ÷ 简单随机抽样方差，有效样本 = 答卷数 ÷ 设计效应。",
    ),
    (
        "预测",
        "正式测评样本 n = 计划总量。其认可率按均值 R、方差 v + v·M/n 的正态分布预测（M 为本次参与加权的答卷总数），预测范围 R ± 1.96√(v + v·M/n)，达到目标的概率 p = Φ((R − 目标) ÷ √(v + v·M/n))。",
    ),
    (
        "判断",
        "p ≥ 95% 稳定达标；50% ≤ p < 95% 可能达标；5% ≤ p < 50% 可能不达标；p < 5% 不达标。",
    ),
    (
        "敏感性",
        "同一算法换一种读法重算：“不了解”计为不认可；排除疑似无效答卷；只看抽样邀请链接的答卷；只看开放二维码的答卷。题目和人数少的格子用 Wilson 区间。",
    ),
];

/// A weighting cell: a group in one area class (no class where the plan has no areas, or for
/// answers of an early version that did not ask the area).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WeightingCell {
    pub group: RespondentGroup,
    pub class: Option<AreaClass>,
}

impl WeightingCell {
    pub fn label(&self) -> String {
        match self.class {
            Some(c) => format!("{}·{}", self.group.label(), c.label()),
            None => format!("{}·未分城乡", self.group.label()),
        }
    }
}

/// A cell's target share and the sums of its respondents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellInput {
    pub cell: WeightingCell,
    /// T_c: the cell's share of the plan (Σ over cells is 1 when the plan is complete).
    pub target_share: f64,
    pub sums: Sums,
}

/// Where the prediction stands: the probability p that the official survey reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outlook {
    /// p ≥ 0.95.
    Passing,
    /// 0.5 ≤ p < 0.95.
    LikelyPassing,
    /// 0.05 ≤ p < 0.5.
    LikelyFailing,
    /// p < 0.05.
    Failing,
    /// No counted answer yet.
    NoData,
}

impl Outlook {
    pub fn of(p: Option<f64>) -> Outlook {
        match p {
            None => Outlook::NoData,
            Some(p) if p >= 0.95 => Outlook::Passing,
            Some(p) if p >= 0.5 => Outlook::LikelyPassing,
            Some(p) if p >= 0.05 => Outlook::LikelyFailing,
            Some(_) => Outlook::Failing,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outlook::Passing => "稳定达标",
            Outlook::LikelyPassing => "可能达标",
            Outlook::LikelyFailing => "可能不达标",
            Outlook::Failing => "不达标",
            Outlook::NoData => "暂无数据",
        }
    }

    /// What the status means, in a sentence a bureau reads.
    pub fn meaning(self) -> &'static str {
        match self {
            Outlook::Passing => {
                "按目前的答卷推算，正式测评达到目标的把握在 95% 以上；仍要保持，防止后期松动。"
            }
            Outlook::LikelyPassing => {
                "正式测评更可能达标，但没有把握：仅凭抽样的随机波动，结果也可能落到目标以下。"
            }
            Outlook::LikelyFailing => {
                "正式测评更可能达不到目标：需要在认可率低的题目、群体和学校上改进。"
            }
            Outlook::Failing => "按目前的答卷推算，正式测评几乎不可能达到目标（把握不足 5%）。",
            Outlook::NoData => "还没有可计入的答卷。",
        }
    }
}

/// The weighted estimate of one set of respondents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighted {
    pub rate: f64,
    pub interval: (f64, f64),
    pub standard_error: f64,
    /// v / v_srs (none when the simple-random-sample variance is 0).
    pub design_effect: Option<f64>,
    /// m / deff.
    pub effective_n: Option<f64>,
    /// Respondents in cells that carry weight (m).
    pub respondents: i64,
    /// The share of the plan (Σ T_c) in cells without a respondent.
    pub uncovered_share: f64,
    /// Where the official survey's rate is predicted to fall (95%): R_w ± 1.96·√(v + v·m/n_off).
    pub prediction_interval: (f64, f64),
    /// p = Φ((R_w − t) / √(v + v·m/n_off)).
    pub probability_reaching_target: f64,
    pub status: Outlook,
}

/// The weighted estimate R_w = Σ w_i y_i / Σ w_i x_i with its Taylor variance and the
/// prediction for an official sample of `official_sample` respondents against `target`.
/// `None` when no respondent with a counted answer is in a cell that carries weight.
pub fn weighted(cells: &[CellInput], official_sample: u64, target: f64) -> Option<Weighted> {
    let covered = |c: &&CellInput| c.sums.n > 0 && c.target_share > 0.0;
    let uncovered_share = sum(cells
        .iter()
        .filter(|c| c.sums.n == 0)
        .map(|c| c.target_share));
    let total_share = sum(cells.iter().filter(covered).map(|c| c.target_share));
    if total_share <= 0.0 {
        return None;
    }
    // Weights scaled to sum to 1 over the covered cells: w = T_c / (Σ T_covered · m_c).
    let weight = |c: &CellInput| c.target_share / total_share / c.sums.n as f64;
    let (mut wx, mut wy) = (0.0, 0.0);
    let mut pooled = Sums::default();
    for c in cells.iter().filter(covered) {
        wx += weight(c) * c.sums.x as f64;
        wy += weight(c) * c.sums.y as f64;
        pooled.add(&c.sums);
    }
    if wx <= 0.0 {
        return None;
    }
    let rate = wy / wx;
    let mut v = 0.0;
    for c in cells.iter().filter(covered).filter(|c| c.sums.n > 1) {
        let s = &c.sums;
        let m = s.n as f64;
        let w = weight(c);
        // Σ (d_i − d̄)² with d_i = y_i − R x_i, from the sums.
        let dd = s.yy as f64 - 2.0 * rate * s.xy as f64 + rate * rate * s.xx as f64;
        let d = s.y as f64 - rate * s.x as f64;
        let spread = (dd - d * d / m).max(0.0);
        v += m / (m - 1.0) * w * w * spread;
    }
    v /= wx * wx;
    let m = pooled.n;
    let v_srs = pooled.pooled_variance();
    let design_effect = v_srs.filter(|s| *s > 0.0).map(|s| v / s);
    let effective_n = design_effect.filter(|d| *d > 0.0).map(|d| m as f64 / d);
    let predicted = v + v * m as f64 / official_sample.max(1) as f64;
    let p = probability_at_least(rate, predicted, target);
    Some(Weighted {
        rate,
        interval: normal_interval(rate, v),
        standard_error: v.sqrt(),
        design_effect,
        effective_n,
        respondents: m,
        uncovered_share,
        prediction_interval: normal_interval(rate, predicted),
        probability_reaching_target: p,
        status: Outlook::of(Some(p)),
    })
}

/// A probability as a percentage that never reads as certain: 0.9996 → 高于 99.9%.
pub fn chance(p: f64) -> String {
    if p > 0.999 {
        "高于 99.9%".into()
    } else if p < 0.001 {
        "低于 0.1%".into()
    } else {
        format!("{:.1}%", p * 100.0)
    }
}

/// A sum that is +0 when empty (the standard one is −0 for floats).
fn sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |a, b| a + b)
}

/// P(X ≥ target) for X normal with `mean` and `variance` (a point mass when the variance is 0).
pub fn probability_at_least(mean: f64, variance: f64, target: f64) -> f64 {
    if variance > 0.0 {
        normal_cdf((mean - target) / variance.sqrt())
    } else if mean > target {
        1.0
    } else if mean < target {
        0.0
    } else {
        0.5
    }
}

/// Φ, the standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// The Wilson score 95% interval of `successes` out of `n` (successes may be a rate × n);
/// never a single point, at 0% and 100% too.
pub fn wilson(successes: f64, n: f64) -> Option<(f64, f64)> {
    if n <= 0.0 {
        return None;
    }
    let p = (successes / n).clamp(0.0, 1.0);
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// A group's weight in the group-weighted rate is its planned share, reduced in proportion for
/// groups with fewer than this many respondents (one answer must not speak for a whole group).
pub const FULL_WEIGHT_AT: i64 = 5;

/// The group-weighted rate Σ w_g R_g / Σ w_g over the groups with a rate, with w_g the group's
/// planned share × min(1, m_g / 5), and its linearised variance Σ w_g² var(R_g) / (Σ w_g)²
/// (var(R_g) by the pooled formula; ¼, the largest a proportion has, for a lone respondent).
pub fn group_weighted(groups: &[(f64, Sums)]) -> Option<(f64, f64)> {
    let mut weight = 0.0;
    let mut total = 0.0;
    let mut var = 0.0;
    for (share, s) in groups {
        if let Some(r) = s.pooled()
            && *share > 0.0
        {
            let w = share * (s.n.min(FULL_WEIGHT_AT) as f64 / FULL_WEIGHT_AT as f64);
            weight += w;
            total += w * r;
            var += w * w * s.pooled_variance().unwrap_or(0.25);
        }
    }
    (weight > 0.0).then(|| (total / weight, var / (weight * weight)))
}

/// An interval of `rate` ± 1.96·√`variance`, clipped to [0, 1].
pub fn normal_interval(rate: f64, variance: f64) -> (f64, f64) {
    let half = Z95 * variance.max(0.0).sqrt();
    ((rate - half).max(0.0), (rate + half).min(1.0))
}

/// Which answers a reading of the survey takes, and how it counts 不了解.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    exclude_flagged: bool,
    /// Only the answers of these sources (every source when empty).
    sources: &'static [Source],
    unknown_as_not_recognised: bool,
}

/// One line of the sensitivity panel: the same estimator on another reading of the answers.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityLine {
    pub code: &'static str,
    pub label: &'static str,
    pub respondents: i64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub probability_reaching_target: Option<f64>,
    pub status: Outlook,
    pub status_label: &'static str,
    /// The rate minus the headline's.
    pub change: Option<f64>,
}

/// The sensitivity values of SPEC's JSON: each a rate, or null where it has no respondent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sensitivity {
    pub unknown_as_not_recognised: Option<f64>,
    pub excluding_flagged: Option<f64>,
    pub invitations_only: Option<f64>,
    pub channels_only: Option<f64>,
    pub online_only: Option<f64>,
    pub phone_only: Option<f64>,
    pub paper_only: Option<f64>,
}

/// A weighting cell as the estimate used it.
#[derive(Debug, Clone, Serialize)]
pub struct CellLine {
    pub group: &'static str,
    pub class: Option<&'static str>,
    pub label: String,
    pub target_share: f64,
    pub respondents: i64,
    /// Each respondent's weight relative to an unweighted sample (1 = as many as the plan
    /// asks for in proportion); none without respondents.
    pub relative_weight: Option<f64>,
}

/// `official_estimate` of the tally (SPEC.md "Estimate of the official result").
#[derive(Debug, Clone, Serialize)]
pub struct OfficialEstimate {
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub standard_error: Option<f64>,
    pub design_effect: Option<f64>,
    pub effective_n: Option<f64>,
    pub uncovered_share: f64,
    pub official_sample: u64,
    /// Where the official survey's rate is predicted to fall, with 95% probability.
    pub prediction_interval: Option<(f64, f64)>,
    pub probability_reaching_target: Option<f64>,
    pub status: Outlook,
    pub status_label: &'static str,
    pub meaning: &'static str,
    pub target: f64,
    /// Respondents in cells that carry weight, and those in none (an answer without a known
    /// area class where the plan has areas).
    pub respondents: i64,
    pub unweighted_respondents: i64,
    pub sensitivity: Sensitivity,
    pub sensitivity_lines: Vec<SensitivityLine>,
    pub cells: Vec<CellLine>,
}

/// The answers' sums per source cell, with the area class of each area.
pub struct EstimateInputs<'a> {
    pub plan: &'a FullPlan,
    pub sources: &'a BTreeMap<SourceKey, SourceSums>,
    /// Leave flagged answers out of every reading (the dashboard's switch).
    pub exclude_flagged: bool,
    pub target: f64,
}

impl OfficialEstimate {
    pub fn build(input: &EstimateInputs<'_>) -> OfficialEstimate {
        let plan = input.plan;
        let targets = target_shares(plan);
        let class_of = |area: AreaScope| -> Option<AreaClass> {
            area.area().and_then(|a| plan.geo.area_class(a))
        };
        let cells = |reading: Reading| -> (Vec<CellInput>, i64) {
            let mut sums: BTreeMap<WeightingCell, Sums> = BTreeMap::new();
            for (k, v) in input.sources {
                if (reading.exclude_flagged && k.flagged)
                    || !(reading.sources.is_empty() || reading.sources.contains(&k.source))
                {
                    continue;
                }
                let cell = WeightingCell {
                    group: k.group,
                    class: class_of(k.area),
                };
                let s = if reading.unknown_as_not_recognised {
                    &v.answered
                } else {
                    &v.counted
                };
                sums.entry(cell).or_default().add(s);
            }
            let mut out: Vec<CellInput> = targets
                .iter()
                .map(|(cell, share)| CellInput {
                    cell: *cell,
                    target_share: *share,
                    sums: sums.remove(cell).unwrap_or_default(),
                })
                .collect();
            // What is left has no place in the plan: it carries no weight.
            let unweighted = sums.values().map(|s| s.n).sum();
            out.extend(sums.into_iter().map(|(cell, sums)| CellInput {
                cell,
                target_share: 0.0,
                sums,
            }));
            (out, unweighted)
        };
        let n_off = plan.plan.total;
        let base = Reading {
            exclude_flagged: input.exclude_flagged,
            sources: &[],
            unknown_as_not_recognised: false,
        };
        let (base_cells, unweighted) = cells(base);
        let head = weighted(&base_cells, n_off, input.target);
        let variants: [(&str, &str, Reading); 7] = [
            (
                "unknown_as_not_recognised",
                "“不了解”计为不认可",
                Reading {
                    unknown_as_not_recognised: true,
                    ..base
                },
            ),
            (
                "excluding_flagged",
                "排除疑似无效答卷（过快、整齐划一）",
                Reading {
                    exclude_flagged: true,
                    ..base
                },
            ),
            (
                "invitations_only",
                "只看抽样邀请链接的答卷",
                Reading {
                    sources: &[Source::Invitation],
                    ..base
                },
            ),
            (
                "channels_only",
                "只看开放二维码的答卷",
                Reading {
                    sources: &[Source::OpenChannel],
                    ..base
                },
            ),
            (
                "online_only",
                "只看网络作答（邀请链接和开放二维码）",
                Reading {
                    sources: &[Source::Invitation, Source::OpenChannel],
                    ..base
                },
            ),
            (
                "phone_only",
                "只看电话访问的答卷",
                Reading {
                    sources: &[Source::Phone],
                    ..base
                },
            ),
            (
                "paper_only",
                "只看纸质问卷的答卷",
                Reading {
                    sources: &[Source::Paper],
                    ..base
                },
            ),
        ];
        let sensitivity_lines: Vec<SensitivityLine> = variants
            .iter()
            .map(|(code, label, reading)| {
                let (c, _) = cells(*reading);
                let e = weighted(&c, n_off, input.target);
                let status = e.map_or(Outlook::NoData, |e| e.status);
                SensitivityLine {
                    code,
                    label,
                    respondents: e.map_or(0, |e| e.respondents),
                    rate: e.map(|e| e.rate),
                    interval: e.map(|e| e.interval),
                    probability_reaching_target: e.map(|e| e.probability_reaching_target),
                    status,
                    status_label: status.label(),
                    change: e.zip(head).map(|(e, h)| e.rate - h.rate),
                }
            })
            .collect();
        let rate_of = |code: &str| {
            sensitivity_lines
                .iter()
                .find(|l| l.code == code)
                .and_then(|l| l.rate)
        };
        let sensitivity = Sensitivity {
            unknown_as_not_recognised: rate_of("unknown_as_not_recognised"),
            excluding_flagged: rate_of("excluding_flagged"),
            invitations_only: rate_of("invitations_only"),
            channels_only: rate_of("channels_only"),
            online_only: rate_of("online_only"),
            phone_only: rate_of("phone_only"),
            paper_only: rate_of("paper_only"),
        };
        let covered = sum(base_cells
            .iter()
            .filter(|c| c.sums.n > 0)
            .map(|c| c.target_share));
        let weighted_n: i64 = base_cells
            .iter()
            .filter(|c| c.target_share > 0.0)
            .map(|c| c.sums.n)
            .sum();
        let cell_lines = base_cells
            .iter()
            .filter(|c| c.target_share > 0.0)
            .map(|c| CellLine {
                group: c.cell.group.label(),
                class: c.cell.class.map(AreaClass::label),
                label: c.cell.label(),
                target_share: c.target_share,
                respondents: c.sums.n,
                relative_weight: (c.sums.n > 0 && covered > 0.0)
                    .then(|| c.target_share / covered * weighted_n as f64 / c.sums.n as f64),
            })
            .collect();
        let status = head.map_or(Outlook::NoData, |e| e.status);
        OfficialEstimate {
            rate: head.map(|e| e.rate),
            interval: head.map(|e| e.interval),
            standard_error: head.map(|e| e.standard_error),
            design_effect: head.and_then(|e| e.design_effect),
            effective_n: head.and_then(|e| e.effective_n),
            uncovered_share: head.map_or_else(
                || sum(targets.iter().map(|(_, s)| *s)),
                |e| e.uncovered_share,
            ),
            official_sample: n_off,
            prediction_interval: head.map(|e| e.prediction_interval),
            probability_reaching_target: head.map(|e| e.probability_reaching_target),
            status,
            status_label: status.label(),
            meaning: status.meaning(),
            target: input.target,
            respondents: head.map_or(0, |e| e.respondents),
            unweighted_respondents: unweighted,
            sensitivity,
            sensitivity_lines,
            cells: cell_lines,
        }
    }
}

/// T_c for every weighting cell of the plan: the quotas of the group's strata in the class ÷
/// the plan's total (per group where the plan has no areas yet).
pub fn target_shares(plan: &FullPlan) -> Vec<(WeightingCell, f64)> {
    let total = plan.plan.total.max(1) as f64;
    let mut quotas: BTreeMap<WeightingCell, u64> = BTreeMap::new();
    if plan.strata.is_empty() {
        for group in RespondentGroup::ALL {
            quotas.insert(WeightingCell { group, class: None }, plan.plan.quota(group));
        }
    } else {
        for s in &plan.strata {
            let cell = WeightingCell {
                group: s.stratum.group,
                class: Some(plan.geo.areas[s.stratum.area].class),
            };
            *quotas.entry(cell).or_default() += s.quota;
        }
    }
    quotas
        .into_iter()
        .filter(|(_, q)| *q > 0)
        .map(|(c, q)| (c, q as f64 / total))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tally::tests::sums;
    use proptest::prelude::*;

    fn cell(
        group: RespondentGroup,
        class: AreaClass,
        share: f64,
        people: &[(i64, i64)],
    ) -> CellInput {
        CellInput {
            cell: WeightingCell {
                group,
                class: Some(class),
            },
            target_share: share,
            sums: sums(people),
        }
    }

    /// The SPEC's formulas applied respondent by respondent, written independently of the
    /// cell-sum shortcut above.
    fn by_respondent(
        cells: &[CellInput],
        people: &[Vec<(i64, i64)>],
        n_off: f64,
        t: f64,
    ) -> (f64, f64, f64, f64) {
        let covered: f64 = cells
            .iter()
            .zip(people)
            .filter(|(_, p)| !p.is_empty())
            .map(|(c, _)| c.target_share)
            .sum();
        let mut rows = Vec::new(); // (cell index, w, x, y)
        for (ci, (c, p)) in cells.iter().zip(people).enumerate() {
            for &(x, y) in p {
                rows.push((
                    ci,
                    c.target_share / covered / p.len() as f64,
                    x as f64,
                    y as f64,
                ));
            }
        }
        let sw_x: f64 = rows.iter().map(|r| r.1 * r.2).sum();
        let sw_y: f64 = rows.iter().map(|r| r.1 * r.3).sum();
        let r = sw_y / sw_x;
        let mut v = 0.0;
        for ci in 0..people.len() {
            let z: Vec<f64> = rows
                .iter()
                .filter(|row| row.0 == ci)
                .map(|row| row.1 * (row.3 - r * row.2))
                .collect();
            let m = z.len() as f64;
            if z.len() < 2 {
                continue;
            }
            let mean = z.iter().sum::<f64>() / m;
            v += m / (m - 1.0) * z.iter().map(|zi| (zi - mean).powi(2)).sum::<f64>();
        }
        v /= sw_x * sw_x;
        // v_srs: the pooled formula over everyone.
        let n = rows.len() as f64;
        let (sx, sy): (f64, f64) = (
            rows.iter().map(|r| r.2).sum(),
            rows.iter().map(|r| r.3).sum(),
        );
        let rp = sy / sx;
        let resid: f64 = rows.iter().map(|row| (row.3 - rp * row.2).powi(2)).sum();
        let v_srs = resid / (n * (n - 1.0) * (sx / n).powi(2));
        let pred = v * (1.0 + n / n_off);
        let p = 0.5 * libm::erfc(-((r - t) / pred.sqrt()) / std::f64::consts::SQRT_2);
        (r, v, v / v_srs, p)
    }

    #[test]
    fn a_hand_computed_two_cell_example() {
        // Parents in town (share 0.6): (4,4), (4,3); teachers in the country (share 0.4): (4,2), (4,4).
        let cells = [
            cell(
                RespondentGroup::Parent,
                AreaClass::Town,
                0.6,
                &[(4, 4), (4, 3)],
            ),
            cell(
                RespondentGroup::Teacher,
                AreaClass::Rural,
                0.4,
                &[(4, 2), (4, 4)],
            ),
        ];
        let e = weighted(&cells, 100, 0.85).unwrap();
        // w = 0.3 and 0.2: Σwy = 0.3·7 + 0.2·6 = 3.3, Σwx = 0.3·8 + 0.2·8 = 4 → R = 0.825.
        assert!((e.rate - 0.825).abs() < 1e-12);
        // d = y − 0.825x: parents 0.7, −0.3 (mean 0.2, Σ(d−d̄)² = 0.5); teachers −1.3, 0.7 (2.0).
        // v = [2·0.09·0.5 + 2·0.04·2.0] / 16 = (0.09 + 0.16) / 16 = 0.015625.
        assert!((e.standard_error - 0.125).abs() < 1e-12);
        assert!((e.interval.0 - (0.825 - 1.96 * 0.125)).abs() < 1e-12);
        assert_eq!(e.interval.1, 1.0);
        // Pooled: R = 13/16; residuals 0.75, −0.25, −1.25, 0.75 → Σ² = 2.75; x̄ = 4;
        // v_srs = 2.75 / (4·3·16) = 0.0143229…; deff = 0.015625 / v_srs.
        let v_srs = 2.75 / 192.0;
        assert!((e.design_effect.unwrap() - 0.015625 / v_srs).abs() < 1e-12);
        assert!((e.effective_n.unwrap() - 4.0 / (0.015625 / v_srs)).abs() < 1e-9);
        // Prediction: variance 0.015625·(1 + 4/100) = 0.01625.
        let p = normal_cdf((0.825 - 0.85) / 0.01625f64.sqrt());
        assert!((e.probability_reaching_target - p).abs() < 1e-12);
        let half = 1.96 * 0.01625f64.sqrt();
        assert!((e.prediction_interval.0 - (0.825 - half)).abs() < 1e-12);
        assert_eq!(e.prediction_interval.1, 1.0);
        assert_eq!(e.status, Outlook::LikelyFailing);
        assert_eq!(e.uncovered_share, 0.0);
    }

    #[test]
    fn empty_cells_drop_out_and_say_how_much_of_the_plan_they_are() {
        let cells = [
            cell(
                RespondentGroup::Parent,
                AreaClass::Town,
                0.5,
                &[(4, 4), (4, 3)],
            ),
            cell(RespondentGroup::Parent, AreaClass::Rural, 0.3, &[]),
            cell(
                RespondentGroup::Teacher,
                AreaClass::Rural,
                0.2,
                &[(4, 2), (4, 4)],
            ),
        ];
        let e = weighted(&cells, 100, 0.85).unwrap();
        assert!((e.uncovered_share - 0.3).abs() < 1e-12);
        // The covered shares 0.5 and 0.2 become 5/7 and 2/7.
        let r = (5.0 / 7.0 * 7.0 / 2.0 + 2.0 / 7.0 * 6.0 / 2.0) / 4.0;
        assert!((e.rate - r).abs() < 1e-12);
        assert!(weighted(&cells[1..2], 100, 0.85).is_none());
    }

    #[test]
    fn the_normal_distribution_function_is_right() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.959963984540054) - 0.975).abs() < 1e-12);
        assert!((normal_cdf(-1.6448536269514722) - 0.05).abs() < 1e-12);
        assert_eq!(probability_at_least(0.9, 0.0, 0.85), 1.0);
        assert_eq!(probability_at_least(0.8, 0.0, 0.85), 0.0);
    }

    #[test]
    fn outlook_thresholds() {
        assert_eq!(Outlook::of(Some(0.95)), Outlook::Passing);
        assert_eq!(Outlook::of(Some(0.949)), Outlook::LikelyPassing);
        assert_eq!(Outlook::of(Some(0.5)), Outlook::LikelyPassing);
        assert_eq!(Outlook::of(Some(0.499)), Outlook::LikelyFailing);
        assert_eq!(Outlook::of(Some(0.05)), Outlook::LikelyFailing);
        assert_eq!(Outlook::of(Some(0.0499)), Outlook::Failing);
        assert_eq!(Outlook::of(None), Outlook::NoData);
    }

    #[test]
    fn wilson_at_the_edges_is_never_a_point() {
        let (lo, hi) = wilson(10.0, 10.0).unwrap();
        assert_eq!(hi, 1.0);
        // 1 / (1 + z²/n) = 1 / 1.38416 at n = 10.
        assert!((lo - 1.0 / (1.0 + 1.96 * 1.96 / 10.0)).abs() < 1e-12);
        let (lo, hi) = wilson(0.0, 10.0).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - (1.96 * 1.96 / 10.0) / (1.0 + 1.96 * 1.96 / 10.0)).abs() < 1e-12);
        // 50 of 100: centre 0.5, half = 1.96·√(0.0025 + 0.000096…)/1.0384.
        let (lo, hi) = wilson(50.0, 100.0).unwrap();
        let half =
            1.96 * (0.25f64 / 100.0 + 1.96 * 1.96 / 40000.0).sqrt() / (1.0 + 1.96 * 1.96 / 100.0);
        assert!((lo - (0.5 - half)).abs() < 1e-12 && (hi - (0.5 + half)).abs() < 1e-12);
        assert_eq!(wilson(0.0, 0.0), None);
    }

    #[test]
    fn small_groups_weigh_less_in_the_group_weighted_rate() {
        let big = sums(&[(10, 9); 5]);
        let lone = sums(&[(10, 2)]);
        let (r, var) = group_weighted(&[(0.5, big), (0.5, lone)]).unwrap();
        // The lone respondent's group counts with 0.5·1/5 = 0.1 beside 0.5.
        assert!((r - (0.5 * 0.9 + 0.1 * 0.2) / 0.6).abs() < 1e-12);
        // big has zero spread; the lone one adds 0.1²·¼.
        assert!((var - 0.01 * 0.25 / 0.36).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn the_cell_sums_give_what_the_respondents_give(
            people in proptest::collection::vec(
                proptest::collection::vec((1i64..14).prop_flat_map(|x| (Just(x), 0..=x)), 0..30), 4),
            shares in proptest::collection::vec(1u32..100, 4),
        ) {
            let total: u32 = shares.iter().sum();
            let groups = [RespondentGroup::Parent, RespondentGroup::Student, RespondentGroup::Teacher, RespondentGroup::Public];
            let cells: Vec<CellInput> = (0..4).map(|i| cell(groups[i], AreaClass::Urban, f64::from(shares[i]) / f64::from(total), &people[i])).collect();
            let all: Vec<(i64, i64)> = people.iter().flatten().copied().collect();
            let spread = all.iter().any(|&(x, y)| y * all[0].0 != all[0].1 * x);
            if let Some(e) = weighted(&cells, 1000, 0.85)
                && all.len() > 1 && spread
            {
                let (r, v, deff, p) = by_respondent(&cells, &people, 1000.0, 0.85);
                prop_assert!((e.rate - r).abs() < 1e-9);
                prop_assert!((e.standard_error.powi(2) - v).abs() < 1e-9);
                if v > 1e-12 {
                    prop_assert!((e.design_effect.unwrap() - deff).abs() < 1e-6 * deff.max(1.0));
                    prop_assert!((e.probability_reaching_target - p).abs() < 1e-9);
                }
            }
        }
    }
}
