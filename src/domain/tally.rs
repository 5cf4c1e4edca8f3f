//! The recognition rate: per-respondent counts, their sums, the estimators, the 95% interval
//! and the status against the target (SPEC.md "Tally").
//!
//! For respondent i: x_i = items answered with a counted option, y_i = items answered with a
//! recognised option. Everything below is computed from sums (n, Σx, Σy, Σx², Σy², Σxy), so
//! the dashboard reads maintained aggregates and never the responses themselves.
use super::estimate;
use super::geography::AreaScope;
use super::group::RespondentGroup;
use super::integrity::{UnitKey, UnitSums};
use super::response::Source;
use super::strata::Band;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cells with fewer respondents are not shown (anonymity).
pub const MIN_CELL: i64 = 5;
/// Cells with fewer respondents get the Wilson interval (the linearised one is too narrow there,
/// and a point at 100%).
pub const SMALL_CELL: i64 = 30;

/// Running sums over respondents (or over answers, for one item).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    pub n: i64,
    pub x: i64,
    pub y: i64,
    pub xx: i64,
    pub yy: i64,
    pub xy: i64,
    /// Σ y_i / x_i over respondents with x_i > 0, and how many they are (respondent mean).
    pub ratio: f64,
    pub n_ratio: i64,
    /// Σ (y_i / x_i)² over the same respondents (the respondent mean's variance).
    pub rr: f64,
}

impl Sums {
    /// One respondent with `x` counted and `y` recognised answers.
    pub fn one(x: i64, y: i64) -> Sums {
        Sums {
            n: 1,
            x,
            y,
            xx: x * x,
            yy: y * y,
            xy: x * y,
            ratio: if x > 0 { y as f64 / x as f64 } else { 0.0 },
            n_ratio: i64::from(x > 0),
            rr: if x > 0 {
                (y as f64 / x as f64).powi(2)
            } else {
                0.0
            },
        }
    }

    pub fn add(&mut self, o: &Sums) {
        self.n += o.n;
        self.x += o.x;
        self.y += o.y;
        self.xx += o.xx;
        self.yy += o.yy;
        self.xy += o.xy;
        self.ratio += o.ratio;
        self.n_ratio += o.n_ratio;
        self.rr += o.rr;
    }

    /// Pooled rate Σy / Σx; `None` when nothing was counted.
    pub fn pooled(&self) -> Option<f64> {
        (self.x > 0).then(|| self.y as f64 / self.x as f64)
    }

    /// Mean over respondents of y_i / x_i.
    pub fn respondent_mean(&self) -> Option<f64> {
        (self.n_ratio > 0).then(|| self.ratio / self.n_ratio as f64)
    }

    /// The pooled rate's variance by ratio-estimator linearisation:
    /// var(R) = Σ (y_i − R x_i)² / (n (n−1) x̄²); `None` with fewer than two respondents or
    /// nothing counted.
    pub fn pooled_variance(&self) -> Option<f64> {
        let r = self.pooled()?;
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let mean_x = self.x as f64 / n;
        let residual =
            (self.yy as f64 - 2.0 * r * self.xy as f64 + r * r * self.xx as f64).max(0.0);
        Some(residual / (n * (n - 1.0) * mean_x * mean_x))
    }

    /// The 95% interval of the pooled rate, R ± 1.96·√var(R), clipped to [0, 1]. With one
    /// respondent it is all of [0, 1].
    pub fn interval(&self) -> Option<(f64, f64)> {
        let r = self.pooled()?;
        Some(match self.pooled_variance() {
            Some(v) => estimate::normal_interval(r, v),
            None => (0.0, 1.0),
        })
    }

    /// The interval a breakdown cell shows: the linearised one, but Wilson's (with the
    /// respondents as trials) in cells under [`SMALL_CELL`] or where the answers do not vary.
    pub fn cell_interval(&self) -> Option<(f64, f64)> {
        let r = self.pooled()?;
        match self.pooled_variance() {
            Some(v) if self.n >= SMALL_CELL && v > 0.0 => Some(estimate::normal_interval(r, v)),
            _ => estimate::wilson(r * self.n as f64, self.n as f64),
        }
    }

    /// The variance of the respondent mean: the sample variance of y_i / x_i over n.
    pub fn mean_variance(&self) -> Option<f64> {
        let mean = self.respondent_mean()?;
        if self.n_ratio < 2 {
            return None;
        }
        let n = self.n_ratio as f64;
        let spread = (self.rr - n * mean * mean).max(0.0);
        Some(spread / (n - 1.0) / n)
    }
}

/// How a survey's rate is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// Σy / Σx over every answer (SPEC default).
    Pooled,
    /// The mean of each respondent's own rate.
    RespondentMean,
    /// Each group's pooled rate weighted by its share of the planned sample.
    GroupWeighted,
}

impl Estimator {
    pub const ALL: [Estimator; 3] = [
        Estimator::Pooled,
        Estimator::RespondentMean,
        Estimator::GroupWeighted,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Estimator::Pooled => "pooled",
            Estimator::RespondentMean => "respondent_mean",
            Estimator::GroupWeighted => "group_weighted",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Estimator::Pooled => "合并比率（认可答案数 ÷ 有效答案数）",
            Estimator::RespondentMean => "个人平均（每位受访者认可比例的平均）",
            Estimator::GroupWeighted => "群体加权（各群体认可率按计划样本占比加权）",
        }
    }

    pub fn parse(code: &str) -> Option<Estimator> {
        Estimator::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// Where the rate stands against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The interval's low end reaches the target.
    Passing,
    /// The rate reaches the target, its interval's low end does not.
    AtRisk,
    /// The rate is below the target.
    Failing,
    /// No counted answer yet.
    NoData,
}

impl Status {
    pub fn of(rate: Option<f64>, interval: Option<(f64, f64)>, target: f64) -> Status {
        match (rate, interval) {
            (None, _) => Status::NoData,
            (Some(r), _) if r < target => Status::Failing,
            (Some(_), Some((lo, _))) if lo >= target => Status::Passing,
            _ => Status::AtRisk,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Passing => "达标",
            Status::AtRisk => "有风险",
            Status::Failing => "未达标",
            Status::NoData => "暂无数据",
        }
    }
}

/// A rate with its interval, respondents and status; suppressed in small cells, where it
/// shows no count of any kind (its respondents read `null`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(into = "ShownEstimate")]
pub struct Estimate {
    pub respondents: i64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub status: Status,
    /// Fewer than [`MIN_CELL`] respondents: the rate is not shown.
    pub suppressed: bool,
}

/// What an estimate shows: nothing of a suppressed one but that it is.
#[derive(Serialize)]
struct ShownEstimate {
    respondents: Option<i64>,
    rate: Option<f64>,
    interval: Option<(f64, f64)>,
    status: Status,
    suppressed: bool,
}

impl From<Estimate> for ShownEstimate {
    fn from(e: Estimate) -> ShownEstimate {
        ShownEstimate {
            respondents: (!e.suppressed).then_some(e.respondents),
            rate: e.rate,
            interval: e.interval,
            status: e.status,
            suppressed: e.suppressed,
        }
    }
}

impl Estimate {
    /// Hides the estimate (complementary suppression: a neighbour's figures would give it
    /// back).
    pub fn suppress(&mut self) {
        self.suppressed = true;
        self.rate = None;
        self.interval = None;
        self.status = Status::NoData;
    }

    /// The pooled estimate of a cell (the small-cell rule applies).
    pub fn of_cell(s: &Sums, target: f64) -> Estimate {
        Estimate::shown(s.n, s.pooled(), || s.cell_interval(), target)
    }

    /// An item's estimate: `answers` respondents, `counted` of them on a counted option,
    /// `recognized` on a recognised one; the interval is Wilson's over the counted answers.
    pub fn of_item(answers: i64, counted: i64, recognized: i64, target: f64) -> Estimate {
        let rate = item_sums(answers, counted, recognized).pooled();
        let interval = || estimate::wilson(recognized as f64, counted as f64);
        Estimate::shown(answers, rate, interval, target)
    }

    /// A rate of `respondents` with its interval, or nothing of them under [`MIN_CELL`].
    fn shown(
        respondents: i64,
        rate: Option<f64>,
        interval: impl FnOnce() -> Option<(f64, f64)>,
        target: f64,
    ) -> Estimate {
        let suppressed = respondents < MIN_CELL;
        let (rate, interval) = if suppressed {
            (None, None)
        } else {
            (rate, interval())
        };
        Estimate {
            respondents,
            rate,
            interval,
            status: if suppressed {
                Status::NoData
            } else {
                Status::of(rate, interval, target)
            },
            suppressed,
        }
    }
}

/// The survey's headline estimate with the chosen estimator, each with its own linearised
/// variance (see [`estimators`]).
pub fn headline(estimator: Estimator, all: &Sums, groups: &[(f64, Sums)], target: f64) -> Estimate {
    let line = estimators(all, groups)
        .into_iter()
        .find(|l| l.estimator == estimator)
        .and_then(|l| l.value);
    let (rate, interval) = match line {
        Some((r, i)) => (Some(r), Some(i)),
        None => (None, None),
    };
    Estimate {
        respondents: all.n,
        rate,
        interval,
        status: Status::of(rate, interval, target),
        suppressed: false,
    }
}

/// One estimator's rate and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorLine {
    pub estimator: Estimator,
    pub value: Option<(f64, (f64, f64))>,
    pub standard_error: Option<f64>,
}

/// The three estimators of the Tally section with their own variances: the pooled rate's by
/// ratio linearisation; the respondent mean's as a mean's (s² / n); the group-weighted rate's
/// as Σ w_g² var(R_g) / (Σ w_g)² (groups are independent samples). With too few respondents
/// for a variance, the interval is all of [0, 1].
pub fn estimators(all: &Sums, groups: &[(f64, Sums)]) -> Vec<EstimatorLine> {
    let line = |estimator, rate: Option<f64>, var: Option<f64>| EstimatorLine {
        estimator,
        value: rate.map(|r| {
            (
                r,
                var.map_or((0.0, 1.0), |v| estimate::normal_interval(r, v)),
            )
        }),
        standard_error: var.map(f64::sqrt),
    };
    let weighted = estimate::group_weighted(groups);
    vec![
        line(Estimator::Pooled, all.pooled(), all.pooled_variance()),
        line(
            Estimator::RespondentMean,
            all.respondent_mean(),
            all.mean_variance(),
        ),
        line(
            Estimator::GroupWeighted,
            weighted.map(|w| w.0),
            weighted.filter(|_| all.n > 1).map(|w| w.1),
        ),
    ]
}

/// The group-weighted rate (see [`estimate::group_weighted`]).
pub fn group_weighted(groups: &[(f64, Sums)]) -> Option<f64> {
    estimate::group_weighted(groups).map(|w| w.0)
}

/// The sums of one item from its answer counts: `answers` respondents, `counted` of them on a
/// counted option, `recognized` on a recognised one (x and y are 0 or 1 per respondent).
pub fn item_sums(answers: i64, counted: i64, recognized: i64) -> Sums {
    Sums {
        n: answers,
        x: counted,
        y: recognized,
        xx: counted,
        yy: recognized,
        xy: recognized,
        ratio: recognized as f64,
        n_ratio: counted,
        rr: recognized as f64,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The sums of respondents given as (x, y).
    pub(crate) fn sums(people: &[(i64, i64)]) -> Sums {
        let mut s = Sums::default();
        for &(x, y) in people {
            s.add(&Sums::one(x, y));
        }
        s
    }

    #[test]
    fn a_hand_computed_example() {
        // Three respondents, 4 items each; one answered 不了解 once (x = 3).
        let s = sums(&[(4, 4), (4, 3), (3, 2)]);
        let r = s.pooled().unwrap();
        assert!((r - 9.0 / 11.0).abs() < 1e-12);
        // Residuals y − R·x: 4 − 36/11 = 8/11, 3 − 36/11 = −3/11, 2 − 27/11 = −5/11.
        // Σ² = (64 + 9 + 25) / 121 = 98/121; x̄ = 11/3; var = (98/121) / (3·2·121/9).
        let var: f64 = (98.0 / 121.0) / (6.0 * (121.0 / 9.0));
        let (lo, hi) = s.interval().unwrap();
        assert!((lo - (r - 1.96 * var.sqrt())).abs() < 1e-12);
        assert!((hi - (r + 1.96 * var.sqrt()).min(1.0)).abs() < 1e-12);
        let mean = (1.0 + 0.75 + 2.0 / 3.0) / 3.0;
        assert!((s.respondent_mean().unwrap() - mean).abs() < 1e-12);
    }

    #[test]
    fn one_respondent_has_the_whole_interval_and_nothing_counted_has_no_rate() {
        let s = sums(&[(12, 11)]);
        assert_eq!(s.interval(), Some((0.0, 1.0)));
        assert_eq!(Status::of(s.pooled(), s.interval(), 0.85), Status::AtRisk);
        let none = sums(&[(0, 0), (0, 0)]);
        assert_eq!(none.pooled(), None);
        assert_eq!(none.interval(), None);
        assert_eq!(
            Status::of(none.pooled(), none.interval(), 0.85),
            Status::NoData
        );
        assert_eq!(Sums::default().respondent_mean(), None);
    }

    #[test]
    fn status_follows_the_interval_against_the_target() {
        assert_eq!(
            Status::of(Some(0.9), Some((0.86, 0.94)), 0.85),
            Status::Passing
        );
        assert_eq!(
            Status::of(Some(0.9), Some((0.84, 0.96)), 0.85),
            Status::AtRisk
        );
        assert_eq!(
            Status::of(Some(0.84), Some((0.80, 0.88)), 0.85),
            Status::Failing
        );
    }

    #[test]
    fn small_cells_are_suppressed() {
        let e = Estimate::of_cell(&sums(&[(4, 4); 4]), 0.85);
        assert!(e.suppressed && e.rate.is_none());
        let e = Estimate::of_cell(&sums(&[(4, 4); 5]), 0.85);
        assert_eq!(e.rate, Some(1.0));
    }

    #[test]
    fn group_weighting_renormalises_over_groups_with_data() {
        let a = sums(&[(10, 9)]);
        let b = sums(&[(10, 5)]);
        let r = group_weighted(&[(0.5, a), (0.25, b), (0.25, Sums::default())]).unwrap();
        assert!((r - (0.5 * 0.9 + 0.25 * 0.5) / 0.75).abs() < 1e-12);
    }

    #[test]
    fn an_items_sums_match_its_respondents() {
        // 10 answers: 7 recognised, 2 not, 1 not counted.
        let mut people = vec![(1, 1); 7];
        people.extend([(1, 0), (1, 0), (0, 0)]);
        assert_eq!(item_sums(10, 9, 7), sums(&people));
    }

    fn facts(
        group: RespondentGroup,
        area: AreaScope,
        answers: &[(&str, &str)],
        too_fast: bool,
    ) -> ResponseFacts {
        ResponseFacts {
            group,
            area,
            school: None,
            source: Source::Invitation,
            channel: None,
            band: None,
            too_fast,
            straight_lined: false,
            hour: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            answers: answers
                .iter()
                .map(|(i, o)| (i.to_string(), o.to_string()))
                .collect(),
        }
    }

    #[test]
    fn merged_pieces_equal_the_responses_added_one_after_another() {
        // What a batch of submissions adds must be what the same responses add one by one.
        let scale = |_: &str, o: &str| Some((o != "D", o == "A"));
        let dimension = |item: &str| Some(if item == "q1" { "d1" } else { "d2" }.to_owned());
        let responses = [
            facts(
                RespondentGroup::Parent,
                AreaScope::Area(3),
                &[("q1", "A"), ("q2", "B")],
                false,
            ),
            facts(
                RespondentGroup::Parent,
                AreaScope::Area(3),
                &[("q1", "A"), ("q2", "A")],
                true,
            ),
            facts(
                RespondentGroup::Teacher,
                AreaScope::WholeCounty,
                &[("q1", "D"), ("q2", "A")],
                false,
            ),
        ];
        let mut together = Aggregates::default();
        let mut merged = Aggregates::default();
        for r in &responses {
            together.add_response(r, scale, dimension, Some("A"));
            let mut piece = Aggregates::default();
            piece.add_response(r, scale, dimension, Some("A"));
            merged.merge(&piece);
        }
        assert_eq!(merged, together);
    }

    proptest! {
        #[test]
        fn the_rate_lies_in_its_interval_which_lies_in_zero_one(
            people in proptest::collection::vec((0i64..14).prop_flat_map(|x| (Just(x), 0..=x)), 1..200)
        ) {
            let s = sums(&people);
            if let (Some(r), Some((lo, hi))) = (s.pooled(), s.interval()) {
                prop_assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
                prop_assert!(lo <= r + 1e-12 && r <= hi + 1e-12);
            }
            let mut reversed = people.clone();
            reversed.reverse();
            let t = sums(&reversed);
            prop_assert_eq!((s.n, s.x, s.y, s.xx, s.yy, s.xy), (t.n, t.x, t.y, t.xx, t.yy, t.xy));
            prop_assert_eq!(s.interval(), t.interval());
        }
    }
}

/// What one response tells the tally: its stratum, its flags, the hour, and its answers.
#[derive(Debug, Clone)]
pub struct ResponseFacts {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub school: Option<i32>,
    /// How it came: an invitation or an open channel (whose id is known for answers given
    /// since channels were recorded).
    pub source: Source,
    /// The open channel it came through.
    pub channel: Option<i32>,
    /// For students and parents when the grade is known.
    pub band: Option<Band>,
    pub too_fast: bool,
    pub straight_lined: bool,
    pub hour: chrono::DateTime<chrono::Utc>,
    /// (item id, option code) in item order.
    pub answers: Vec<(String, String)>,
}

impl ResponseFacts {
    pub fn flagged(&self) -> bool {
        self.too_fast || self.straight_lined
    }
}

/// The whole questionnaire's sums in one stratum cell (group, area, school, grade band).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StratumKey {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub school: Option<i32>,
    pub band: Option<Band>,
    pub flagged: bool,
}

/// One dimension's sums for one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DimensionKey {
    pub group: RespondentGroup,
    pub dimension: String,
    pub flagged: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CellSums {
    pub sums: Sums,
    pub too_fast: i64,
    pub straight_lined: i64,
}

impl CellSums {
    pub fn add(&mut self, o: &CellSums) {
        self.sums.add(&o.sums);
        self.too_fast += o.too_fast;
        self.straight_lined += o.straight_lined;
    }
}

/// How many of a group answered an item with an option.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    pub group: RespondentGroup,
    pub item_id: String,
    pub option: String,
    pub flagged: bool,
}

/// The sums the official estimate reads: a group in one area, by the answers' source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub source: Source,
    pub flagged: bool,
}

/// A source cell's sums under two readings of 不了解: as the scale says (not counted), and
/// counted as not recognised (x_i = every scored item answered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceSums {
    pub counted: Sums,
    pub answered: Sums,
}

impl SourceSums {
    pub fn add(&mut self, o: &SourceSums) {
        self.counted.add(&o.counted);
        self.answered.add(&o.answered);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HourKey {
    pub hour: chrono::DateTime<chrono::Utc>,
    pub flagged: bool,
}

impl Aggregates {
    /// Adds a response answered on `def`'s questionnaire.
    pub fn add(&mut self, r: &ResponseFacts, def: &super::questionnaire::Definition) {
        self.add_response(
            r,
            |_, code| def.option(code).map(|o| (o.counted, o.recognized)),
            |item| {
                def.items
                    .iter()
                    .find(|i| i.id == item)
                    .map(|i| i.dimension.clone())
            },
            def.scale.options.first().map(|o| o.code.as_str()),
        );
    }
}

/// The maintained aggregates, or a piece of them (what one response adds).
///
/// The whole-questionnaire sums are kept per stratum cell (group, area, school, grade band), as
/// every breakdown needs them. Item counts and dimension sums are kept per group only: nothing
/// reads them finer, and every finer row would cost each submission another upsert. The
/// integrity panel's counts are kept per unit: the county, each school and each open channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregates {
    pub strata: BTreeMap<StratumKey, CellSums>,
    pub dimensions: BTreeMap<DimensionKey, Sums>,
    pub items: BTreeMap<ItemKey, i64>,
    pub hours: BTreeMap<HourKey, Sums>,
    pub units: BTreeMap<UnitKey, UnitSums>,
    pub sources: BTreeMap<SourceKey, SourceSums>,
    /// Identical answer sets per school and channel (a keyed fingerprint, and how many gave
    /// it): a waiting piece carries them to the integrity panel's clusters, counted when its
    /// cell is released (`domain::release`); the maintained tally has none.
    pub patterns: BTreeMap<(UnitKey, String), i64>,
}

/// The aggregates as text (a release cell's waiting piece is kept so): maps as lists of pairs.
#[derive(Serialize, Deserialize)]
struct AggregatesText {
    strata: Vec<(StratumKey, CellSums)>,
    dimensions: Vec<(DimensionKey, Sums)>,
    items: Vec<(ItemKey, i64)>,
    hours: Vec<(HourKey, Sums)>,
    units: Vec<(UnitKey, UnitSums)>,
    sources: Vec<(SourceKey, SourceSums)>,
    #[serde(default)]
    patterns: Vec<((UnitKey, String), i64)>,
}

impl Aggregates {
    /// As text that [`Aggregates::from_text`] reads back exactly.
    pub fn to_text(&self) -> String {
        let t = AggregatesText {
            strata: self.strata.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            dimensions: self
                .dimensions
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            items: self.items.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            hours: self.hours.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            units: self.units.iter().map(|(k, v)| (*k, *v)).collect(),
            sources: self.sources.iter().map(|(k, v)| (*k, *v)).collect(),
            patterns: self.patterns.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        serde_json::to_string(&t).unwrap_or_default()
    }

    /// What [`Aggregates::to_text`] wrote; the empty text is nothing.
    pub fn from_text(text: &str) -> Result<Aggregates, String> {
        if text.is_empty() {
            return Ok(Aggregates::default());
        }
        let t: AggregatesText = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Aggregates {
            strata: t.strata.into_iter().collect(),
            dimensions: t.dimensions.into_iter().collect(),
            items: t.items.into_iter().collect(),
            hours: t.hours.into_iter().collect(),
            units: t.units.into_iter().collect(),
            sources: t.sources.into_iter().collect(),
            patterns: t.patterns.into_iter().collect(),
        })
    }

    /// Adds a response; `scale` says for an option code whether it is (counted, recognised),
    /// `dimension` gives an item's dimension, `top` is the scale's top option.
    pub fn add_response(
        &mut self,
        r: &ResponseFacts,
        scale: impl Fn(&str, &str) -> Option<(bool, bool)>,
        dimension: impl Fn(&str) -> Option<String>,
        top: Option<&str>,
    ) {
        let flagged = r.flagged();
        let mut total = (0i64, 0i64);
        let mut answered = 0i64;
        let mut by_dim: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (item, option) in &r.answers {
            let scored = scale(item, option);
            answered += i64::from(scored.is_some());
            let (counted, recognized) = scored.unwrap_or((false, false));
            let (x, y) = (i64::from(counted), i64::from(recognized));
            total.0 += x;
            total.1 += y;
            if let Some(d) = dimension(item) {
                let e = by_dim.entry(d).or_default();
                e.0 += x;
                e.1 += y;
            }
            *self
                .items
                .entry(ItemKey {
                    group: r.group,
                    item_id: item.clone(),
                    option: option.clone(),
                    flagged,
                })
                .or_default() += 1;
        }
        let cell = self
            .strata
            .entry(StratumKey {
                group: r.group,
                area: r.area,
                school: r.school,
                band: r.band,
                flagged,
            })
            .or_default();
        cell.sums.add(&Sums::one(total.0, total.1));
        cell.too_fast += i64::from(r.too_fast);
        cell.straight_lined += i64::from(r.straight_lined);
        for (dimension, (x, y)) in by_dim {
            self.dimensions
                .entry(DimensionKey {
                    group: r.group,
                    dimension,
                    flagged,
                })
                .or_default()
                .add(&Sums::one(x, y));
        }
        self.hours
            .entry(HourKey {
                hour: r.hour,
                flagged,
            })
            .or_default()
            .add(&Sums::one(total.0, total.1));
        self.sources
            .entry(SourceKey {
                group: r.group,
                area: r.area,
                source: r.source,
                flagged,
            })
            .or_default()
            .add(&SourceSums {
                counted: Sums::one(total.0, total.1),
                answered: Sums::one(answered, total.1),
            });
        let unit = UnitSums {
            answers: 1,
            too_fast: i64::from(r.too_fast),
            straight_lined: i64::from(r.straight_lined),
            all_top: i64::from(
                !r.answers.is_empty() && r.answers.iter().all(|(_, o)| Some(o.as_str()) == top),
            ),
        };
        let units = [
            Some(UnitKey::COUNTY),
            r.school.map(UnitKey::school),
            r.channel.map(UnitKey::channel),
        ];
        for key in units.into_iter().flatten() {
            self.units.entry(key).or_default().add(&unit);
        }
    }

    /// Adds another piece (what a batch of responses adds is the sum of their pieces).
    pub fn merge(&mut self, other: &Aggregates) {
        for (k, v) in &other.strata {
            self.strata.entry(k.clone()).or_default().add(v);
        }
        for (k, v) in &other.dimensions {
            self.dimensions.entry(k.clone()).or_default().add(v);
        }
        for (k, v) in &other.items {
            *self.items.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.hours {
            self.hours.entry(k.clone()).or_default().add(v);
        }
        for (k, v) in &other.units {
            self.units.entry(*k).or_default().add(v);
        }
        for (k, v) in &other.sources {
            self.sources.entry(*k).or_default().add(v);
        }
        for (k, v) in &other.patterns {
            *self.patterns.entry(k.clone()).or_default() += v;
        }
    }
}
