//! Areas, grade bands and the plan per stratum (SPEC.md "Sample plan", step 5).
//!
//! A group's quota is spread over the areas in proportion to their population and, for
//! students and parents, evenly over grade bands. Every split uses the largest-remainder
//! method with ties broken by order, so the plan is deterministic.
use super::draw::RecordedQuota;
use super::geography::{AreaScope, Geography};
use super::group::{GroupMap, RespondentGroup};
use super::places::{PlaceKey, Places};
use super::quota::{PlanParameters, SamplePlan};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Urban, town or rural (城区 / 镇区 / 乡村).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaClass {
    Urban,
    Town,
    Rural,
}

impl AreaClass {
    pub const ALL: [AreaClass; 3] = [AreaClass::Urban, AreaClass::Town, AreaClass::Rural];

    pub fn code(self) -> &'static str {
        match self {
            AreaClass::Urban => "urban",
            AreaClass::Town => "town",
            AreaClass::Rural => "rural",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AreaClass::Urban => "城区",
            AreaClass::Town => "镇区",
            AreaClass::Rural => "乡村",
        }
    }
}

impl fmt::Display for AreaClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for AreaClass {
    type Err = StrataError;

    /// Takes the code (`urban`) or the Chinese label (`城区`).
    fn from_str(s: &str) -> Result<Self, StrataError> {
        let s = s.trim();
        AreaClass::ALL
            .into_iter()
            .find(|c| c.code() == s || c.label() == s)
            .ok_or_else(|| StrataError::new("class", "类别须为 城区/镇区/乡村（urban/town/rural）"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StrataError {
    pub field: &'static str,
    pub message: String,
}

impl StrataError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        StrataError {
            field,
            message: message.into(),
        }
    }
}

/// An area (乡镇/街道) of the county, as entered by the organiser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub name: String,
    pub class: AreaClass,
    pub population: u64,
}

impl Area {
    pub fn new(name: &str, class: AreaClass, population: i64) -> Result<Area, StrataError> {
        let name = name.trim();
        let n = name.chars().count();
        if n == 0 || n > 50 || name.chars().any(char::is_control) {
            return Err(StrataError::new("name", "乡镇（街道）名称须为 1–50 个字符"));
        }
        if population <= 0 {
            return Err(StrataError::new(
                "population",
                "乡镇（街道）人口必须是正整数",
            ));
        }
        Ok(Area {
            name: name.to_owned(),
            class,
            population: population as u64,
        })
    }
}

/// Checks a county's list of areas: at least one, names unique.
pub fn check_areas(areas: &[Area]) -> Result<(), StrataError> {
    if areas.is_empty() {
        return Err(StrataError::new("areas", "至少需要一个乡镇（街道）"));
    }
    if areas.len() > 500 {
        return Err(StrataError::new("areas", "乡镇（街道）不能超过 500 个"));
    }
    for (i, a) in areas.iter().enumerate() {
        if areas[..i].iter().any(|b| b.name == a.name) {
            return Err(StrataError::new(
                "name",
                format!("乡镇（街道）“{}”重复", a.name),
            ));
        }
    }
    Ok(())
}

/// A band of school grades inside which quotas are spread evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GradeBand {
    pub from: u8,
    pub to: u8,
}

impl GradeBand {
    pub fn contains(self, grade: u8) -> bool {
        (self.from..=self.to).contains(&grade)
    }

    pub fn label(self) -> String {
        format!("{}–{} 年级", self.from, self.to)
    }
}

const STUDENT_BANDS: [GradeBand; 3] = [
    GradeBand { from: 3, to: 4 },
    GradeBand { from: 5, to: 6 },
    GradeBand { from: 7, to: 9 },
];
const PARENT_BANDS: [GradeBand; 3] = [
    GradeBand { from: 1, to: 3 },
    GradeBand { from: 4, to: 6 },
    GradeBand { from: 7, to: 9 },
];

/// The grade bands of a group (empty for groups not stratified by grade).
pub fn bands(group: RespondentGroup) -> &'static [GradeBand] {
    match group {
        RespondentGroup::Student => &STUDENT_BANDS,
        RespondentGroup::Parent => &PARENT_BANDS,
        _ => &[],
    }
}

/// One of a group's grade bands, by its position in [`bands`] (0: the lowest grades). Groups
/// without grade bands have none: their strata and answers carry `Option<Band>::None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Band(u8);

impl Band {
    /// Band `index` of `group`, if the group has that many bands.
    pub fn of(group: RespondentGroup, index: usize) -> Option<Band> {
        (index < bands(group).len()).then_some(Band(index as u8))
    }

    /// The band's position among its group's bands.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Its grades, for the group it belongs to (`None` if the group has no such band).
    pub fn grades(self, group: RespondentGroup) -> Option<GradeBand> {
        bands(group).get(self.index()).copied()
    }

    /// "3–4 年级", or an empty text for a band the group does not have.
    pub fn label(self, group: RespondentGroup) -> String {
        self.grades(group)
            .map_or_else(String::new, GradeBand::label)
    }
}

/// Which band of `group` a grade falls in.
pub fn band_of(group: RespondentGroup, grade: u8) -> Option<Band> {
    bands(group)
        .iter()
        .position(|b| b.contains(grade))
        .map(|i| Band(i as u8))
}

/// A cell of the sample: group, area (index into the county's areas) and grade band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Stratum {
    pub group: RespondentGroup,
    pub area: usize,
    /// For students and parents.
    pub band: Option<Band>,
}

impl Stratum {
    /// Every stratum of the county, in canonical order: group, area, band.
    pub fn all(area_count: usize) -> Vec<Stratum> {
        let mut out = Vec::new();
        for group in RespondentGroup::ALL {
            for area in 0..area_count {
                match bands(group).len() {
                    0 => out.push(Stratum {
                        group,
                        area,
                        band: None,
                    }),
                    n => out.extend((0..n).map(|b| Stratum {
                        group,
                        area,
                        band: Some(Band(b as u8)),
                    })),
                }
            }
        }
        out
    }

    pub fn band_label(&self) -> Option<String> {
        self.band.map(|b| b.label(self.group))
    }
}

/// Splits `total` in proportion to `weights` by the largest-remainder method; ties go to the
/// earlier position. All-zero weights split evenly.
pub fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let even = vec![1u64; weights.len()];
    let weights = if weights.iter().all(|w| *w == 0) {
        &even[..]
    } else {
        weights
    };
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    let total128 = u128::from(total);
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|w| (total128 * u128::from(*w) / sum) as u64)
        .collect();
    let given: u64 = shares.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; the stable sort keeps earlier positions first on ties.
    order.sort_by_key(|&i| std::cmp::Reverse(total128 * u128::from(weights[i]) % sum));
    for &i in order.iter().take((total - given) as usize) {
        shares[i] += 1;
    }
    shares
}

/// One stratum's line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratumQuota {
    pub stratum: Stratum,
    /// Before frame caps.
    pub base: u64,
    pub quota: u64,
    /// Persons in this stratum's frame, once the group's roster is in.
    pub frame: Option<u64>,
    pub capped: bool,
}

/// The plan per stratum. `frames[i]` is the frame size of `Stratum::all(areas.len())[i]`,
/// `None` while the group has no roster. The group quotas come from `plan` (already capped by
/// group frame totals).
pub fn stratify(plan: &SamplePlan, areas: &[Area], frames: &[Option<u64>]) -> Vec<StratumQuota> {
    let strata = Stratum::all(areas.len());
    let populations: Vec<u64> = areas.iter().map(|a| a.population).collect();
    let mut out = Vec::with_capacity(strata.len());
    for group in RespondentGroup::ALL {
        let by_area = largest_remainder(plan.quota(group), &populations);
        let first = out.len();
        for (area, &q) in by_area.iter().enumerate() {
            let band_count = bands(group).len();
            let split = if band_count == 0 {
                vec![q]
            } else {
                largest_remainder(q, &vec![1; band_count])
            };
            for (b, &base) in split.iter().enumerate() {
                let stratum = Stratum {
                    group,
                    area,
                    band: (band_count > 0).then_some(Band(b as u8)),
                };
                let frame = strata
                    .iter()
                    .position(|s| *s == stratum)
                    .and_then(|i| frames.get(i).copied().flatten());
                out.push(StratumQuota {
                    stratum,
                    base,
                    quota: base,
                    frame,
                    capped: false,
                });
            }
        }
        cap_within_group(&mut out[first..], &populations);
    }
    out
}

/// The plan with everything known so far: group quotas capped by roster sizes, and the
/// quotas per stratum once the areas are known.
#[derive(Debug, Clone)]
pub struct FullPlan {
    pub plan: SamplePlan,
    pub geo: Geography,
    pub strata: Vec<StratumQuota>,
}

/// A stratum's line of the plan, as organisers read it.
#[derive(Debug, Clone, Serialize)]
pub struct StratumLine {
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub area: String,
    pub area_class: &'static str,
    pub band: Option<String>,
    pub base: u64,
    pub quota: u64,
    pub frame: Option<u64>,
    pub capped: bool,
    /// Places held by invitations or taken by channel answers, and those left (where known).
    pub claimed: Option<u64>,
    pub left: Option<u64>,
}

impl FullPlan {
    /// `group_frames`: each group's roster size; `stratum_frames`: each stratum's, in the order
    /// of [`Stratum::all`] (both `None` where no roster is in).
    pub fn new(
        params: &PlanParameters,
        group_frames: &GroupMap<Option<u64>>,
        geo: Geography,
        stratum_frames: &[Option<u64>],
    ) -> FullPlan {
        let plan = SamplePlan::with_frames(params, group_frames);
        let strata = if geo.areas.is_empty() {
            Vec::new()
        } else {
            stratify(&plan, &geo.areas, stratum_frames)
        };
        FullPlan { plan, geo, strata }
    }

    pub fn lines(&self) -> Vec<StratumLine> {
        self.lines_with(&[])
    }

    /// The lines with each stratum's places.
    pub fn lines_with(&self, places: &[Places]) -> Vec<StratumLine> {
        self.strata
            .iter()
            .map(|s| {
                let area = &self.geo.areas[s.stratum.area];
                let key = PlaceKey {
                    group: s.stratum.group,
                    area: AreaScope::Area(self.geo.area_ids[s.stratum.area]),
                    band: s.stratum.band,
                };
                let places = places.iter().find(|p| p.key == key);
                StratumLine {
                    group: s.stratum.group,
                    group_label: s.stratum.group.label(),
                    area: area.name.clone(),
                    area_class: area.class.label(),
                    band: s.stratum.band_label(),
                    base: s.base,
                    quota: s.quota,
                    frame: s.frame,
                    capped: s.capped,
                    claimed: places.map(|p| p.claimed),
                    left: places.map(Places::left),
                }
            })
            .collect()
    }

    /// The quota of a cell: a group in one area (all its bands), or the whole group.
    pub fn cell_quota(&self, group: RespondentGroup, cell: AreaScope) -> u64 {
        match cell.area().and_then(|id| self.geo.area_index(id)) {
            Some(area) => self
                .strata
                .iter()
                .filter(|s| s.stratum.group == group && s.stratum.area == area)
                .map(|s| s.quota)
                .sum(),
            None => self.plan.quota(group),
        }
    }

    /// The quotas the draw records: the strata whose group has a roster, by area id.
    pub fn recorded_quotas(&self) -> Vec<RecordedQuota> {
        self.strata
            .iter()
            .filter(|s| s.frame.is_some())
            .map(|s| RecordedQuota {
                group: s.stratum.group,
                area_id: self.geo.area_ids[s.stratum.area],
                band: s.stratum.band,
                quota: s.quota,
            })
            .collect()
    }
}

/// Caps strata at their frame and hands the shortfall on: first to the other bands of the
/// same area, evenly; what they cannot take, to the group's other areas in proportion to
/// their population (evenly over each area's bands), as far as their frames have room. Every
/// split is by largest remainder, so the plan stays deterministic.
fn cap_within_group(lines: &mut [StratumQuota], populations: &[u64]) {
    let mut short_by_area = vec![0u64; populations.len()];
    for line in lines.iter_mut() {
        if let Some(f) = line.frame
            && f < line.quota
        {
            short_by_area[line.stratum.area] += line.quota - f;
            line.quota = f;
            line.capped = true;
        }
    }
    let mut left = 0;
    for (area, short) in short_by_area.into_iter().enumerate() {
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].stratum.area == area)
            .collect();
        left += short - give_evenly(lines, &at, short);
    }
    while left > 0 {
        let open: Vec<usize> = (0..populations.len())
            .filter(|&a| lines.iter().any(|l| l.stratum.area == a && room(l) > 0))
            .collect();
        if open.is_empty() {
            break;
        }
        let weights: Vec<u64> = open.iter().map(|&a| populations[a]).collect();
        let mut gave = 0;
        for (&area, share) in open.iter().zip(largest_remainder(left, &weights)) {
            let at: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].stratum.area == area)
                .collect();
            gave += give_evenly(lines, &at, share);
        }
        if gave == 0 {
            break;
        }
        left -= gave;
    }
}

/// How many more places a stratum can take: none once capped, its frame's rest otherwise.
fn room(line: &StratumQuota) -> u64 {
    if line.capped {
        0
    } else {
        line.frame
            .map_or(u64::MAX, |f| f.saturating_sub(line.quota))
    }
}

/// Spreads up to `amount` places evenly over the strata `at` that have room; returns how many
/// it placed.
fn give_evenly(lines: &mut [StratumQuota], at: &[usize], amount: u64) -> u64 {
    let mut left = amount;
    while left > 0 {
        let open: Vec<usize> = at
            .iter()
            .copied()
            .filter(|&i| room(&lines[i]) > 0)
            .collect();
        if open.is_empty() {
            break;
        }
        let mut gave = 0;
        for (&i, share) in open
            .iter()
            .zip(largest_remainder(left, &vec![1; open.len()]))
        {
            let g = share.min(room(&lines[i]));
            lines[i].quota += g;
            gave += g;
        }
        if gave == 0 {
            break;
        }
        left -= gave;
    }
    amount - left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::quota::{ParentShare, PlanParameters, SamplingRate};
    use proptest::prelude::*;

    fn area(name: &str, population: i64) -> Area {
        Area::new(name, AreaClass::Rural, population).unwrap()
    }

    #[test]
    fn largest_remainder_is_proportional_and_breaks_ties_by_order() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(
            largest_remainder(653, &[500, 300, 200]),
            vec![326, 196, 131]
        );
        assert_eq!(largest_remainder(5, &[0, 0]), vec![3, 2]);
        assert_eq!(largest_remainder(0, &[3, 4]), vec![0, 0]);
    }

    #[test]
    fn each_group_is_spread_over_areas_by_population_and_bands_evenly() {
        let p =
            PlanParameters::new(1_000_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
        let plan = SamplePlan::compute(&p);
        let areas = [area("城关镇", 600_000), area("桥头镇", 400_000)];
        let lines = stratify(&plan, &areas, &vec![None; Stratum::all(2).len()]);
        // Parents 750: 450 / 300 by area, then 150 per band.
        let parents: Vec<u64> = lines
            .iter()
            .filter(|l| l.stratum.group == RespondentGroup::Parent)
            .map(|l| l.quota)
            .collect();
        assert_eq!(parents, vec![150, 150, 150, 100, 100, 100]);
        // Teachers 125: 75 / 50, no bands.
        let teachers: Vec<u64> = lines
            .iter()
            .filter(|l| l.stratum.group == RespondentGroup::Teacher)
            .map(|l| l.quota)
            .collect();
        assert_eq!(teachers, vec![75, 50]);
        assert_eq!(lines.iter().map(|l| l.quota).sum::<u64>(), 1500);
    }

    #[test]
    fn a_short_stratum_gives_its_shortfall_to_the_rest_of_its_group() {
        let p =
            PlanParameters::new(1_000_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
        let plan = SamplePlan::compute(&p);
        let areas = [area("甲", 1), area("乙", 1)];
        let strata = Stratum::all(2);
        let frames: Vec<Option<u64>> = strata
            .iter()
            .map(|s| match (s.group, s.area) {
                (RespondentGroup::Principal, 0) => Some(20),
                (RespondentGroup::Principal, 1) => Some(500),
                _ => None,
            })
            .collect();
        let lines = stratify(&plan, &areas, &frames);
        let principals: Vec<(u64, bool)> = lines
            .iter()
            .filter(|l| l.stratum.group == RespondentGroup::Principal)
            .map(|l| (l.quota, l.capped))
            .collect();
        assert_eq!(principals, vec![(20, true), (105, false)]);
    }

    #[test]
    fn a_short_band_gives_first_to_its_own_area_then_by_population() {
        // 1,000,000 people: parents 750 over 南乡 (100k), 北镇 (300k), 城关 (600k) → 75 / 225 /
        // 450, i.e. 25 / 75 / 150 per band.
        let p =
            PlanParameters::new(1_000_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
        let plan = SamplePlan::compute(&p);
        let areas = [
            area("南乡", 100_000),
            area("北镇", 300_000),
            area("城关", 600_000),
        ];
        let strata = Stratum::all(3);
        let parents = |frames: &dyn Fn(usize, usize) -> u64| -> Vec<u64> {
            let f: Vec<Option<u64>> = strata
                .iter()
                .map(|s| match (s.group, s.band) {
                    (RespondentGroup::Parent, Some(b)) => Some(frames(s.area, b.index())),
                    _ => None,
                })
                .collect();
            stratify(&plan, &areas, &f)
                .iter()
                .filter(|l| l.stratum.group == RespondentGroup::Parent)
                .map(|l| l.quota)
                .collect()
        };
        // 南乡's first band has 15 parents: its 10 go to 南乡's other bands (5 + 5).
        let q = parents(&|a, b| if (a, b) == (0, 0) { 15 } else { 1_000 });
        assert_eq!(q, vec![15, 30, 30, 75, 75, 75, 150, 150, 150]);
        // All of 南乡 has 10 per band: 45 go to 北镇 and 城关 as 300k : 600k = 15 : 30, evenly
        // over their bands.
        let q = parents(&|a, _| if a == 0 { 10 } else { 1_000 });
        assert_eq!(q, vec![10, 10, 10, 80, 80, 80, 160, 160, 160]);
        // 北镇 too has no room beyond 76 per band: what it cannot take goes to 城关.
        let q = parents(&|a, _| match a {
            0 => 10,
            1 => 76,
            _ => 1_000,
        });
        assert_eq!(q, vec![10, 10, 10, 76, 76, 76, 164, 164, 164]);
        assert_eq!(q.iter().sum::<u64>(), 750);
    }

    #[test]
    fn area_classes_parse_from_codes_and_labels() {
        assert_eq!("城区".parse::<AreaClass>().unwrap(), AreaClass::Urban);
        assert_eq!("rural".parse::<AreaClass>().unwrap(), AreaClass::Rural);
        assert!("city".parse::<AreaClass>().is_err());
        assert_eq!(band_of(RespondentGroup::Student, 2), None);
        assert_eq!(
            band_of(RespondentGroup::Student, 8).map(Band::index),
            Some(2)
        );
        assert_eq!(
            band_of(RespondentGroup::Parent, 2).map(Band::index),
            Some(0)
        );
        assert_eq!(Band::of(RespondentGroup::Teacher, 0), None);
        assert_eq!(
            Band::of(RespondentGroup::Parent, 1).map(|b| b.label(RespondentGroup::Parent)),
            Some("4–6 年级".to_owned())
        );
    }

    proptest! {
        #[test]
        fn largest_remainder_always_sums_to_the_total(
            total in 0u64..100_000,
            weights in proptest::collection::vec(0u64..1_000_000, 1..30),
        ) {
            let shares = largest_remainder(total, &weights);
            prop_assert_eq!(shares.iter().sum::<u64>(), total);
            let sum: u64 = weights.iter().sum();
            if sum > 0 {
                for (s, w) in shares.iter().zip(&weights) {
                    let exact = total as f64 * *w as f64 / sum as f64;
                    prop_assert!((*s as f64 - exact).abs() < 1.0 + 1e-9);
                }
            }
        }

        #[test]
        fn strata_sum_to_each_group_quota_and_respect_frames(
            pops in proptest::collection::vec(1i64..100_000, 1..6),
            frame_sizes in proptest::collection::vec(proptest::option::of(0u64..300), 60),
        ) {
            let areas: Vec<Area> = pops.iter().enumerate().map(|(i, p)| area(&format!("a{i}"), *p)).collect();
            let p = PlanParameters::new(500_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
            let plan = SamplePlan::compute(&p);
            let n = Stratum::all(areas.len()).len();
            let frames: Vec<Option<u64>> = (0..n).map(|i| frame_sizes[i % frame_sizes.len()]).collect();
            let lines = stratify(&plan, &areas, &frames);
            prop_assert_eq!(lines.len(), n);
            for group in RespondentGroup::ALL {
                let group_lines: Vec<_> = lines.iter().filter(|l| l.stratum.group == group).collect();
                let sum: u64 = group_lines.iter().map(|l| l.quota).sum();
                let room: u64 = group_lines.iter().map(|l| l.frame.unwrap_or(u64::MAX / 64)).sum();
                prop_assert_eq!(sum, plan.quota(group).min(room));
                for l in group_lines {
                    if let Some(f) = l.frame { prop_assert!(l.quota <= f); }
                }
            }
        }
    }
}
