//! Released batches (SPEC.md "Disclosure control"): no two moments' views differ by fewer than
//! [`K`] respondents in a cell. An answer is stored at once but waits in its *release cell*
//! (group, area, school where the draw gave it a cell of its own, grade band, how it came, and
//! whether it is flagged)
//! until the cell holds K; then the cell's answers enter the tally together, the invitations
//! they answered show as answered, and their rows appear in the export. Every figure a county
//! user sees is a sum over whole cells, so between any two moments each cell it rests on moved
//! by nothing or by at least K people who answered since.
//!
//! At the close the rest is settled in blocks that keep the invariant: a group's leftovers in an
//! area (by source and flag) go in together where they make K, counted under the area alone (no
//! school, no band); what is left of the group (by source and flag) goes in under the county
//! where it makes K; anything still under K is kept and counted nowhere.
use super::disclosure::K;
use super::geography::AreaScope;
use super::group::RespondentGroup;
use super::integrity::UnitKey;
use super::questionnaire::Definition;
use super::response::Source;
use super::strata::Band;
use super::tally::{Aggregates, HourKey, ResponseFacts, SourceKey, StratumKey, Sums};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// Invitations a (group, school, band) must have been drawn for before its answers are released
/// school by school; smaller ones are released with the rest of their area and band (a school's
/// lone principal never has a cell of its own).
pub const OWN_CELL: u64 = 2 * K as u64;

/// The (group, school, band) cells released school by school.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnCells(BTreeSet<(RespondentGroup, i32, Option<Band>)>);

impl OwnCells {
    /// From the invitations drawn per (group, school, band).
    pub fn of(
        invited: impl IntoIterator<Item = (RespondentGroup, Option<i32>, Option<Band>, u64)>,
    ) -> OwnCells {
        let mut counts: BTreeMap<(RespondentGroup, i32, Option<Band>), u64> = BTreeMap::new();
        for (g, school, band, n) in invited {
            if let Some(s) = school {
                *counts.entry((g, s, band)).or_default() += n;
            }
        }
        OwnCells(
            counts
                .into_iter()
                .filter(|(_, n)| *n >= OWN_CELL)
                .map(|(k, _)| k)
                .collect(),
        )
    }

    pub fn contains(&self, group: RespondentGroup, school: i32, band: Option<Band>) -> bool {
        self.0.contains(&(group, school, band))
    }

    /// As stored: `group:school:band` entries separated by spaces (`-` for no band).
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(g, s, b)| format!("{}:{s}:{}", g.code(), band_text(*b)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// As [`OwnCells::to_text`] wrote it; `None` for anything else.
    pub fn parse(text: &str) -> Option<OwnCells> {
        text.split_whitespace()
            .map(|e| {
                let mut p = e.split(':');
                let g = p.next()?.parse().ok()?;
                let s = p.next()?.parse().ok()?;
                let b = band_of(g, p.next()?)?;
                p.next().is_none().then_some((g, s, b))
            })
            .collect::<Option<BTreeSet<_>>>()
            .map(OwnCells)
    }
}

fn band_text(b: Option<Band>) -> String {
    b.map_or("-".into(), |b| b.index().to_string())
}

fn band_of(group: RespondentGroup, text: &str) -> Option<Option<Band>> {
    if text == "-" {
        return Some(None);
    }
    Band::of(group, text.parse().ok()?).map(Some)
}

/// The cell an answer waits in until it holds K: an invitation's answer keeps its school only
/// where the draw gave the school a cell of its own; an open channel's keeps it always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseCell {
    pub group: RespondentGroup,
    pub area: AreaScope,
    /// Where the draw gave the (group, school, band) a cell of its own; otherwise none, and the
    /// answer is counted without its school.
    pub school: Option<i32>,
    pub band: Option<Band>,
    pub source: Source,
    /// The open channel it came through.
    pub channel: Option<i32>,
    /// Flagged as too fast or straight-lined: such answers wait apart, so the view that leaves
    /// them out also moves only by five or more.
    pub flagged: bool,
}

impl ReleaseCell {
    /// The cell of an answer.
    pub fn of(r: &ResponseFacts, own: &OwnCells) -> ReleaseCell {
        ReleaseCell {
            group: r.group,
            area: r.area,
            // An open channel's answers keep their school: a school's own channel (its
            // QR code in the class groups) is released school by school, as its integrity
            // line needs.
            school: r
                .school
                .filter(|&s| r.channel.is_some() || own.contains(r.group, s, r.band)),
            band: r.band,
            source: r.source,
            channel: r.channel,
            flagged: r.flagged(),
        }
    }

    /// The key it is stored under: `group|area|school|band|source|channel|flag`, `-` for
    /// none (the flag `f` for flagged answers).
    pub fn key(&self) -> String {
        let opt = |v: Option<i32>| v.map_or("-".into(), |v| v.to_string());
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.group.code(),
            opt(self.area.area()),
            opt(self.school),
            band_text(self.band),
            self.source.code(),
            opt(self.channel),
            if self.flagged { "f" } else { "-" }
        )
    }

    /// As [`ReleaseCell::key`] wrote it; `None` for anything else.
    pub fn parse(key: &str) -> Option<ReleaseCell> {
        let p: Vec<&str> = key.split('|').collect();
        let [g, area, school, band, source, channel, flag] = p.as_slice() else {
            return None;
        };
        let opt = |t: &str| -> Option<Option<i32>> {
            if t == "-" {
                Some(None)
            } else {
                t.parse().ok().map(Some)
            }
        };
        let group: RespondentGroup = g.parse().ok()?;
        Some(ReleaseCell {
            group,
            area: AreaScope::of(opt(area)?),
            school: opt(school)?,
            band: band_of(group, band)?,
            source: Source::parse(source)?,
            channel: opt(channel)?,
            flagged: match *flag {
                "f" => true,
                "-" => false,
                _ => return None,
            },
        })
    }
}

/// What an answer adds to its waiting cell: its piece of the tally as the cell will count it
/// (without its school where the cell has none), without the hour, which is the release's;
/// with its answer set's fingerprint, if it has one, for its school's and channel's clusters.
pub fn waiting_piece(
    facts: &ResponseFacts,
    def: &Definition,
    cell: &ReleaseCell,
    pattern: Option<&str>,
) -> Aggregates {
    let mut f = facts.clone();
    f.school = cell.school;
    let mut piece = Aggregates::default();
    piece.add(&f, def);
    piece.hours.clear();
    if let Some(p) = pattern {
        for unit in [
            cell.school.map(UnitKey::school),
            cell.channel.map(UnitKey::channel),
        ]
        .into_iter()
        .flatten()
        {
            piece.patterns.insert((unit, p.to_owned()), 1);
        }
    }
    piece
}

/// What released cells add to the tally: their pieces, with the hour of the release.
pub fn released<'a>(
    pieces: impl IntoIterator<Item = &'a Aggregates>,
    at: DateTime<Utc>,
) -> Aggregates {
    let mut out = Aggregates::default();
    for p in pieces {
        out.merge(p);
    }
    let mut hours = BTreeMap::new();
    for (k, v) in &out.strata {
        hours
            .entry(HourKey {
                hour: at,
                flagged: k.flagged,
            })
            .or_insert_with(Sums::default)
            .add(&v.sums);
    }
    out.hours = hours;
    out
}

/// How the close settles a waiting cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Counted under this area (or the county) alone: no school, no band.
    Counted(AreaScope),
    /// Kept, counted nowhere: its group's leftovers did not make K.
    Withheld,
}

/// The close's decision for each waiting cell (in the order given, with its waiting count).
pub fn settle(cells: &[(ReleaseCell, i64)]) -> Vec<Settlement> {
    let mut out = vec![Settlement::Withheld; cells.len()];
    // Blocks keep the source and the flag apart, as the sensitivity lines and the view without
    // flagged answers read them.
    let mut by_area: BTreeMap<(RespondentGroup, AreaScope, Source, bool), i64> = BTreeMap::new();
    for (c, n) in cells {
        *by_area
            .entry((c.group, c.area, c.source, c.flagged))
            .or_default() += n;
    }
    let mut rest: BTreeMap<(RespondentGroup, Source, bool), i64> = BTreeMap::new();
    for (i, (c, n)) in cells.iter().enumerate() {
        if c.area.area().is_some() && by_area[&(c.group, c.area, c.source, c.flagged)] >= K {
            out[i] = Settlement::Counted(c.area);
        } else {
            *rest.entry((c.group, c.source, c.flagged)).or_default() += n;
        }
    }
    for (i, (c, _)) in cells.iter().enumerate() {
        if out[i] == Settlement::Withheld && rest[&(c.group, c.source, c.flagged)] >= K {
            out[i] = Settlement::Counted(AreaScope::WholeCounty);
        }
    }
    out
}

/// A waiting piece as the close counts it: under `area` alone, and in no school's or channel's
/// integrity line.
pub fn settled_piece(piece: &Aggregates, area: AreaScope) -> Aggregates {
    let mut out = piece.clone();
    out.strata.clear();
    for (k, v) in &piece.strata {
        let key = StratumKey {
            area,
            school: None,
            band: None,
            ..k.clone()
        };
        out.strata.entry(key).or_default().add(v);
    }
    out.sources.clear();
    for (k, v) in &piece.sources {
        out.sources
            .entry(SourceKey { area, ..*k })
            .or_default()
            .add(v);
    }
    out.units.retain(|k, _| *k == UnitKey::COUNTY);
    out.patterns.clear();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(group: RespondentGroup, area: i32, school: Option<i32>) -> ReleaseCell {
        ReleaseCell {
            group,
            area: AreaScope::Area(area),
            school,
            band: None,
            source: Source::Invitation,
            channel: None,
            flagged: false,
        }
    }

    #[test]
    fn keys_read_back() {
        let c = ReleaseCell {
            group: RespondentGroup::Parent,
            area: AreaScope::Area(3),
            school: Some(12),
            band: Band::of(RespondentGroup::Parent, 1),
            source: Source::OpenChannel,
            channel: Some(7),
            flagged: true,
        };
        assert_eq!(ReleaseCell::parse(&c.key()), Some(c));
        let d = cell(RespondentGroup::Principal, 2, None);
        assert_eq!(ReleaseCell::parse(&d.key()), Some(d));
        assert_eq!(ReleaseCell::parse("parent|1|2"), None);
        let own = OwnCells::of([
            (
                RespondentGroup::Parent,
                Some(4),
                Band::of(RespondentGroup::Parent, 0),
                10,
            ),
            (RespondentGroup::Principal, Some(4), None, 1),
            (RespondentGroup::Teacher, Some(5), None, 9),
        ]);
        assert_eq!(OwnCells::parse(&own.to_text()), Some(own.clone()));
        assert!(own.contains(
            RespondentGroup::Parent,
            4,
            Band::of(RespondentGroup::Parent, 0)
        ));
        assert!(!own.contains(RespondentGroup::Principal, 4, None));
        assert!(!own.contains(RespondentGroup::Teacher, 5, None));
        assert_eq!(OwnCells::parse(""), Some(OwnCells::default()));
    }

    #[test]
    fn flagged_answers_wait_apart() {
        // Four careful answers and one too fast in one stratum: were they one batch, the view
        // without flagged answers would move by four and the difference of the two views would
        // be the fast one's answers.
        let facts = |too_fast: bool| ResponseFacts {
            group: RespondentGroup::Teacher,
            area: AreaScope::Area(1),
            school: Some(3),
            source: Source::Invitation,
            channel: None,
            band: None,
            too_fast,
            straight_lined: false,
            hour: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            answers: vec![],
        };
        let own = OwnCells::default();
        let careful = ReleaseCell::of(&facts(false), &own);
        let fast = ReleaseCell::of(&facts(true), &own);
        assert_ne!(careful.key(), fast.key());
        assert_eq!(
            careful.school, None,
            "no cell of its own: counted without its school"
        );
        assert_eq!(ReleaseCell::parse(&fast.key()), Some(fast));
    }

    #[test]
    fn the_close_counts_leftovers_only_in_blocks_of_five() {
        use RespondentGroup::{Principal, Teacher};
        let cells = [
            (cell(Teacher, 1, Some(10)), 3),
            (cell(Teacher, 1, None), 2),
            (cell(Teacher, 2, None), 4),
            (cell(Teacher, 3, None), 1),
            (cell(Principal, 1, None), 1),
        ];
        let s = settle(&cells);
        // Area 1's teachers make five together: counted under area 1.
        assert_eq!(s[0], Settlement::Counted(AreaScope::Area(1)));
        assert_eq!(s[1], Settlement::Counted(AreaScope::Area(1)));
        // Areas 2 and 3 make five between them: counted under the county.
        assert_eq!(s[2], Settlement::Counted(AreaScope::WholeCounty));
        assert_eq!(s[3], Settlement::Counted(AreaScope::WholeCounty));
        // A lone principal is counted nowhere.
        assert_eq!(s[4], Settlement::Withheld);
    }
}
