//! `renke-draw-v2`: a draw anyone can re-run with a short script (SPEC.md, "The draw, version 2").
//!
//! Each person's *frame line* (group, area, band, school, grade, external id, phone, joined by
//! tabs) is hashed; the seed text and the line's hash give the person's rank key; within each
//! stratum, in the plan's order, people are taken by ascending rank key, anyone whose phone was
//! already taken being skipped. Nothing depends on a random generator's internals: SHA-256 and
//! sorting are all a re-run needs.
use crate::domain::group::RespondentGroup;
use crate::domain::strata::{GradeBand, bands};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

pub const NAME: &str = "renke-draw-v2";

/// Reserves per stratum, as a percentage of its quota (rounded up).
pub const RESERVE_PERCENT: u64 = 20;

/// Recorded with every draw: everything a re-run needs, in words.
pub const ALGORITHM: &str = "renke-draw-v2: frame line = group code, area name, band \
(first-last grade, empty without bands), school name, grade (1-9 or empty), external id, phone \
(digits only, a leading 86 dropped; empty if none), joined by a tab, UTF-8; line_hash = hex \
SHA-256 of the frame line; frame digest = hex SHA-256 of all line hashes sorted ascending, each \
followed by \\n; rank_key = hex SHA-256 of (seed text, \\n, line_hash); strata in the plan's \
order (groups parent first, areas as listed, bands ascending), people of a stratum by ascending \
rank_key; a person whose phone is that of someone already taken (any stratum, sample or \
reserve) is skipped; the first quota taken are the sample, the next ceil(quota x reserve \
percent / 100) the reserves in release order";

/// The fields of a frame line, in order.
pub const LINE_FIELDS: [&str; 7] = [
    "group",
    "area",
    "band",
    "school",
    "grade",
    "external_id",
    "phone",
];

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Identifies a phone number within one draw (the first 16 bytes of its digits' SHA-256); all
/// zeros: no phone.
pub type PhoneKey = [u8; 16];

pub const NO_PHONE: PhoneKey = [0; 16];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A band as the frame line writes it: `1-3`.
pub fn band_text(band: GradeBand) -> String {
    format!("{}-{}", band.from, band.to)
}

/// Each banded group's bands as the certificate states them: `{"parent": ["1-3", …], …}`.
pub fn certificate_bands() -> BTreeMap<String, Vec<String>> {
    RespondentGroup::ALL
        .iter()
        .filter(|g| !bands(**g).is_empty())
        .map(|g| {
            (
                g.code().to_owned(),
                bands(*g).iter().map(|b| band_text(*b)).collect(),
            )
        })
        .collect()
}

/// The phone key of a phone's digits ([`NO_PHONE`] when there are none).
pub fn phone_key(digits: &str) -> PhoneKey {
    if digits.is_empty() {
        return NO_PHONE;
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&sha256(&[digits.as_bytes()])[..16]);
    key[0] |= 1;
    key
}

/// One person of the frame, as the frame line states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLine<'a> {
    pub group: RespondentGroup,
    pub area: &'a str,
    pub band: Option<GradeBand>,
    pub school: Option<&'a str>,
    pub grade: Option<u8>,
    pub external_id: &'a str,
    /// As stored: already the line's digits (`frame::normalize_phone` of what the roster had).
    pub phone: Option<&'a str>,
}

impl FrameLine<'_> {
    /// The phone's digits as the line writes them (empty if none).
    pub fn phone_digits(&self) -> String {
        self.phone.unwrap_or_default().to_owned()
    }

    pub fn text(&self) -> String {
        [
            self.group.code().to_owned(),
            self.area.to_owned(),
            self.band.map(band_text).unwrap_or_default(),
            self.school.unwrap_or_default().to_owned(),
            self.grade.map(|g| g.to_string()).unwrap_or_default(),
            self.external_id.to_owned(),
            self.phone_digits(),
        ]
        .join("\t")
    }

    pub fn hash(&self) -> Hash {
        sha256(&[self.text().as_bytes()])
    }

    pub fn phone_key(&self) -> PhoneKey {
        phone_key(&self.phone_digits())
    }
}

/// A person's rank key: SHA-256 of the seed text, a newline and the hex line hash.
pub fn rank_key(seed: &str, line_hash: &Hash) -> Hash {
    sha256(&[seed.as_bytes(), b"\n", hex::encode(line_hash).as_bytes()])
}

/// The frame digest: SHA-256 of the line hashes in ascending order, each followed by a newline.
/// Sorts `line_hashes` in place.
pub fn frame_digest(line_hashes: &mut [Hash]) -> String {
    line_hashes.sort_unstable();
    let mut h = Sha256::new();
    for line in line_hashes.iter() {
        h.update(hex::encode(line).as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// One person as the run sees them: their stratum (by position in the plan's order), rank key
/// and phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub stratum: u32,
    pub rank_key: Hash,
    pub phone: PhoneKey,
}

/// What the draw made of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Selected,
    Reserve,
    /// Reached in rank order, but their phone was already taken.
    Skipped,
    NotDrawn,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Selected,
        Outcome::Reserve,
        Outcome::Skipped,
        Outcome::NotDrawn,
    ];

    /// As `lines.csv` writes it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Selected => "抽中",
            Outcome::Reserve => "备选",
            Outcome::Skipped => "重复跳过",
            Outcome::NotDrawn => "未抽中",
        }
    }

    pub fn parse(label: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.label() == label)
    }
}

/// Where a person ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub outcome: Outcome,
    /// 1-based position in their stratum by ascending rank key.
    pub rank: u32,
    /// 0-based position in the stratum's sample or reserve list (0 for the others).
    pub place: u32,
}

/// Reserves for a quota: `ceil(quota × percent / 100)`.
pub fn reserve_quota(quota: u64, reserve_percent: u64) -> u64 {
    (quota * reserve_percent).div_ceil(100)
}

/// Runs the draw: one placement per entry, in the entries' order. `quotas[s]` is stratum `s`'s
/// quota (strata beyond the list have none); strata are taken in ascending index.
pub fn run(entries: &[Entry], quotas: &[u64], reserve_percent: u64) -> Vec<Placement> {
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (x, y) = (&entries[a as usize], &entries[b as usize]);
        (x.stratum, x.rank_key).cmp(&(y.stratum, y.rank_key))
    });
    let mut placements = vec![
        Placement {
            outcome: Outcome::NotDrawn,
            rank: 0,
            place: 0,
        };
        entries.len()
    ];
    let mut taken: HashSet<PhoneKey> = HashSet::new();
    let mut i = 0;
    while i < order.len() {
        let stratum = entries[order[i] as usize].stratum;
        let quota = quotas.get(stratum as usize).copied().unwrap_or(0);
        let wanted = quota + reserve_quota(quota, reserve_percent);
        let (mut sample, mut reserves) = (0u64, 0u64);
        let mut rank = 0u32;
        while i < order.len() && entries[order[i] as usize].stratum == stratum {
            let e = order[i] as usize;
            rank += 1;
            i += 1;
            let p = &mut placements[e];
            p.rank = rank;
            if sample + reserves >= wanted {
                continue;
            }
            let phone = entries[e].phone;
            if phone != NO_PHONE && !taken.insert(phone) {
                p.outcome = Outcome::Skipped;
            } else if sample < quota {
                p.outcome = Outcome::Selected;
                p.place = sample as u32;
                sample += 1;
            } else {
                p.outcome = Outcome::Reserve;
                p.place = reserves as u32;
                reserves += 1;
            }
        }
    }
    placements
}

/// For each person who shares a phone with someone else in the frame: the smallest line hash
/// among those sharing it (what `lines.csv` writes as `same_phone`, so a re-run can skip the
/// same people without seeing any phone).
pub fn same_phone(phones: &[PhoneKey], line_hashes: &[Hash]) -> HashMap<PhoneKey, Hash> {
    // Sorting positions by phone (four bytes a person) finds the shared ones without a map of
    // every phone.
    let mut order: Vec<u32> = (0..phones.len() as u32)
        .filter(|&i| phones[i as usize] != NO_PHONE)
        .collect();
    order.sort_unstable_by_key(|&i| phones[i as usize]);
    let mut shared = HashMap::new();
    for run in order.chunk_by(|&a, &b| phones[a as usize] == phones[b as usize]) {
        if run.len() > 1
            && let Some(min) = run.iter().map(|&i| line_hashes[i as usize]).min()
        {
            shared.insert(phones[run[0] as usize], min);
        }
    }
    shared
}

/// The stratum of a person, as the certificate and `lines.csv` write it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StratumName {
    pub group: String,
    pub area: String,
    /// `1-3`; empty for groups without bands.
    pub band: String,
}

/// What a re-run reads from the certificate.
#[derive(Debug, Clone, Deserialize)]
pub struct CertificateFacts {
    pub algorithm: String,
    pub seed: String,
    pub frame_digest: String,
    pub reserve_percent: u64,
    /// Each group's grade bands (`1-3`…): they must be Renke's.
    pub bands: BTreeMap<String, Vec<String>>,
    /// The areas in the organiser's order: the strata must follow it.
    pub areas: Vec<AreaName>,
    /// The schools with their area's name (to read rosters as Renke did).
    #[serde(default)]
    pub schools: Vec<SchoolName>,
    /// What the certificate states it drew from and drew: checked against the lines when given.
    pub frame_size: Option<u64>,
    pub strata: Vec<StratumQuota>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AreaName {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchoolName {
    pub name: String,
    pub area: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StratumQuota {
    pub group: String,
    pub area: String,
    pub band: Option<String>,
    pub quota: u64,
    pub drawn: Option<u64>,
    pub reserves: Option<u64>,
}

/// One row of `lines.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRow {
    pub group: String,
    pub area: String,
    pub band: String,
    pub external_id: String,
    pub line_hash: String,
    pub rank_key: String,
    pub same_phone: String,
    pub outcome: String,
    /// As written (a re-run compares the text: `04` is not `4`).
    pub rank: String,
}

/// The columns of `lines.csv`, in order.
pub const LINE_COLUMNS: [&str; 9] = [
    "group",
    "area",
    "band",
    "external_id",
    "line_hash",
    "rank_key",
    "same_phone",
    "outcome",
    "rank",
];

/// A hash as the files write it: 64 lower-case hex digits, nothing else.
fn parse_hash(text: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(text, &mut h).ok()?;
    (hex::encode(h) == text).then_some(h)
}

/// Re-runs a draw from its certificate and its lines, as `docs/verify_draw.py` does: the frame
/// digest, every rank key, and every outcome and rank. `Err` names the first difference (lines
/// by their number in the file, the header being line 1).
pub fn check(cert: &CertificateFacts, lines: &[LineRow]) -> Result<(), String> {
    if cert.algorithm != NAME
        || cert.reserve_percent != RESERVE_PERCENT
        || cert.bands != certificate_bands()
    {
        return Err(format!(
            "the algorithm, its reserve percent or its bands are not those of {NAME}"
        ));
    }
    let mut keys = Vec::with_capacity(cert.strata.len());
    for s in &cert.strata {
        let group = RespondentGroup::ALL
            .iter()
            .position(|g| g.code() == s.group);
        let area = cert.areas.iter().position(|a| a.name == s.area);
        match (group, area) {
            (Some(g), Some(a)) => keys.push((g, a, s.band.clone().unwrap_or_default())),
            _ => {
                return Err(format!(
                    "stratum {} {}: no such group or area",
                    s.group, s.area
                ));
            }
        }
    }
    if keys.windows(2).any(|w| w[0] >= w[1]) {
        return Err("the certificate's strata are not in the plan's order".into());
    }
    if cert.frame_size.is_some_and(|n| n != lines.len() as u64) {
        return Err("lines.csv does not hold the frame_size the certificate states".into());
    }
    let placements = rerun(cert, lines)?;
    for (n, (l, p)) in lines.iter().zip(&placements).enumerate() {
        if l.outcome != p.outcome.label() || l.rank != p.rank.to_string() {
            return Err(format!(
                "line {}: {} {} is {} (rank {}) in the file but {} (rank {}) in the re-run",
                n + 2,
                l.group,
                l.external_id,
                l.outcome,
                l.rank,
                p.outcome.label(),
                p.rank
            ));
        }
    }
    // What the certificate says each stratum drew.
    let mut counts: HashMap<(&str, &str, &str), (u64, u64)> = HashMap::new();
    for (l, p) in lines.iter().zip(&placements) {
        let c = counts.entry((&l.group, &l.area, &l.band)).or_default();
        match p.outcome {
            Outcome::Selected => c.0 += 1,
            Outcome::Reserve => c.1 += 1,
            Outcome::Skipped | Outcome::NotDrawn => {}
        }
    }
    for s in &cert.strata {
        let key = (
            s.group.as_str(),
            s.area.as_str(),
            s.band.as_deref().unwrap_or_default(),
        );
        let (drawn, reserves) = counts.get(&key).copied().unwrap_or_default();
        if s.drawn.is_some_and(|d| d != drawn) || s.reserves.is_some_and(|r| r != reserves) {
            return Err(format!(
                "{} {} {}: drawn and reserves are not those the certificate states",
                s.group, s.area, key.2
            ));
        }
    }
    Ok(())
}

/// The placements a re-run gives the lines (their outcome and rank columns aside), after
/// checking the frame digest and every rank key.
pub fn rerun(cert: &CertificateFacts, lines: &[LineRow]) -> Result<Vec<Placement>, String> {
    let mut hashes = Vec::with_capacity(lines.len());
    for (n, l) in lines.iter().enumerate() {
        let known = RespondentGroup::ALL.iter().any(|g| g.code() == l.group);
        let hash = parse_hash(&l.line_hash)
            .filter(|_| l.same_phone.is_empty() || parse_hash(&l.same_phone).is_some());
        match hash {
            Some(h) if known => hashes.push(h),
            _ => {
                return Err(format!(
                    "line {}: unknown group, malformed hash or rank_key not of the seed",
                    n + 2
                ));
            }
        }
    }
    let mut sorted = hashes.clone();
    if frame_digest(&mut sorted) != cert.frame_digest {
        return Err("frame digest differs".into());
    }
    let strata: HashMap<StratumName, u32> = cert
        .strata
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = StratumName {
                group: s.group.clone(),
                area: s.area.clone(),
                band: s.band.clone().unwrap_or_default(),
            };
            (name, i as u32)
        })
        .collect();
    let quotas: Vec<u64> = cert.strata.iter().map(|s| s.quota).collect();
    // People of strata without a quota are ranked after those with one, each such stratum
    // apart (their order among themselves does not matter: no one there is taken).
    let mut others: HashMap<StratumName, u32> = HashMap::new();
    let mut entries = Vec::with_capacity(lines.len());
    for (n, (l, hash)) in lines.iter().zip(&hashes).enumerate() {
        let key = rank_key(&cert.seed, hash);
        if hex::encode(key) != l.rank_key {
            return Err(format!(
                "line {}: unknown group, malformed hash or rank_key not of the seed",
                n + 2
            ));
        }
        let name = StratumName {
            group: l.group.clone(),
            area: l.area.clone(),
            band: l.band.clone(),
        };
        let next = (quotas.len() + others.len()) as u32;
        let stratum = match strata.get(&name) {
            Some(&s) => s,
            None => *others.entry(name).or_insert(next),
        };
        let phone = match l.same_phone.as_str() {
            "" => *hash,
            shared => parse_hash(shared).ok_or(format!("line {}: same_phone", n + 2))?,
        };
        let mut key16 = [0u8; 16];
        key16.copy_from_slice(&phone[..16]);
        key16[0] |= 1;
        entries.push(Entry {
            stratum,
            rank_key: key,
            phone: key16,
        });
    }
    Ok(run(&entries, &quotas, cert.reserve_percent))
}

/// Checks rosters against the lines, as `docs/verify_draw.py` does: every person of a roster has
/// a line of their group with their external id, the line hash of their frame line and its
/// stratum (area and band columns); a group has no other lines; and `same_phone` is what the
/// rosters' phones make it (exactly when every group's roster is given, else consistently among
/// those given: people who share a phone share a non-empty `same_phone`, people without a phone
/// have none).
pub fn check_rosters(
    rosters: &[(RespondentGroup, Vec<FrameLine<'_>>)],
    lines: &[LineRow],
) -> Result<(), String> {
    let by_id: HashMap<(&str, &str), &LineRow> = lines
        .iter()
        .map(|l| ((l.group.as_str(), l.external_id.as_str()), l))
        .collect();
    // Phone → the lines of the people who have it; people without a phone each alone.
    let mut phones: HashMap<Result<PhoneKey, usize>, Vec<&LineRow>> = HashMap::new();
    let mut given = HashSet::new();
    let mut alone = 0usize;
    for (group, roster) in rosters {
        given.insert(group.code());
        for person in roster {
            let band = person.band.map(band_text).unwrap_or_default();
            let line = by_id
                .get(&(group.code(), person.external_id))
                .filter(|l| {
                    l.line_hash == hex::encode(person.hash())
                        && l.area == person.area
                        && l.band == band
                })
                .ok_or_else(|| {
                    format!(
                        "{} {} of the roster: no line of lines.csv has its line hash and stratum",
                        group.code(),
                        person.external_id
                    )
                })?;
            let key = match person.phone_key() {
                NO_PHONE => {
                    alone += 1;
                    Err(alone)
                }
                phone => Ok(phone),
            };
            phones.entry(key).or_default().push(line);
        }
        let of_group = lines.iter().filter(|l| l.group == group.code()).count();
        if of_group != roster.len() {
            return Err(format!(
                "{}: lines.csv holds other people than the roster",
                group.code()
            ));
        }
    }
    let complete = lines.iter().all(|l| given.contains(l.group.as_str()));
    for (key, sharing) in &phones {
        let want = match sharing.len() {
            1 => String::new(),
            _ => sharing
                .iter()
                .map(|l| l.line_hash.clone())
                .min()
                .unwrap_or_default(),
        };
        let got: HashSet<&str> = sharing.iter().map(|l| l.same_phone.as_str()).collect();
        let exact = complete || key.is_err();
        if (exact && got != HashSet::from([want.as_str()]))
            || (sharing.len() > 1 && (got.len() > 1 || got.contains("")))
        {
            return Err(format!(
                "{} {}: same_phone does not match the rosters' phones",
                sharing[0].group, sharing[0].external_id
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(group: RespondentGroup, id: &'a str, phone: Option<&'a str>) -> FrameLine<'a> {
        FrameLine {
            group,
            area: "城关镇",
            band: None,
            school: None,
            grade: None,
            external_id: id,
            phone,
        }
    }

    #[test]
    fn the_frame_line_is_as_the_spec_writes_it() {
        let l = FrameLine {
            group: RespondentGroup::Parent,
            area: "城关镇",
            band: Some(GradeBand { from: 1, to: 3 }),
            school: Some("城关一小"),
            grade: Some(2),
            external_id: "P001",
            phone: Some("13800000001"),
        };
        assert_eq!(
            l.text(),
            "parent\t城关镇\t1-3\t城关一小\t2\tP001\t13800000001"
        );
        let t = line(RespondentGroup::NpcDeputy, "D1", None);
        assert_eq!(t.text(), "npc_deputy\t城关镇\t\t\t\tD1\t");
        // Pinned against Python's hashlib (see docs/verify_draw.py).
        assert_eq!(
            hex::encode(l.hash()),
            "fbf937ad1914e48545186b90c5d540038dd7364c898590707ea1a329efb492bf"
        );
        assert_eq!(
            hex::encode(rank_key("2026", &l.hash())),
            "420676369650a574087647926386970b31a4234a8e3789469f4a5d58f223bc09"
        );
        let mut hashes = vec![l.hash(), t.hash()];
        assert_eq!(frame_digest(&mut hashes).len(), 64);
    }

    #[test]
    fn phones_lose_everything_but_digits_and_a_leading_86() {
        use crate::domain::frame::normalize_phone;
        let phone_digits = |raw| normalize_phone(raw).unwrap_or_default();
        assert_eq!(phone_digits("+86 138 0000 0001"), "13800000001");
        assert_eq!(phone_digits("8613800000001"), "13800000001");
        assert_eq!(phone_digits("0351-1234567"), "03511234567");
        assert_eq!(phone_key(""), NO_PHONE);
        assert_ne!(phone_key("1"), NO_PHONE);
    }

    fn entry(stratum: u32, key: u8, phone: u8) -> Entry {
        let mut rank_key = [0u8; 32];
        rank_key[0] = key;
        let mut p = NO_PHONE;
        if phone > 0 {
            p[0] = phone;
        }
        Entry {
            stratum,
            rank_key,
            phone: p,
        }
    }

    #[test]
    fn strata_take_by_ascending_rank_key_skipping_taken_phones() {
        // Stratum 0: quota 2 (one reserve); stratum 1: quota 1 (one reserve).
        let entries = [
            entry(0, 9, 0),
            entry(0, 1, 7),
            entry(0, 5, 0),
            entry(0, 3, 0),
            entry(1, 2, 7), // same phone as stratum 0's first taken: skipped
            entry(1, 8, 0),
            entry(1, 4, 0),
            entry(1, 6, 0),
        ];
        let p = run(&entries, &[2, 1], 20);
        let got: Vec<(Outcome, u32, u32)> =
            p.iter().map(|p| (p.outcome, p.rank, p.place)).collect();
        assert_eq!(
            got,
            vec![
                (Outcome::NotDrawn, 4, 0),
                (Outcome::Selected, 1, 0),
                (Outcome::Reserve, 3, 0),
                (Outcome::Selected, 2, 1),
                (Outcome::Skipped, 1, 0),
                (Outcome::NotDrawn, 4, 0),
                (Outcome::Selected, 2, 0),
                (Outcome::Reserve, 3, 0),
            ]
        );
    }

    #[test]
    fn same_phone_names_the_smallest_line_hash_of_those_sharing_it() {
        let (a, b, c) = ([3u8; 32], [1u8; 32], [2u8; 32]);
        let m = same_phone(
            &[phone_key("1"), phone_key("1"), phone_key("2")],
            &[a, b, c],
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[&phone_key("1")], b);
    }
}
