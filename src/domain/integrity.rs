//! Whether a school's or a channel's answers look dictated: for each unit, its answers, those
//! too fast or straight-lined, those held, the largest cluster of identical answer sets given
//! within one half hour, and the share of respondents who chose the top option for every item
//! against the rest of the county, with a one-sided binomial test. A unit of at least
//! [`MIN_ANSWERS`] answers whose share is that high with p < [`SUSPECT_P`] is marked
//! 疑似统一口径. Nothing is deleted: the marks are evidence for people to look at.
use super::tally::{Aggregates, MIN_CELL, Sums};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Units with fewer answers are never marked.
pub const MIN_ANSWERS: i64 = 20;
/// The significance a unit must reach to be marked.
pub const SUSPECT_P: f64 = 0.001;
/// Identical answer sets are counted together within windows of this many minutes.
pub const CLUSTER_MINUTES: i64 = 30;

/// What the counts are kept for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// The whole county (id 0): the reference the units are held against.
    County,
    School,
    Channel,
}

impl UnitKind {
    pub fn code(self) -> &'static str {
        match self {
            UnitKind::County => "county",
            UnitKind::School => "school",
            UnitKind::Channel => "channel",
        }
    }

    pub fn parse(code: &str) -> Option<UnitKind> {
        [UnitKind::County, UnitKind::School, UnitKind::Channel]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub struct UnitKey {
    pub kind: UnitKind,
    pub id: i32,
}

impl UnitKey {
    pub const COUNTY: UnitKey = UnitKey {
        kind: UnitKind::County,
        id: 0,
    };

    pub fn school(id: i32) -> UnitKey {
        UnitKey {
            kind: UnitKind::School,
            id,
        }
    }

    pub fn channel(id: i32) -> UnitKey {
        UnitKey {
            kind: UnitKind::Channel,
            id,
        }
    }
}

/// A unit's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnitSums {
    pub answers: i64,
    pub too_fast: i64,
    pub straight_lined: i64,
    /// Respondents who chose the top option for every item.
    pub all_top: i64,
}

impl UnitSums {
    pub fn add(&mut self, o: &UnitSums) {
        self.answers += o.answers;
        self.too_fast += o.too_fast;
        self.straight_lined += o.straight_lined;
        self.all_top += o.all_top;
    }
}

/// An answer set as one text (item = option, in item order): equal sets, equal texts. What is
/// stored is a keyed fingerprint of it, so the stored value does not give the answers away.
pub fn pattern_of(answers: &[(String, String)]) -> String {
    let mut text = String::new();
    for (item, option) in answers {
        text.push_str(item);
        text.push('=');
        text.push_str(option);
        text.push('\n');
    }
    text
}

/// The start of the half hour `t` falls in.
pub fn window_of(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let step = CLUSTER_MINUTES * 60;
    let secs = t.timestamp().div_euclid(step) * step;
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(X ≥ k) for X ~ Binomial(n, p): the chance of a share at least this high if the unit
/// answered like the rest of the county.
pub fn binomial_upper_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (nf, lp, lq) = (n as f64, p.ln(), (1.0 - p).ln());
    let ln_n = ln_gamma(nf + 1.0);
    let mut total = 0.0;
    for i in k..=n {
        let fi = i as f64;
        let ln_term =
            ln_n - ln_gamma(fi + 1.0) - ln_gamma(nf - fi + 1.0) + fi * lp + (nf - fi) * lq;
        total += ln_term.exp();
    }
    total.min(1.0)
}

/// A unit's line of the integrity panel.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub kind: UnitKind,
    pub id: i32,
    pub label: String,
    /// Its figures; none where it has fewer than [`MIN_CELL`] answers (anonymity).
    pub figures: Option<UnitFigures>,
    /// Its answers held past their address's threshold (counted nowhere until accepted).
    pub held: u64,
    /// 疑似统一口径: at least [`MIN_ANSWERS`] answers and p < [`SUSPECT_P`].
    pub suspected: bool,
}

/// What a unit's line says of its answers.
#[derive(Debug, Clone, Serialize)]
pub struct UnitFigures {
    #[serde(flatten)]
    pub sums: UnitSums,
    /// The most answers with one identical answer set within one half hour.
    pub largest_cluster: u64,
    /// The share of the unit's respondents who chose the top option for every item.
    pub all_top_share: f64,
    /// The same share among the rest of the county.
    pub rest_share: Option<f64>,
    /// One-sided binomial p-value of a share this high if the unit answered like the rest.
    pub p_value: Option<f64>,
}

/// Each unit's line, from the units' counts (the county's among them), their largest clusters
/// and held answers, named by `label` (units it does not name are left out); schools then
/// channels, the marked first, then by p-value.
pub fn reports(
    units: &BTreeMap<UnitKey, UnitSums>,
    clusters: &HashMap<UnitKey, u64>,
    held: &HashMap<UnitKey, u64>,
    label: impl Fn(&UnitKey) -> Option<String>,
) -> Vec<UnitReport> {
    let county = units.get(&UnitKey::COUNTY).copied().unwrap_or_default();
    let mut keys: Vec<UnitKey> = units
        .keys()
        .chain(held.keys())
        .filter(|k| k.kind != UnitKind::County)
        .copied()
        .collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<UnitReport> = keys
        .into_iter()
        .filter_map(|key| {
            let label = label(&key)?;
            let s = units.get(&key).copied().unwrap_or_default();
            let figures = (s.answers >= MIN_CELL).then(|| {
                let rest_n = county.answers - s.answers;
                let rest_top = county.all_top - s.all_top;
                let rest_share = (rest_n > 0).then(|| rest_top as f64 / rest_n as f64);
                UnitFigures {
                    sums: s,
                    largest_cluster: clusters.get(&key).copied().unwrap_or(0),
                    all_top_share: s.all_top as f64 / s.answers as f64,
                    rest_share,
                    p_value: rest_share
                        .map(|p0| binomial_upper_tail(s.answers as u64, s.all_top as u64, p0)),
                }
            });
            let suspected = figures.as_ref().is_some_and(|f| {
                s.answers >= MIN_ANSWERS
                    && f.p_value.is_some_and(|p| p < SUSPECT_P)
                    && f.rest_share.is_some_and(|r| f.all_top_share > r)
            });
            Some(UnitReport {
                kind: key.kind,
                id: key.id,
                label,
                figures,
                held: held.get(&key).copied().unwrap_or(0),
                suspected,
            })
        })
        .collect();
    let p = |u: &UnitReport| u.figures.as_ref().and_then(|f| f.p_value).unwrap_or(1.0);
    out.sort_by(|a, b| {
        (a.kind, !a.suspected)
            .cmp(&(b.kind, !b.suspected))
            .then(p(a).total_cmp(&p(b)))
    });
    out
}

/// A rate with its 95% interval and the respondents it rests on (no rate under [`MIN_CELL`]).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RateLine {
    pub respondents: i64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
}

impl RateLine {
    fn of(s: &Sums) -> RateLine {
        let shown = s.n >= MIN_CELL;
        RateLine {
            respondents: s.n,
            rate: s.pooled().filter(|_| shown),
            interval: s.interval().filter(|_| shown),
        }
    }
}

/// The recognition rate with and without what the panel flags (pooled: Σy / Σx).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rates {
    /// Every counted answer, the flagged among them.
    pub counted: RateLine,
    /// Without answers flagged too fast or straight-lined.
    pub excluding_flagged: RateLine,
    /// Without the schools marked 疑似统一口径.
    pub excluding_suspected: RateLine,
    /// As if every held answer were accepted.
    pub including_held: RateLine,
}

impl Rates {
    /// From the counted aggregates, the units' lines (the schools they mark) and what the held
    /// answers would add.
    pub fn of(counted: &Aggregates, units: &[UnitReport], held: &Aggregates) -> Rates {
        let suspected: HashSet<i32> = units
            .iter()
            .filter(|u| u.suspected && u.kind == UnitKind::School)
            .map(|u| u.id)
            .collect();
        let (mut all, mut unflagged, mut unsuspected) = Default::default();
        for (k, v) in &counted.strata {
            Sums::add(&mut all, &v.sums);
            if !k.flagged {
                Sums::add(&mut unflagged, &v.sums);
            }
            if !k.school.is_some_and(|s| suspected.contains(&s)) {
                Sums::add(&mut unsuspected, &v.sums);
            }
        }
        let mut with_held = all;
        for v in held.strata.values() {
            with_held.add(&v.sums);
        }
        Rates {
            counted: RateLine::of(&all),
            excluding_flagged: RateLine::of(&unflagged),
            excluding_suspected: RateLine::of(&unsuspected),
            including_held: RateLine::of(&with_held),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binomial_tail_matches_hand_computed_values() {
        // P(X ≥ 2), X ~ B(3, 0.5) = (3 + 1) / 8.
        assert!((binomial_upper_tail(3, 2, 0.5) - 0.5).abs() < 1e-12);
        // P(X ≥ 10), X ~ B(10, 0.2) = 0.2^10.
        assert!((binomial_upper_tail(10, 10, 0.2) - 0.2f64.powi(10)).abs() < 1e-18);
        assert_eq!(binomial_upper_tail(10, 0, 0.3), 1.0);
        assert_eq!(binomial_upper_tail(10, 3, 0.0), 0.0);
        // A large unit: 100 of 120 where the county has a third is far beyond chance.
        assert!(binomial_upper_tail(120, 100, 1.0 / 3.0) < 1e-20);
        assert!(binomial_upper_tail(120, 40, 1.0 / 3.0) > 0.4);
    }

    #[test]
    fn a_unit_is_marked_only_with_enough_answers_and_a_share_beyond_chance() {
        let school = |id| UnitKey {
            kind: UnitKind::School,
            id,
        };
        let s = |answers, all_top| UnitSums {
            answers,
            all_top,
            ..Default::default()
        };
        let mut units = BTreeMap::new();
        units.insert(UnitKey::COUNTY, s(400, 100 + 30 + 10));
        units.insert(school(1), s(30, 30)); // dictated
        units.insert(school(2), s(10, 10)); // too few to say
        units.insert(school(3), s(360, 100)); // like the rest
        units.insert(school(4), s(4, 4)); // too few to show
        let r = reports(&units, &HashMap::new(), &HashMap::new(), |k| {
            Some(format!("校{}", k.id))
        });
        assert_eq!(r.len(), 4);
        assert_eq!((r[0].id, r[0].suspected), (1, true), "{r:?}");
        assert!(r.iter().filter(|u| u.id != 1).all(|u| !u.suspected));
        let one = r[0].figures.as_ref().unwrap();
        assert_eq!(one.all_top_share, 1.0);
        assert!((one.rest_share.unwrap() - 110.0 / 370.0).abs() < 1e-12);
        let four = r.iter().find(|u| u.id == 4).unwrap();
        assert!(
            four.figures.is_none(),
            "fewer than five answers show no figure"
        );
    }

    #[test]
    fn equal_answer_sets_have_equal_patterns_and_windows_are_half_hours() {
        let a = vec![
            ("S01".to_owned(), "A".to_owned()),
            ("S02".to_owned(), "B".to_owned()),
        ];
        let mut b = a.clone();
        assert_eq!(pattern_of(&a), pattern_of(&b));
        b[1].1 = "A".into();
        assert_ne!(pattern_of(&a), pattern_of(&b));
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T08:47:12Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(window_of(t).to_rfc3339(), "2026-12-01T08:30:00+00:00");
    }
}
