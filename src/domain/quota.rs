//! The sample plan (SPEC.md "Sample plan", steps 1–4): how many people to ask, per group.
//!
//! All arithmetic is exact: the rate is held in parts per million and shares in 1/10000, so
//! `ceil(P · 1.5‰)` never suffers a float rounding error.
use super::group::{GroupMap, RespondentGroup};
use serde::Serialize;
use std::fmt;

/// The largest population accepted (well above any county; keeps products far from overflow).
pub const MAX_POPULATION: i64 = 10_000_000_000;

/// A problem with a plan parameter, naming the field as the interfaces spell it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub field: &'static str,
    pub message: String,
}

impl PlanError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        PlanError {
            field,
            message: message.into(),
        }
    }
}

/// Converts a decimal number to an integer count of `1/scale` units, refusing more precision
/// than the unit holds (so `1.5` with scale 1000 is 1500 but `1.5005` is an error).
fn to_units(value: f64, scale: u32, field: &'static str, what: &str) -> Result<u64, PlanError> {
    if !value.is_finite() {
        return Err(PlanError::new(field, format!("{what}必须是数字")));
    }
    let scaled = value * f64::from(scale);
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 * scaled.abs().max(1.0) {
        let places = scale.ilog10();
        return Err(PlanError::new(
            field,
            format!("{what}最多保留 {places} 位小数"),
        ));
    }
    if !(0.0..=1e15).contains(&rounded) {
        return Err(PlanError::new(field, format!("{what}超出范围")));
    }
    Ok(rounded as u64)
}

/// Formats `units / scale` as a decimal without trailing zeros ("1.5", "0.85", "2").
fn format_units(units: u64, scale: u64) -> String {
    let whole = units / scale;
    let frac = units % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The sampling rate, per mille of the resident population (default 1.5‰), exact to 0.001‰.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SamplingRate(u32);

impl SamplingRate {
    pub const DEFAULT: SamplingRate = SamplingRate(1500);

    /// From per-mille, e.g. `1.5`. Must be above 0 and at most 1000‰, with at most 3 decimals.
    pub fn from_permille(permille: f64) -> Result<Self, PlanError> {
        let field = "rate_permille";
        let ppm = to_units(permille, 1000, field, "抽样比例")?;
        if ppm == 0 || ppm > 1_000_000 {
            return Err(PlanError::new(field, "抽样比例必须大于 0‰ 且不超过 1000‰"));
        }
        Ok(SamplingRate(ppm as u32))
    }

    /// From parts per million as stored (1.5‰ = 1500).
    pub fn from_ppm(ppm: u32) -> Result<Self, PlanError> {
        if ppm == 0 || ppm > 1_000_000 {
            return Err(PlanError::new("rate_permille", "抽样比例超出范围"));
        }
        Ok(SamplingRate(ppm))
    }

    pub fn ppm(self) -> u32 {
        self.0
    }

    pub fn permille(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl fmt::Display for SamplingRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(u64::from(self.0), 1000))
    }
}

/// A fraction between 0 and 1, exact to 1/10000 (shares and targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fraction(u16);

impl Fraction {
    pub const ONE: u16 = 10_000;

    pub fn from_f64(value: f64, field: &'static str, what: &str) -> Result<Self, PlanError> {
        let bp = to_units(value, 10_000, field, what)?;
        if bp > u64::from(Self::ONE) {
            return Err(PlanError::new(field, format!("{what}必须在 0 到 1 之间")));
        }
        Ok(Fraction(bp as u16))
    }

    pub fn from_basis_points(bp: u16) -> Option<Self> {
        (bp <= Self::ONE).then_some(Fraction(bp))
    }

    pub fn basis_points(self) -> u16 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE)
    }

    /// As a percentage without trailing zeros ("50", "85", "62.5").
    pub fn percent(self) -> String {
        format_units(u64::from(self.0), 100)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(u64::from(self.0), u64::from(Self::ONE)))
    }
}

/// The parents' share of the sample: at least one half and below one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentShare(Fraction);

impl ParentShare {
    pub const DEFAULT: ParentShare = ParentShare(Fraction(5_000));

    pub fn parse(value: f64) -> Result<Self, PlanError> {
        let field = "parent_share";
        let f = Fraction::from_f64(value, field, "家长占比")?;
        Self::try_from(f)
    }

    pub fn fraction(self) -> Fraction {
        self.0
    }
}

impl TryFrom<Fraction> for ParentShare {
    type Error = PlanError;

    fn try_from(f: Fraction) -> Result<Self, PlanError> {
        if f.0 < 5_000 || f.0 >= Fraction::ONE {
            return Err(PlanError::new(
                "parent_share",
                "家长占比必须不低于 0.5 且小于 1",
            ));
        }
        Ok(ParentShare(f))
    }
}

/// The recognition rate a county must reach (default 85%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target(Fraction);

impl Target {
    pub const DEFAULT: Target = Target(Fraction(8_500));

    pub fn parse(value: f64) -> Result<Self, PlanError> {
        let field = "target";
        let f = Fraction::from_f64(value, field, "目标认可度")?;
        Self::try_from(f)
    }

    pub fn fraction(self) -> Fraction {
        self.0
    }
}

impl TryFrom<Fraction> for Target {
    type Error = PlanError;

    fn try_from(f: Fraction) -> Result<Self, PlanError> {
        if f.0 == 0 {
            return Err(PlanError::new("target", "目标认可度必须大于 0 且不超过 1"));
        }
        Ok(Target(f))
    }
}

/// What the plan is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParameters {
    /// Resident population (常住人口), at least 1.
    pub population: u64,
    pub rate: SamplingRate,
    pub parent_share: ParentShare,
    /// The sample is never smaller than this (0: no floor).
    pub floor: u64,
}

impl PlanParameters {
    /// Checks the population and floor and builds the parameters.
    pub fn new(
        population: i64,
        rate: SamplingRate,
        parent_share: ParentShare,
        floor: i64,
    ) -> Result<Self, PlanError> {
        if population <= 0 {
            return Err(PlanError::new("population", "常住人口必须是正整数"));
        }
        if population > MAX_POPULATION {
            return Err(PlanError::new("population", "常住人口超出范围"));
        }
        if floor < 0 {
            return Err(PlanError::new("floor", "样本下限不能为负数"));
        }
        if floor > MAX_POPULATION {
            return Err(PlanError::new("floor", "样本下限超出范围"));
        }
        Ok(PlanParameters {
            population: population as u64,
            rate,
            parent_share,
            floor: floor as u64,
        })
    }

    /// `P · r / 1000` as an exact decimal ("1304.322"), for showing the arithmetic.
    pub fn exact_rate_product(&self) -> String {
        format_units(self.population * u64::from(self.rate.ppm()), 1_000_000)
    }

    /// `ceil(P · r / 1000)`, before the floor.
    pub fn by_rate(&self) -> u64 {
        (self.population * u64::from(self.rate.ppm())).div_ceil(1_000_000)
    }

    /// Step 1: `n = max(ceil(P · r / 1000), f)`.
    pub fn sample_size(&self) -> u64 {
        self.by_rate().max(self.floor)
    }

    /// `n · s` as an exact decimal, for showing the arithmetic.
    pub fn exact_parent_product(&self) -> String {
        format_units(
            self.sample_size() * u64::from(self.parent_share.0.0),
            u64::from(Fraction::ONE),
        )
    }
}

/// The plan parameters as text (a query string, a form, a command line), with defaults for
/// what is left out. Every error names its field.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanText<'a> {
    pub population: Option<&'a str>,
    pub rate_permille: Option<&'a str>,
    pub parent_share: Option<&'a str>,
    pub floor: Option<&'a str>,
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn parse_number<T: std::str::FromStr>(
    value: &str,
    field: &'static str,
    message: &str,
) -> Result<T, PlanError> {
    value
        .replace([',', '，', '_'], "")
        .parse()
        .map_err(|_| PlanError::new(field, message))
}

impl PlanText<'_> {
    pub fn parse(&self) -> Result<PlanParameters, PlanError> {
        let population = present(self.population)
            .ok_or_else(|| PlanError::new("population", "请填写常住人口"))?;
        let population = parse_number(population, "population", "常住人口必须是正整数")?;
        let rate = match present(self.rate_permille) {
            None => SamplingRate::DEFAULT,
            Some(v) => SamplingRate::from_permille(parse_number(
                v,
                "rate_permille",
                "抽样比例必须是数字（单位 ‰）",
            )?)?,
        };
        let parent_share = match present(self.parent_share) {
            None => ParentShare::DEFAULT,
            Some(v) => ParentShare::parse(parse_number(v, "parent_share", "家长占比必须是数字")?)?,
        };
        let floor = match present(self.floor) {
            None => 0,
            Some(v) => parse_number(v, "floor", "样本下限必须是非负整数")?,
        };
        PlanParameters::new(population, rate, parent_share, floor)
    }
}

/// The short form of a plan that `renke quota --json` and `GET /api/v1/quota` print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaSummary {
    pub total: u64,
    pub groups: std::collections::BTreeMap<&'static str, u64>,
}

impl From<&SamplePlan> for QuotaSummary {
    fn from(plan: &SamplePlan) -> Self {
        QuotaSummary {
            total: plan.total,
            groups: plan
                .groups
                .values()
                .map(|g| (g.group.code(), g.quota))
                .collect(),
        }
    }
}

/// `1304322` → `"1,304,322"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One group's line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupQuota {
    pub group: RespondentGroup,
    /// The quota from steps 1–3, before any capacity cap.
    pub base: u64,
    /// The quota after capacity caps and redistribution.
    pub quota: u64,
    /// The size of the group's sampling frame, once known.
    pub frame: Option<u64>,
    /// The frame was smaller than the quota, so the quota became the frame size.
    pub capped: bool,
    /// How many places this group took over from capped groups.
    pub received: u64,
}

/// The sample plan: total and per-group quotas, with the caps applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SamplePlan {
    /// `n`, the planned sample size.
    pub total: u64,
    /// `ceil(P · r)` before the floor.
    pub by_rate: u64,
    /// The floor raised the sample size.
    pub floor_applied: bool,
    /// Parents' quota from step 2, `ceil(n · s)`.
    pub parents_base: u64,
    /// `n − p`, split over the six other groups.
    pub others_total: u64,
    /// `floor((n − p) / 6)`: one share per group of [`RespondentGroup::OTHERS`].
    pub others_each: u64,
    /// `(n − p) mod 6`: that many groups, first in canonical order, get one more.
    pub others_remainder: u64,
    /// One line per group.
    pub groups: GroupMap<GroupQuota>,
    /// Places no frame had room for (only when every frame, parents' too, is exhausted).
    pub unfilled: u64,
}

impl SamplePlan {
    /// Steps 1–3 without frames: nothing is capped.
    pub fn compute(params: &PlanParameters) -> SamplePlan {
        Self::with_frames(params, &GroupMap::default())
    }

    /// Steps 1–4. `frames[g]` is the size of group g's frame, `None` while unknown.
    pub fn with_frames(params: &PlanParameters, frames: &GroupMap<Option<u64>>) -> SamplePlan {
        let total = params.sample_size();
        let parents_base = (u128::from(total) * u128::from(params.parent_share.0.0))
            .div_ceil(u128::from(Fraction::ONE)) as u64;
        let others_total = total - parents_base;
        let shares = RespondentGroup::OTHERS.len() as u64;
        let others_each = others_total / shares;
        let others_remainder = others_total % shares;

        let mut groups: GroupMap<GroupQuota> = GroupMap::from_fn(|group| {
            let base = match group {
                RespondentGroup::Parent => parents_base,
                _ => {
                    let position = RespondentGroup::OTHERS
                        .iter()
                        .position(|g| *g == group)
                        .unwrap_or(0) as u64;
                    others_each + u64::from(position < others_remainder)
                }
            };
            GroupQuota {
                group,
                base,
                quota: base,
                frame: frames[group],
                capped: false,
                received: 0,
            }
        });

        // Step 4: cap at the frame, pool the shortfall.
        let mut shortfall = 0;
        for line in groups.values_mut() {
            if let Some(frame) = line.frame
                && frame < line.quota
            {
                shortfall += line.quota - frame;
                line.quota = frame;
                line.capped = true;
            }
        }
        let room = |line: &GroupQuota| line.frame.is_none_or(|f| line.quota < f);

        // Round-robin, one place at a time, over the non-parent groups that still have room.
        // Each pass gives every such group one place, so whole passes are done at once.
        while shortfall > 0 {
            let open: Vec<RespondentGroup> = RespondentGroup::OTHERS
                .into_iter()
                .filter(|&g| !groups[g].capped && room(&groups[g]))
                .collect();
            if open.is_empty() {
                break;
            }
            let min_room = open
                .iter()
                .map(|&i| groups[i].frame.map_or(u64::MAX, |f| f - groups[i].quota))
                .min()
                .unwrap_or(0);
            let passes = (shortfall / open.len() as u64).min(min_room);
            if passes > 0 {
                for &i in &open {
                    groups[i].quota += passes;
                    groups[i].received += passes;
                }
                shortfall -= passes * open.len() as u64;
            } else {
                for &i in &open {
                    if shortfall == 0 {
                        break;
                    }
                    groups[i].quota += 1;
                    groups[i].received += 1;
                    shortfall -= 1;
                }
            }
        }
        // No other group has room: the rest goes to parents, as far as their frame allows.
        let parents = &mut groups[RespondentGroup::Parent];
        if shortfall > 0 && !parents.capped {
            let take = parents
                .frame
                .map_or(shortfall, |f| shortfall.min(f - parents.quota));
            parents.quota += take;
            parents.received += take;
            shortfall -= take;
        }

        SamplePlan {
            total,
            by_rate: params.by_rate(),
            floor_applied: params.floor > params.by_rate(),
            parents_base,
            others_total,
            others_each,
            others_remainder,
            groups,
            unfilled: shortfall,
        }
    }

    pub fn quota(&self, group: RespondentGroup) -> u64 {
        self.groups[group].quota
    }

    /// The groups whose frame was smaller than their quota.
    pub fn capped_groups(&self) -> impl Iterator<Item = RespondentGroup> + '_ {
        self.groups.values().filter(|g| g.capped).map(|g| g.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RespondentGroup::*;
    use proptest::prelude::*;

    fn params(population: i64) -> PlanParameters {
        PlanParameters::new(population, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap()
    }

    fn quotas(plan: &SamplePlan) -> Vec<u64> {
        plan.groups.values().map(|g| g.quota).collect()
    }

    fn sized(sizes: [Option<u64>; 7]) -> GroupMap<Option<u64>> {
        GroupMap::from_array(sizes)
    }

    #[test]
    fn worked_example_869548_gives_1305_with_653_parents() {
        let p = params(869_548);
        assert_eq!(p.exact_rate_product(), "1304.322");
        let plan = SamplePlan::compute(&p);
        assert_eq!(plan.total, 1305);
        assert_eq!(quotas(&plan), vec![653, 109, 109, 109, 109, 108, 108]);
        assert_eq!((plan.others_each, plan.others_remainder), (108, 4));
        assert_eq!(plan.capped_groups().count(), 0);
    }

    #[test]
    fn worked_example_one_million_gives_1500_with_750_parents() {
        let plan = SamplePlan::compute(&params(1_000_000));
        assert_eq!(plan.total, 1500);
        assert_eq!(quotas(&plan), vec![750, 125, 125, 125, 125, 125, 125]);
    }

    #[test]
    fn population_of_zero_or_below_is_refused_naming_the_field() {
        for p in [0, -1, -869_548] {
            let err =
                PlanParameters::new(p, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap_err();
            assert_eq!(err.field, "population");
        }
    }

    #[test]
    fn a_tiny_county_still_gets_at_least_one_respondent() {
        let plan = SamplePlan::compute(&params(1));
        assert_eq!(plan.total, 1);
        assert_eq!(quotas(&plan), vec![1, 0, 0, 0, 0, 0, 0]);
        let plan = SamplePlan::compute(&params(5_000));
        // ceil(7.5) = 8; parents 4; the other 4 go to the first four groups.
        assert_eq!(quotas(&plan), vec![4, 1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn parent_share_of_half_six_tenths_and_099_round_up() {
        let rate = SamplingRate::DEFAULT;
        for (share, parents) in [(0.5, 750), (0.6, 900), (0.99, 1485)] {
            let p = PlanParameters::new(1_000_000, rate, ParentShare::parse(share).unwrap(), 0)
                .unwrap();
            assert_eq!(
                SamplePlan::compute(&p).quota(Parent),
                parents,
                "share {share}"
            );
        }
        // 1305 · 0.99 = 1291.95 → 1292 parents, 13 left: 3,2,2,2,2,2.
        let p = PlanParameters::new(869_548, rate, ParentShare::parse(0.99).unwrap(), 0).unwrap();
        assert_eq!(
            quotas(&SamplePlan::compute(&p)),
            vec![1292, 3, 2, 2, 2, 2, 2]
        );
    }

    #[test]
    fn parent_share_outside_half_to_one_is_refused() {
        for bad in [0.49, 1.0, 1.5, -0.5, f64::NAN, 0.50001] {
            assert_eq!(
                ParentShare::parse(bad).unwrap_err().field,
                "parent_share",
                "{bad}"
            );
        }
    }

    #[test]
    fn rate_is_exact_to_a_thousandth_of_a_permille() {
        assert_eq!(SamplingRate::from_permille(1.5).unwrap().ppm(), 1500);
        assert_eq!(SamplingRate::from_permille(2.0).unwrap().to_string(), "2");
        assert_eq!(
            SamplingRate::from_permille(1.234).unwrap().to_string(),
            "1.234"
        );
        for bad in [0.0, -1.5, 1.2345, 1001.0, f64::INFINITY] {
            assert!(SamplingRate::from_permille(bad).is_err(), "{bad}");
        }
        // 0.1 + 0.2 style float noise is not mistaken for extra precision.
        assert_eq!(SamplingRate::from_permille(0.1 + 0.2).unwrap().ppm(), 300);
    }

    #[test]
    fn plan_text_uses_defaults_and_names_the_bad_field() {
        let p = PlanText {
            population: Some("869,548"),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(SamplePlan::compute(&p).total, 1305);
        for (text, field) in [
            (PlanText::default(), "population"),
            (
                PlanText {
                    population: Some("abc"),
                    ..Default::default()
                },
                "population",
            ),
            (
                PlanText {
                    population: Some("-5"),
                    ..Default::default()
                },
                "population",
            ),
            (
                PlanText {
                    population: Some("10"),
                    rate_permille: Some("x"),
                    ..Default::default()
                },
                "rate_permille",
            ),
            (
                PlanText {
                    population: Some("10"),
                    parent_share: Some("0.3"),
                    ..Default::default()
                },
                "parent_share",
            ),
            (
                PlanText {
                    population: Some("10"),
                    floor: Some("-1"),
                    ..Default::default()
                },
                "floor",
            ),
            (
                PlanText {
                    population: Some("10"),
                    floor: Some("1.5"),
                    ..Default::default()
                },
                "floor",
            ),
        ] {
            assert_eq!(text.parse().unwrap_err().field, field, "{text:?}");
        }
    }

    #[test]
    fn a_floor_above_the_rate_raises_the_sample() {
        let p =
            PlanParameters::new(100_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 400).unwrap();
        let plan = SamplePlan::compute(&p);
        assert_eq!(plan.by_rate, 150);
        assert!(plan.floor_applied);
        assert_eq!(plan.total, 400);
        assert_eq!(quotas(&plan), vec![200, 34, 34, 33, 33, 33, 33]);
    }

    #[test]
    fn a_short_frame_caps_the_group_and_moves_the_shortfall_round_robin() {
        let p = params(1_000_000); // 750 parents, 125 each
        let mut frames = GroupMap::default();
        frames[Principal] = Some(40); // short by 85
        let plan = SamplePlan::with_frames(&p, &frames);
        assert_eq!(plan.capped_groups().collect::<Vec<_>>(), vec![Principal]);
        // 85 over the five others with room: 17 each.
        assert_eq!(quotas(&plan), vec![750, 142, 142, 40, 142, 142, 142]);
        assert_eq!(plan.groups[Student].received, 17);
        assert_eq!(
            plan.total,
            plan.groups.values().map(|g| g.quota).sum::<u64>()
        );
    }

    #[test]
    fn a_shortfall_with_a_remainder_goes_first_to_the_earliest_groups() {
        let p = params(1_000_000);
        let mut frames = GroupMap::default();
        frames[NpcDeputy] = Some(118); // short by 7: five groups get 1, then 2 more
        frames[Teacher] = Some(126); // room for only one more
        let plan = SamplePlan::with_frames(&p, &frames);
        assert_eq!(quotas(&plan), vec![750, 127, 126, 127, 118, 126, 126]);
    }

    #[test]
    fn when_no_other_group_has_room_parents_take_the_shortfall() {
        let p = params(1_000_000);
        let frames = sized([
            None,
            Some(100),
            Some(125),
            Some(125),
            Some(125),
            Some(125),
            Some(125),
        ]);
        let plan = SamplePlan::with_frames(&p, &frames);
        assert_eq!(quotas(&plan), vec![775, 100, 125, 125, 125, 125, 125]);
        assert_eq!(plan.unfilled, 0);
        // And when parents are short too, the plan says how many places are unfilled.
        let frames = sized([
            Some(760),
            Some(100),
            Some(125),
            Some(125),
            Some(125),
            Some(125),
            Some(125),
        ]);
        let plan = SamplePlan::with_frames(&p, &frames);
        assert_eq!(plan.quota(Parent), 760);
        assert_eq!(plan.unfilled, 15);
    }

    #[test]
    fn a_short_parent_frame_moves_its_shortfall_to_the_other_groups() {
        let p = params(1_000_000);
        let mut frames = GroupMap::default();
        frames[Parent] = Some(744);
        let plan = SamplePlan::with_frames(&p, &frames);
        assert_eq!(quotas(&plan), vec![744, 126, 126, 126, 126, 126, 126]);
    }

    fn arb_params() -> impl Strategy<Value = PlanParameters> {
        (
            1i64..50_000_000,
            1u32..20_000,
            5_000u16..10_000,
            0i64..5_000,
        )
            .prop_map(|(pop, ppm, share, floor)| {
                PlanParameters::new(
                    pop,
                    SamplingRate::from_ppm(ppm).unwrap(),
                    ParentShare::try_from(Fraction::from_basis_points(share).unwrap()).unwrap(),
                    floor,
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn groups_sum_to_n_and_parents_get_their_share(p in arb_params()) {
            let plan = SamplePlan::compute(&p);
            prop_assert_eq!(quotas(&plan).iter().sum::<u64>(), plan.total);
            let n = u128::from(plan.total);
            let min_parents = (n * u128::from(p.parent_share.fraction().basis_points())).div_ceil(10_000);
            prop_assert!(u128::from(plan.quota(Parent)) >= min_parents);
            prop_assert!(plan.total >= p.floor);
            let others: Vec<u64> = RespondentGroup::OTHERS.iter().map(|g| plan.quota(*g)).collect();
            let (lo, hi) = (others.iter().min().unwrap(), others.iter().max().unwrap());
            prop_assert!(hi - lo <= 1);
            // Larger quotas come first in canonical order.
            prop_assert!(others.windows(2).all(|w| w[0] >= w[1]));
        }

        #[test]
        fn caps_never_exceed_a_frame_and_nothing_is_lost(
            p in arb_params(),
            sizes in proptest::array::uniform7(proptest::option::of(0u64..2_000)),
        ) {
            let frames = sized(sizes);
            let plan = SamplePlan::with_frames(&p, &frames);
            for line in plan.groups.values() {
                if let Some(f) = line.frame {
                    prop_assert!(line.quota <= f);
                }
                prop_assert_eq!(line.capped, line.frame.is_some_and(|f| f < line.base));
            }
            prop_assert_eq!(quotas(&plan).iter().sum::<u64>() + plan.unfilled, plan.total);
            if plan.unfilled > 0 {
                prop_assert!(plan.groups.values().all(|g| g.frame == Some(g.quota)));
            }
            prop_assert_eq!(SamplePlan::with_frames(&p, &frames), plan);
        }
    }
}
