//! `renke-draw-v1`, the first version of the draw (draws made with it stay verifiable).
//!
//! The frame is put in canonical order (stratum, then external id) and digested with SHA-256;
//! a ChaCha20 generator seeded from a 64-bit seed walks each stratum with a partial
//! Fisher–Yates shuffle. Bounded numbers are drawn by rejection from `next_u64`, so the result
//! depends on nothing but the frame, the quotas and the seed (not on a library's sampling code).
//! A person (same phone) is drawn at most once across all groups; reserves are drawn in order
//! after each stratum's sample.
use crate::domain::strata::Stratum;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Describes the algorithm; recorded with every draw so a re-run can use the same one.
pub const ALGORITHM: &str = "renke-draw-v1: ChaCha20Rng::seed_from_u64; canonical order \
(group, area, band, external id); per-stratum partial Fisher-Yates with unbiased bounded draws \
by rejection on next_u64; a phone is drawn once; reserves follow the sample in draw order";

/// One person of the frame, as the draw sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameEntry {
    pub stratum: Stratum,
    pub external_id: String,
    /// The names and values that identify the row, in the digest.
    pub area: String,
    pub school: Option<String>,
    pub grade: Option<u8>,
    /// Normalised phone: the same phone is drawn only once.
    pub phone: Option<String>,
}

/// What one stratum drew: positions in the caller's entry list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratumDraw {
    pub stratum: Stratum,
    pub quota: u64,
    pub selected: Vec<usize>,
    /// In the order they are to be released.
    pub reserves: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrawOutcome {
    pub frame_digest: String,
    pub strata: Vec<StratumDraw>,
}

impl DrawOutcome {
    pub fn selected_count(&self) -> usize {
        self.strata.iter().map(|s| s.selected.len()).sum()
    }

    pub fn reserve_count(&self) -> usize {
        self.strata.iter().map(|s| s.reserves.len()).sum()
    }
}

/// Positions of `entries` in canonical order.
fn canonical_order(entries: &[FrameEntry]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&entries[a], &entries[b]);
        (x.stratum, &x.external_id).cmp(&(y.stratum, &y.external_id))
    });
    order
}

/// SHA-256 over the frame in canonical order, one tab-separated line per person.
pub fn frame_digest(entries: &[FrameEntry]) -> String {
    let mut hasher = Sha256::new();
    for i in canonical_order(entries) {
        let e = &entries[i];
        let line = format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            e.stratum.group.code(),
            e.area,
            e.stratum
                .band
                .map_or(String::new(), |b| b.index().to_string()),
            e.school.as_deref().unwrap_or(""),
            e.grade.map_or(String::new(), |g| g.to_string()),
            e.external_id,
            e.phone.as_deref().unwrap_or(""),
        );
        hasher.update(line.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A uniform number in `0..n` (n > 0), without modulo bias.
fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        if x >= threshold {
            return x % n;
        }
    }
}

/// Draws the sample. `quotas` lists each stratum's quota (strata not listed draw nobody).
pub fn draw(
    entries: &[FrameEntry],
    quotas: &[(Stratum, u64)],
    seed: u64,
    reserve_percent: u64,
) -> DrawOutcome {
    let order = canonical_order(entries);
    let frame_digest = frame_digest(entries);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut taken: HashSet<&str> = HashSet::new();
    let mut quotas: Vec<(Stratum, u64)> = quotas.to_vec();
    quotas.sort_by_key(|(s, _)| *s);
    let mut strata = Vec::with_capacity(quotas.len());
    let mut start = 0;
    for (stratum, quota) in quotas {
        // The stratum's run of the canonical order.
        while start < order.len() && entries[order[start]].stratum < stratum {
            start += 1;
        }
        let mut end = start;
        while end < order.len() && entries[order[end]].stratum == stratum {
            end += 1;
        }
        let mut pool: Vec<usize> = order[start..end].to_vec();
        let reserve_quota = (quota * reserve_percent).div_ceil(100);
        let (mut selected, mut reserves) = (Vec::new(), Vec::new());
        let n = pool.len();
        let mut i = 0;
        while i < n && (selected.len() as u64) < quota + reserve_quota {
            let j = i + below(&mut rng, (n - i) as u64) as usize;
            pool.swap(i, j);
            let pick = pool[i];
            i += 1;
            if let Some(phone) = entries[pick].phone.as_deref()
                && !taken.insert(phone)
            {
                continue;
            }
            if (selected.len() as u64) < quota {
                selected.push(pick);
            } else if (reserves.len() as u64) < reserve_quota {
                reserves.push(pick);
            }
            if (selected.len() as u64) == quota && (reserves.len() as u64) == reserve_quota {
                break;
            }
        }
        strata.push(StratumDraw {
            stratum,
            quota,
            selected,
            reserves,
        });
        start = end;
    }
    DrawOutcome {
        frame_digest,
        strata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::group::RespondentGroup;
    use proptest::prelude::*;

    fn entry(group: RespondentGroup, area: usize, id: &str, phone: Option<&str>) -> FrameEntry {
        FrameEntry {
            stratum: Stratum {
                group,
                area,
                band: None,
            },
            external_id: id.into(),
            area: format!("area{area}"),
            school: None,
            grade: None,
            phone: phone.map(str::to_owned),
        }
    }

    fn frame(n: usize) -> Vec<FrameEntry> {
        (0..n)
            .map(|i| entry(RespondentGroup::Teacher, i % 2, &format!("t{i:04}"), None))
            .collect()
    }

    fn ids(entries: &[FrameEntry], picks: &[usize]) -> Vec<String> {
        picks
            .iter()
            .map(|&i| entries[i].external_id.clone())
            .collect()
    }

    fn quotas(a: u64, b: u64) -> Vec<(Stratum, u64)> {
        vec![
            (
                Stratum {
                    group: RespondentGroup::Teacher,
                    area: 0,
                    band: None,
                },
                a,
            ),
            (
                Stratum {
                    group: RespondentGroup::Teacher,
                    area: 1,
                    band: None,
                },
                b,
            ),
        ]
    }

    #[test]
    fn the_same_frame_and_seed_give_the_same_sample_in_any_row_order() {
        let f = frame(200);
        let a = draw(&f, &quotas(10, 5), 42, 20);
        let mut shuffled = f.clone();
        shuffled.reverse();
        let b = draw(&shuffled, &quotas(10, 5), 42, 20);
        assert_eq!(a.frame_digest, b.frame_digest);
        for (x, y) in a.strata.iter().zip(&b.strata) {
            assert_eq!(ids(&f, &x.selected), ids(&shuffled, &y.selected));
            assert_eq!(ids(&f, &x.reserves), ids(&shuffled, &y.reserves));
        }
        let c = draw(&f, &quotas(10, 5), 43, 20);
        assert_ne!(
            ids(&f, &a.strata[0].selected),
            ids(&f, &c.strata[0].selected)
        );
    }

    #[test]
    fn a_known_seed_gives_a_known_sample() {
        // Pinned: if this changes, the algorithm changed and ALGORITHM must get a new version.
        let f = frame(20);
        let out = draw(&f, &quotas(3, 2), 2026, 20);
        assert_eq!(
            ids(&f, &out.strata[0].selected),
            vec!["t0012", "t0016", "t0004"]
        );
        assert_eq!(ids(&f, &out.strata[1].selected), vec!["t0007", "t0003"]);
        assert_eq!(
            out.frame_digest,
            "d182b94f2115fa2adf6abdbc9b587e15f3c432c008fcfeae2274104b6f7cd630"
        );
        assert_eq!(out.strata[0].reserves.len(), 1);
        assert_eq!(out.strata[1].reserves.len(), 1);
    }

    #[test]
    fn a_phone_is_drawn_only_once_across_groups() {
        let mut f = vec![entry(RespondentGroup::Parent, 0, "p1", Some("13800000001"))];
        f.push(entry(
            RespondentGroup::Teacher,
            0,
            "t1",
            Some("13800000001"),
        ));
        f.push(entry(
            RespondentGroup::Teacher,
            0,
            "t2",
            Some("13800000002"),
        ));
        let q = vec![
            (
                Stratum {
                    group: RespondentGroup::Parent,
                    area: 0,
                    band: None,
                },
                1,
            ),
            (
                Stratum {
                    group: RespondentGroup::Teacher,
                    area: 0,
                    band: None,
                },
                1,
            ),
        ];
        for seed in 0..20 {
            let out = draw(&f, &q, seed, 0);
            assert_eq!(ids(&f, &out.strata[1].selected), vec!["t2"], "seed {seed}");
        }
    }

    #[test]
    fn bounded_draws_stay_in_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for n in [1u64, 2, 3, 7, 1 << 40, u64::MAX] {
            for _ in 0..100 {
                assert!(below(&mut rng, n) < n);
            }
        }
    }

    proptest! {
        #[test]
        fn quotas_are_met_no_one_is_drawn_twice_and_reserves_are_apart(
            n in 0usize..300,
            qa in 0u64..80,
            qb in 0u64..80,
            seed in any::<u64>(),
        ) {
            let f = frame(n);
            let out = draw(&f, &quotas(qa, qb), seed, 20);
            let mut all = HashSet::new();
            for s in &out.strata {
                let size = f.iter().filter(|e| e.stratum == s.stratum).count() as u64;
                prop_assert_eq!(s.selected.len() as u64, s.quota.min(size));
                prop_assert_eq!(
                    s.reserves.len() as u64,
                    (s.quota * 20).div_ceil(100).min(size.saturating_sub(s.quota))
                );
                for &i in s.selected.iter().chain(&s.reserves) {
                    prop_assert_eq!(f[i].stratum, s.stratum);
                    prop_assert!(all.insert(i), "drawn twice");
                }
            }
            prop_assert_eq!(draw(&f, &quotas(qa, qb), seed, 20), out);
        }
    }
}
