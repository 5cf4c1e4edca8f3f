//! Places: once a survey is open, each stratum of its plan has as many places as its quota,
//! shared by the stratum's invitations (an invitation holds its place from the moment it is
//! issued) and by every open channel that feeds the stratum (an answer takes a free place, or
//! is told politely that there is none). So no stratum, and no group, ever passes the plan.
use super::geography::{AreaScope, Geography};
use super::group::RespondentGroup;
use super::invitation::{InvitationStatus, StatusCount};
use super::strata::{self, Band, FullPlan};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which stratum a place belongs to. A survey without areas has one place count per group
/// (`AreaScope::WholeCounty`, no band).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PlaceKey {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub band: Option<Band>,
}

impl PlaceKey {
    /// Its 乡镇/街道 and grade band as respondents read them (“桥头镇 · 1–3 年级”); `None` for
    /// a group's one place count in a county without areas.
    pub fn label(&self, geo: &Geography) -> Option<String> {
        let parts: Vec<String> = [
            self.area.area().map(|a| geo.area_name(a).to_owned()),
            self.band.map(|b| b.label(self.group)),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// A stratum's places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Places {
    pub key: PlaceKey,
    pub quota: u64,
    /// Held by invitations issued in the stratum, or taken by channel answers.
    pub claimed: u64,
}

impl Places {
    pub fn left(&self) -> u64 {
        self.quota.saturating_sub(self.claimed)
    }
}

/// The places of a survey as it opens: its plan's strata (per group where the county has no
/// areas), each with the invitations it has issued (pending or answered) already claimed.
pub fn at_opening(plan: &FullPlan, invitations: &[StatusCount]) -> Vec<Places> {
    let mut issued: BTreeMap<(RespondentGroup, i32, Option<Band>), u64> = BTreeMap::new();
    for c in invitations {
        if matches!(
            c.status,
            InvitationStatus::Pending | InvitationStatus::Answered
        ) {
            *issued.entry((c.group, c.area_id, c.band)).or_default() += c.count;
        }
    }
    if plan.strata.is_empty() {
        return RespondentGroup::ALL
            .iter()
            .map(|&group| Places {
                key: PlaceKey {
                    group,
                    area: AreaScope::WholeCounty,
                    band: None,
                },
                quota: plan.plan.quota(group),
                claimed: issued
                    .iter()
                    .filter(|((g, ..), _)| *g == group)
                    .map(|(_, n)| n)
                    .sum(),
            })
            .collect();
    }
    plan.strata
        .iter()
        .map(|s| {
            let area_id = plan.geo.area_ids[s.stratum.area];
            Places {
                key: PlaceKey {
                    group: s.stratum.group,
                    area: AreaScope::Area(area_id),
                    band: s.stratum.band,
                },
                quota: s.quota,
                claimed: issued
                    .get(&(s.stratum.group, area_id, s.stratum.band))
                    .copied()
                    .unwrap_or(0),
            }
        })
        .collect()
}

/// What an open channel must ask to know its respondent's stratum: the 乡镇/街道 where the
/// channel is not tied to one, and for parents and students the grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Questions {
    pub area: bool,
    pub grade: bool,
}

impl Questions {
    /// For a channel of `group` tied to `area` (its own or its school's), in a county with
    /// `geo`'s areas.
    pub fn for_channel(geo: &Geography, group: RespondentGroup, area: AreaScope) -> Questions {
        if geo.areas.is_empty() {
            // One place count per group: nothing to ask.
            return Questions {
                area: false,
                grade: false,
            };
        }
        Questions {
            area: area == AreaScope::WholeCounty,
            grade: !strata::bands(group).is_empty(),
        }
    }
}

/// Why a channel respondent's stratum is not known from their form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaceErrors {
    /// No 乡镇/街道 chosen (or one the channel does not reach).
    pub area: bool,
    /// No grade chosen (or one outside the group's bands).
    pub grade: bool,
}

impl PlaceErrors {
    pub fn is_empty(&self) -> bool {
        !self.area && !self.grade
    }
}

/// The stratum of a channel respondent: the channel's own area or the one they chose, and the
/// band of the grade they gave.
pub fn place_of(
    geo: &Geography,
    group: RespondentGroup,
    channel_area: AreaScope,
    chosen_area: Option<i32>,
    chosen_grade: Option<u8>,
) -> Result<PlaceKey, PlaceErrors> {
    let asked = Questions::for_channel(geo, group, channel_area);
    let mut errors = PlaceErrors::default();
    let area = if asked.area {
        match chosen_area.filter(|a| geo.area_index(*a).is_some()) {
            Some(a) => AreaScope::Area(a),
            None => {
                errors.area = true;
                AreaScope::WholeCounty
            }
        }
    } else {
        channel_area
    };
    let band = if asked.grade {
        let band = chosen_grade.and_then(|g| strata::band_of(group, g));
        errors.grade = band.is_none();
        band
    } else {
        None
    };
    if errors.is_empty() {
        Ok(PlaceKey { group, area, band })
    } else {
        Err(errors)
    }
}

/// Whether an answer through a channel of `group` tied to `area` may take a place of `key`.
pub fn feeds(group: RespondentGroup, area: AreaScope, key: &PlaceKey) -> bool {
    key.group == group && (area == AreaScope::WholeCounty || key.area == area)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::frame::School;
    use crate::domain::quota::{ParentShare, PlanParameters, SamplePlan, SamplingRate};
    use crate::domain::strata::{Area, AreaClass, Stratum, stratify};

    fn county() -> FullPlan {
        let geo = Geography {
            area_ids: vec![10, 20],
            areas: vec![
                Area::new("城关镇", AreaClass::Urban, 600_000).unwrap(),
                Area::new("桥头镇", AreaClass::Town, 400_000).unwrap(),
            ],
            school_ids: vec![7],
            schools: vec![School::new("桥头小学", 1).unwrap()],
        };
        let p =
            PlanParameters::new(1_000_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
        let plan = SamplePlan::compute(&p);
        let strata = stratify(&plan, &geo.areas, &vec![None; Stratum::all(2).len()]);
        FullPlan { plan, geo, strata }
    }

    #[test]
    fn every_stratum_has_its_quota_and_its_issued_invitations_claimed() {
        let plan = county();
        let invited = StatusCount {
            group: RespondentGroup::Teacher,
            area_id: 20,
            band: None,
            status: InvitationStatus::Pending,
            replaced: false,
            count: 30,
        };
        let revoked = StatusCount {
            status: InvitationStatus::Revoked,
            count: 99,
            ..invited.clone()
        };
        let places = at_opening(&plan, &[invited, revoked]);
        assert_eq!(places.len(), plan.strata.len());
        let total: u64 = places.iter().map(|p| p.quota).sum();
        assert_eq!(total, plan.plan.total);
        let teachers = places
            .iter()
            .find(|p| p.key.group == RespondentGroup::Teacher && p.key.area == AreaScope::Area(20))
            .unwrap();
        assert_eq!(
            (teachers.quota, teachers.claimed, teachers.left()),
            (50, 30, 20)
        );
    }

    #[test]
    fn a_wide_channel_asks_what_it_does_not_know_and_refuses_what_it_does_not_reach() {
        let geo = county().geo;
        let parent = RespondentGroup::Parent;
        let q = Questions::for_channel(&geo, parent, AreaScope::WholeCounty);
        assert!(q.area && q.grade);
        let q = Questions::for_channel(&geo, RespondentGroup::Teacher, AreaScope::Area(10));
        assert!(!q.area && !q.grade);
        let key = place_of(&geo, parent, AreaScope::WholeCounty, Some(20), Some(5)).unwrap();
        assert_eq!(key.area, AreaScope::Area(20));
        assert_eq!(key.band.map(Band::index), Some(1));
        let e = place_of(&geo, parent, AreaScope::WholeCounty, Some(99), Some(12)).unwrap_err();
        assert!(e.area && e.grade);
        // An area channel ignores a chosen area: its own is the answer's.
        let key = place_of(&geo, parent, AreaScope::Area(10), Some(20), Some(1)).unwrap();
        assert_eq!(key.area, AreaScope::Area(10));
        assert!(feeds(parent, AreaScope::WholeCounty, &key));
        assert!(!feeds(parent, AreaScope::Area(20), &key));
        assert!(!feeds(
            RespondentGroup::Student,
            AreaScope::WholeCounty,
            &key
        ));
    }
}
