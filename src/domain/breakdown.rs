//! The live tally's view: the headline rate, its interval and status, and every breakdown
//! (group, booklet, dimension, item, area, area class, school, grade band, progress, invitation
//! response, hour by hour), computed from the maintained aggregates — never from the responses
//! — so its cost does not grow with the number of answers. One typed shape for the dashboard,
//! the JSON API, the report and the workbook.
use super::disclosure;
use super::estimate::{EstimateInputs, OfficialEstimate, Outlook};
use super::geography::AreaScope;
use super::group::{Booklet, RespondentGroup};
use super::invitation::{InvitationStatus, StatusCount};
use super::questionnaire::{DIMENSIONS, Questionnaire, dimension_label};
use super::response::Mode;
use super::strata::{self, AreaClass, Band, FullPlan};
use super::survey::Survey;
use super::tally::{self, Aggregates, Estimate, Status, Sums};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A row of a breakdown table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub estimate: Estimate,
    pub status_label: &'static str,
}

fn row(key: impl Into<String>, label: impl Into<String>, s: &Sums, target: f64) -> Row {
    let estimate = Estimate::of_cell(s, target);
    Row {
        key: key.into(),
        label: label.into(),
        status_label: estimate.status.label(),
        estimate,
    }
}

/// An item's line: its text, answer counts per option and its rate.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub text: String,
    pub booklet: &'static str,
    pub dimension: String,
    pub dimension_label: &'static str,
    pub options: BTreeMap<String, i64>,
    #[serde(flatten)]
    pub estimate: Estimate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub key: String,
    pub label: String,
    pub planned: u64,
    pub responded: i64,
}

/// Invitations of one stratum. `invited` counts every invitation ever issued there, those
/// revoked and replaced by a reserve included, so the response rate is answered ÷ everyone
/// contacted.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationRow {
    pub group: String,
    pub area: String,
    pub band: Option<String>,
    pub invited: i64,
    pub pending: i64,
    pub answered: i64,
    pub revoked: i64,
    pub reserves_released: i64,
    pub response_rate: Option<f64>,
}

/// One estimator's rate with its own interval.
#[derive(Debug, Clone, Serialize)]
pub struct EstimatorRow {
    pub code: &'static str,
    pub label: &'static str,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub standard_error: Option<f64>,
    /// The survey's chosen estimator (the `rate` of the tally).
    pub chosen: bool,
}

/// How much of the plan has respondents.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Coverage {
    /// Strata of the plan (group × area × band) with a quota.
    pub strata: usize,
    pub strata_without_respondents: usize,
    /// Σ quota of those strata ÷ the plan's total.
    pub planned_share_without_respondents: f64,
    /// The same for the estimate's weighting cells (group × area class).
    pub weighting_share_without_respondents: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourPoint {
    pub hour: DateTime<Utc>,
    pub respondents: i64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataQuality {
    pub respondents: i64,
    pub too_fast: i64,
    pub straight_lined: i64,
    pub flagged: i64,
}

/// Everything the dashboard, the JSON API and the report show.
#[derive(Debug, Clone, Serialize)]
pub struct TallyView {
    pub respondents: i64,
    pub planned: u64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub target: f64,
    pub status: Status,
    pub status_label: &'static str,
    pub estimator: &'static str,
    pub estimator_label: &'static str,
    pub exclude_flagged: bool,
    pub pooled: Option<f64>,
    pub pooled_interval: Option<(f64, f64)>,
    pub respondent_mean: Option<f64>,
    pub group_weighted: Option<f64>,
    pub estimators: Vec<EstimatorRow>,
    pub official_estimate: OfficialEstimate,
    pub coverage: Coverage,
    pub by_group: BTreeMap<String, Row>,
    pub by_item: BTreeMap<String, ItemRow>,
    /// By how the answers were given (网络 / 电话 / 纸质), keyed by mode code.
    pub by_mode: BTreeMap<String, Row>,
    pub quota_progress: BTreeMap<String, Progress>,
    pub groups: Vec<Row>,
    pub booklets: Vec<Row>,
    pub modes: Vec<Row>,
    pub dimensions: Vec<Row>,
    pub items: Vec<ItemRow>,
    pub weakest_items: Vec<ItemRow>,
    pub areas: Vec<Row>,
    pub area_classes: Vec<Row>,
    pub schools: Vec<Row>,
    pub bands: Vec<Row>,
    pub group_progress: Vec<Progress>,
    pub area_progress: Vec<Progress>,
    pub invitations: Vec<InvitationRow>,
    pub over_time: Vec<HourPoint>,
    pub data_quality: DataQuality,
    pub closes_at: Option<DateTime<Utc>>,
    pub seconds_left: Option<i64>,
    /// Answers stored but not yet counted: their cell has fewer than five (survey-wide only).
    pub waiting: i64,
    /// Answers the close kept out of every figure.
    pub withheld: u64,
}

/// The headline numbers the live dashboard pushes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub respondents: i64,
    pub planned: u64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub status: Status,
    pub status_label: &'static str,
    pub official_rate: Option<f64>,
    pub official_interval: Option<(f64, f64)>,
    pub prediction_interval: Option<(f64, f64)>,
    pub probability_reaching_target: Option<f64>,
    pub official_status: Outlook,
    pub official_status_label: &'static str,
    pub official_meaning: &'static str,
}

impl TallyView {
    pub fn summary(&self) -> Summary {
        Summary {
            respondents: self.respondents,
            planned: self.planned,
            rate: self.rate,
            interval: self.interval,
            status: self.status,
            status_label: self.status_label,
            official_rate: self.official_estimate.rate,
            official_interval: self.official_estimate.interval,
            prediction_interval: self.official_estimate.prediction_interval,
            probability_reaching_target: self.official_estimate.probability_reaching_target,
            official_status: self.official_estimate.status,
            official_status_label: self.official_estimate.status_label,
            official_meaning: self.official_estimate.meaning,
        }
    }
}

/// What the view is computed from.
pub struct TallyInputs<'a> {
    pub survey: &'a Survey,
    pub plan: &'a FullPlan,
    pub aggregates: &'a Aggregates,
    /// The questionnaire in use for each booklet.
    pub questionnaires: &'a [(Booklet, &'a Questionnaire)],
    pub invitations: &'a [StatusCount],
    /// Answers stored but waiting for their release cell to hold five (`domain::release`).
    pub waiting: i64,
    /// Answers the close kept out of every figure (their cell never held five).
    pub withheld: u64,
    /// Leave out answers flagged as too fast or straight-lined.
    pub exclude_flagged: bool,
    pub now: DateTime<Utc>,
}

/// Sums of the stratum cells, grouped by `key` (cells for which it is `None` are left out).
fn sums_by<K: Eq + std::hash::Hash>(
    agg: &Aggregates,
    exclude_flagged: bool,
    key: impl Fn(&tally::StratumKey) -> Option<K>,
) -> HashMap<K, Sums> {
    let mut out: HashMap<K, Sums> = HashMap::new();
    for (k, v) in &agg.strata {
        if exclude_flagged && k.flagged {
            continue;
        }
        if let Some(key) = key(k) {
            out.entry(key).or_default().add(&v.sums);
        }
    }
    out
}

impl TallyView {
    pub fn build(input: &TallyInputs<'_>) -> TallyView {
        let (survey, full, agg) = (input.survey, input.plan, input.aggregates);
        let exclude = input.exclude_flagged;
        let target = survey.settings.target.fraction().as_f64();
        let geo = &full.geo;

        let mut all = Sums::default();
        let mut quality = DataQuality {
            respondents: 0,
            too_fast: 0,
            straight_lined: 0,
            flagged: 0,
        };
        for (k, v) in &agg.strata {
            quality.respondents += v.sums.n;
            quality.too_fast += v.too_fast;
            quality.straight_lined += v.straight_lined;
            if k.flagged {
                quality.flagged += v.sums.n;
            }
            if !(exclude && k.flagged) {
                all.add(&v.sums);
            }
        }

        let by_group = sums_by(agg, exclude, |k| Some(k.group));
        let planned_total = full.plan.total;
        let mut groups = Vec::new();
        let mut weighted = Vec::new();
        let mut quota_progress = BTreeMap::new();
        let mut group_progress = Vec::new();
        for g in RespondentGroup::ALL {
            let s = by_group.get(&g).copied().unwrap_or_default();
            groups.push(row(g.code(), g.label(), &s, target));
            let planned = full.plan.quota(g);
            weighted.push((planned as f64 / planned_total.max(1) as f64, s));
            let p = Progress {
                key: g.code().into(),
                label: g.label().into(),
                planned,
                responded: s.n,
            };
            quota_progress.insert(g.code().to_owned(), p.clone());
            group_progress.push(p);
        }
        let headline = tally::headline(survey.settings.estimator, &all, &weighted, target);
        let estimators = tally::estimators(&all, &weighted)
            .into_iter()
            .map(|l| EstimatorRow {
                code: l.estimator.code(),
                label: l.estimator.label(),
                rate: l.value.map(|v| v.0),
                interval: l.value.map(|v| v.1),
                standard_error: l.standard_error,
                chosen: l.estimator == survey.settings.estimator,
            })
            .collect();
        let official_estimate = OfficialEstimate::build(&EstimateInputs {
            plan: full,
            sources: &agg.sources,
            exclude_flagged: exclude,
            target,
        });
        let coverage = coverage(full, agg, exclude, official_estimate.uncovered_share);

        let by_booklet = sums_by(agg, exclude, |k| Some(k.group.booklet()));
        let mut booklets: Vec<Row> = Booklet::ALL
            .iter()
            .map(|b| {
                let s = by_booklet.get(b).copied().unwrap_or_default();
                row(b.label(), b.label(), &s, target)
            })
            .collect();

        let dimensions = DIMENSIONS
            .iter()
            .map(|(code, label)| {
                let mut s = Sums::default();
                for (k, v) in &agg.dimensions {
                    if k.dimension == *code && !(exclude && k.flagged) {
                        s.add(v);
                    }
                }
                row(*code, *label, &s, target)
            })
            .collect();

        let by_area = sums_by(agg, exclude, |k| Some(k.area));
        let mut areas: Vec<Row> = geo
            .area_ids
            .iter()
            .zip(&geo.areas)
            .map(|(id, a)| {
                let s = by_area
                    .get(&AreaScope::Area(*id))
                    .copied()
                    .unwrap_or_default();
                row(
                    a.name.clone(),
                    format!("{}（{}）", a.name, a.class.label()),
                    &s,
                    target,
                )
            })
            .collect();
        if let Some(s) = by_area.get(&AreaScope::WholeCounty) {
            areas.push(row(
                "",
                "全县（未分乡镇：开放二维码的，和调查结束时按全县合并计入的）",
                s,
                target,
            ));
        }
        let by_class = sums_by(agg, exclude, |k| {
            k.area.area().and_then(|a| geo.area_class(a))
        });
        let mut area_classes: Vec<Row> = AreaClass::ALL
            .iter()
            .map(|c| {
                let s = by_class.get(c).copied().unwrap_or_default();
                row(c.code(), c.label(), &s, target)
            })
            .collect();
        let by_school = sums_by(agg, exclude, |k| k.school);
        let mut schools: Vec<Row> = geo
            .school_ids
            .iter()
            .zip(&geo.schools)
            .filter_map(|(id, s)| {
                by_school
                    .get(id)
                    .map(|sums| row(s.name.clone(), s.name.clone(), sums, target))
            })
            .collect();
        let by_band = sums_by(agg, exclude, |k| k.band.map(|b| (k.group, b)));
        let mut bands = Vec::new();
        for g in [RespondentGroup::Student, RespondentGroup::Parent] {
            for (i, grades) in strata::bands(g).iter().enumerate() {
                let key = format!("{}·{}", g.label(), grades.label());
                let s = Band::of(g, i)
                    .and_then(|b| by_band.get(&(g, b)).copied())
                    .unwrap_or_default();
                bands.push(row(key.clone(), key, &s, target));
            }
        }

        let mut by_mode: HashMap<Mode, Sums> = HashMap::new();
        for (k, v) in &agg.sources {
            if !(exclude && k.flagged) {
                by_mode.entry(k.source.mode()).or_default().add(&v.counted);
            }
        }
        let mut modes: Vec<Row> = Mode::ALL
            .iter()
            .map(|m| {
                let s = by_mode.get(m).copied().unwrap_or_default();
                row(m.code(), m.label(), &s, target)
            })
            .collect();

        let mut items = item_rows(input, target);
        // Complementary suppression: no hidden part of a breakdown comes back by subtracting
        // the parts shown from a total shown, here or in another breakdown (the staff booklet
        // minus its teachers is its principals). Hiding more never undoes a step, so repeat
        // until nothing changes.
        let area_class_of = |r: &Row| geo.area_named(&r.key).and_then(|a| geo.area_class(a));
        let school_area = |r: &Row| geo.school_named(&r.key).map(|(_, area)| area);
        loop {
            let mut changed = complement(&mut groups, |_| true);
            changed |= complement(&mut booklets, |_| true);
            changed |= complement(&mut modes, |_| true);
            for b in Booklet::ALL {
                changed |= complement(&mut groups, |r| {
                    r.key
                        .parse::<RespondentGroup>()
                        .is_ok_and(|g| g.booklet() == b)
                });
            }
            changed |= complement(&mut areas, |_| true);
            changed |= complement(&mut area_classes, |_| true);
            for c in AreaClass::ALL {
                changed |= complement(&mut areas, |r| area_class_of(r) == Some(c));
            }
            changed |= complement(&mut schools, |_| true);
            for a in &geo.area_ids {
                changed |= complement(&mut schools, |r| school_area(r) == Some(*a));
            }
            for g in [RespondentGroup::Student, RespondentGroup::Parent] {
                changed |= complement(&mut bands, |r| r.key.starts_with(g.label()));
            }
            for (code, _) in DIMENSIONS {
                changed |= complement(&mut items, |i: &ItemRow| i.dimension == *code);
            }
            if !changed {
                break;
            }
        }
        let mut weakest: Vec<ItemRow> = items
            .iter()
            .filter(|i| i.estimate.rate.is_some())
            .cloned()
            .collect();
        weakest.sort_by(|a, b| {
            a.estimate
                .rate
                .partial_cmp(&b.estimate.rate)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        weakest.truncate(10);

        let area_progress = geo
            .area_ids
            .iter()
            .zip(&geo.areas)
            .enumerate()
            .map(|(i, (id, a))| Progress {
                key: a.name.clone(),
                label: a.name.clone(),
                planned: full
                    .strata
                    .iter()
                    .filter(|s| s.stratum.area == i)
                    .map(|s| s.quota)
                    .sum(),
                responded: by_area.get(&AreaScope::Area(*id)).map_or(0, |s| s.n),
            })
            .collect();

        // Over time: cumulative by hour.
        let mut hours: BTreeMap<DateTime<Utc>, Sums> = BTreeMap::new();
        for (k, s) in &agg.hours {
            if !(exclude && k.flagged) {
                hours.entry(k.hour).or_default().add(s);
            }
        }
        let over_time = series(hours);

        let closes_at = survey.settings.window.closes_at;
        let by_group = groups.iter().map(|r| (r.key.clone(), r.clone())).collect();
        let by_item = items.iter().map(|i| (i.id.clone(), i.clone())).collect();
        let by_mode = modes.iter().map(|r| (r.key.clone(), r.clone())).collect();
        TallyView {
            respondents: all.n,
            planned: planned_total,
            rate: headline.rate,
            interval: headline.interval,
            target,
            status: headline.status,
            status_label: headline.status.label(),
            estimator: survey.settings.estimator.code(),
            estimator_label: survey.settings.estimator.label(),
            exclude_flagged: exclude,
            pooled: all.pooled(),
            pooled_interval: all.interval(),
            respondent_mean: all.respondent_mean(),
            group_weighted: tally::group_weighted(&weighted),
            estimators,
            official_estimate,
            coverage,
            by_group,
            by_item,
            by_mode,
            quota_progress,
            groups,
            booklets,
            modes,
            dimensions,
            items,
            weakest_items: weakest,
            areas,
            area_classes,
            schools,
            bands,
            group_progress,
            area_progress,
            invitations: invitation_rows(full, input.invitations),
            over_time,
            data_quality: quality,
            closes_at,
            seconds_left: closes_at.map(|c| (c - input.now).num_seconds().max(0)),
            waiting: input.waiting,
            withheld: input.withheld,
        }
    }
}

/// A breakdown's line that complementary suppression may hide.
trait Hideable {
    fn estimate(&self) -> &Estimate;
    /// Hides it and whatever else of it would tell its respondents.
    fn hide(&mut self);
}

impl Hideable for Row {
    fn estimate(&self) -> &Estimate {
        &self.estimate
    }

    fn hide(&mut self) {
        self.estimate.suppress();
        self.status_label = self.estimate.status.label();
    }
}

impl Hideable for ItemRow {
    fn estimate(&self) -> &Estimate {
        &self.estimate
    }

    /// An item hidden, its options' counts go too.
    fn hide(&mut self) {
        self.estimate.suppress();
        self.options.clear();
    }
}

/// Complementary suppression among the lines `members` picks (see
/// [`disclosure::complement`]); whether anything more was hidden.
fn complement<T: Hideable>(rows: &mut [T], members: impl Fn(&T) -> bool) -> bool {
    let picked: Vec<usize> = (0..rows.len()).filter(|&i| members(&rows[i])).collect();
    let sizes: Vec<i64> = picked
        .iter()
        .map(|&i| rows[i].estimate().respondents)
        .collect();
    let mut hidden: Vec<bool> = picked
        .iter()
        .map(|&i| rows[i].estimate().suppressed)
        .collect();
    let changed = disclosure::complement(&sizes, &mut hidden);
    for (&i, h) in picked.iter().zip(hidden) {
        if h && !rows[i].estimate().suppressed {
            rows[i].hide();
        }
    }
    changed
}

/// The cumulative series hour by hour, with a point only where at least [`tally::MIN_CELL`]
/// more respondents have come since the last one: two neighbouring points never differ by the
/// answers of fewer people than that.
fn series(hours: BTreeMap<DateTime<Utc>, Sums>) -> Vec<HourPoint> {
    let mut running = Sums::default();
    let mut shown = 0;
    let mut out = Vec::new();
    for (hour, s) in hours {
        running.add(&s);
        if running.n - shown >= tally::MIN_CELL {
            shown = running.n;
            out.push(HourPoint {
                hour,
                respondents: running.n,
                rate: running.pooled(),
            });
        }
    }
    out
}

/// The strata of the plan without a respondent, and their share of it.
fn coverage(full: &FullPlan, agg: &Aggregates, exclude: bool, weighting: f64) -> Coverage {
    let answered = sums_by(agg, exclude, |k| {
        k.area
            .area()
            .and_then(|a| full.geo.area_index(a))
            .map(|area| (k.group, area, k.band))
    });
    let with_quota: Vec<_> = full.strata.iter().filter(|s| s.quota > 0).collect();
    let empty: Vec<_> = with_quota
        .iter()
        .filter(|s| {
            answered
                .get(&(s.stratum.group, s.stratum.area, s.stratum.band))
                .is_none_or(|x| x.n == 0)
        })
        .collect();
    let empty_quota: u64 = empty.iter().map(|s| s.quota).sum();
    Coverage {
        strata: with_quota.len(),
        strata_without_respondents: empty.len(),
        planned_share_without_respondents: if with_quota.is_empty() {
            1.0
        } else {
            empty_quota as f64 / full.plan.total.max(1) as f64
        },
        weighting_share_without_respondents: weighting,
    }
}

/// Items: counts per option, the rate from the scale of the questionnaire in use.
fn item_rows(input: &TallyInputs<'_>, target: f64) -> Vec<ItemRow> {
    let mut items = Vec::new();
    for (booklet, q) in input.questionnaires {
        let def = &q.definition;
        for item in &def.items {
            let mut options: BTreeMap<String, i64> = BTreeMap::new();
            let (mut answers, mut counted, mut recognized) = (0, 0, 0);
            for (k, n) in &input.aggregates.items {
                if k.item_id != item.id
                    || (input.exclude_flagged && k.flagged)
                    || k.group.booklet() != *booklet
                {
                    continue;
                }
                *options.entry(k.option.clone()).or_default() += n;
                answers += n;
                if let Some(o) = def.option(&k.option) {
                    counted += if o.counted { *n } else { 0 };
                    recognized += if o.recognized { *n } else { 0 };
                }
            }
            let estimate = Estimate::of_item(answers, counted, recognized, target);
            if estimate.suppressed {
                // An option's count is its respondents' answers.
                options.clear();
            }
            items.push(ItemRow {
                id: item.id.clone(),
                text: item.text.clone(),
                booklet: booklet.label(),
                dimension: item.dimension.clone(),
                dimension_label: dimension_label(&item.dimension),
                options,
                estimate,
            });
        }
    }
    items
}

/// Invitations per stratum: invited (pending or answered), answered, replaced by reserves.
fn invitation_rows(full: &FullPlan, counts: &[StatusCount]) -> Vec<InvitationRow> {
    let mut rows: BTreeMap<(RespondentGroup, i32, Option<Band>), InvitationRow> = BTreeMap::new();
    for c in counts {
        let r = rows
            .entry((c.group, c.area_id, c.band))
            .or_insert_with(|| InvitationRow {
                group: c.group.label().into(),
                area: full.geo.area_name(c.area_id).to_owned(),
                band: c.band.and_then(|b| b.grades(c.group)).map(|b| b.label()),
                invited: 0,
                pending: 0,
                answered: 0,
                revoked: 0,
                reserves_released: 0,
                response_rate: None,
            });
        let n = c.count as i64;
        r.invited += n;
        match c.status {
            InvitationStatus::Answered => r.answered += n,
            InvitationStatus::Pending => r.pending += n,
            InvitationStatus::Revoked => {
                r.revoked += n;
                if c.replaced {
                    r.reserves_released += n;
                }
            }
        }
    }
    rows.into_values()
        .map(|mut r| {
            r.response_rate = (r.invited > 0).then(|| r.answered as f64 / r.invited as f64);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_shows_a_point_only_after_five_more_respondents() {
        let at = |h: i64| DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap();
        let people = |n: usize| {
            let mut s = Sums::default();
            for _ in 0..n {
                s.add(&Sums::one(10, 9));
            }
            s
        };
        let hours: BTreeMap<_, _> = [(0, 3), (1, 3), (2, 1), (3, 5), (4, 4)]
            .into_iter()
            .map(|(h, n)| (at(h), people(n)))
            .collect();
        let points: Vec<(DateTime<Utc>, i64)> = series(hours)
            .iter()
            .map(|p| (p.hour, p.respondents))
            .collect();
        assert_eq!(points, vec![(at(1), 6), (at(3), 12)]);
    }
}
