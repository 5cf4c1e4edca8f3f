//! The draw: a stratified simple random sample without replacement that anyone can re-run.
//!
//! New draws use [`v2`] (`renke-draw-v2`: hash ranking, re-runnable with a short script from the
//! certificate and the list of frame lines); draws made with [`v1`] stay verifiable as they are.
use super::geography::Geography;
use super::group::RespondentGroup;
use super::strata::Band;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod v1;
pub mod v2;

/// Reserves per stratum, as a percentage of its quota (rounded up).
pub const DEFAULT_RESERVE_PERCENT: u64 = v2::RESERVE_PERCENT;

/// The longest seed text or seed note accepted, in characters.
pub const SEED_MAX_CHARS: usize = 200;

/// A version of the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    V1,
    V2,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::V1 => "renke-draw-v1",
            Algorithm::V2 => v2::NAME,
        }
    }

    /// The description recorded with a draw.
    pub fn text(self) -> &'static str {
        match self {
            Algorithm::V1 => v1::ALGORITHM,
            Algorithm::V2 => v2::ALGORITHM,
        }
    }

    /// The version a recorded description names (its text up to the first colon).
    pub fn of(recorded: &str) -> Option<Algorithm> {
        let name = recorded.split(':').next().unwrap_or_default().trim();
        [Algorithm::V1, Algorithm::V2]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// Where a seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedSource {
    /// Renke drew a random 64-bit number.
    Random,
    /// The organiser entered it (for instance a lottery result published after the rosters
    /// were uploaded).
    Entered,
    /// A draw made before Renke recorded where seeds came from.
    Unrecorded,
}

impl SeedSource {
    pub fn code(self) -> &'static str {
        match self {
            SeedSource::Random => "random",
            SeedSource::Entered => "entered",
            SeedSource::Unrecorded => "unrecorded",
        }
    }

    pub fn parse(code: &str) -> Option<SeedSource> {
        [
            SeedSource::Random,
            SeedSource::Entered,
            SeedSource::Unrecorded,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            SeedSource::Random => "系统随机生成",
            SeedSource::Entered => "组织者填写",
            SeedSource::Unrecorded => "未记录（早期抽样）",
        }
    }
}

/// A draw's seed: its text as recorded (verbatim after trimming), where it came from, and what
/// the organiser wrote about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub text: String,
    pub source: SeedSource,
    pub note: Option<String>,
}

/// Why a seed or its note is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub field: &'static str,
    pub message: String,
}

fn seed_field(field: &'static str, label: &str, raw: &str) -> Result<Option<String>, SeedError> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let refuse = |message: String| Err(SeedError { field, message });
    if text.chars().count() > SEED_MAX_CHARS {
        return refuse(format!("{label}不能超过 {SEED_MAX_CHARS} 个字符"));
    }
    if text.chars().any(char::is_control) {
        return refuse(format!("{label}不能含换行、制表符等控制字符"));
    }
    if text.chars().any(|c| c.is_whitespace() && c != ' ') {
        return refuse(format!(
            "{label}只能用半角空格分隔：全角空格、不换行空格等看起来一样，却会抽出不同的人"
        ));
    }
    if text.chars().any(invisible) {
        return refuse(format!(
            "{label}不能含看不见的字符（零宽空格、方向控制符等）：两个看起来一样的种子会抽出不同的人"
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A format character (Unicode category Cf) or another that shows as nothing: a seed holding one
/// looks like another seed and draws other people.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}' | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}' | '\u{0891}' | '\u{08E2}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{2800}')
}

impl Seed {
    /// A random seed: the decimal of a random 64-bit number.
    pub fn random(value: u64) -> Seed {
        Seed {
            text: value.to_string(),
            source: SeedSource::Random,
            note: None,
        }
    }

    /// The seed an organiser typed (`None` when blank: Renke draws one), with an optional note
    /// on where it came from.
    pub fn entered(text: &str, note: &str) -> Result<Option<Seed>, SeedError> {
        let note = seed_field("seed_note", "种子来源说明", note)?;
        match seed_field("seed", "随机种子", text)? {
            Some(text) => Ok(Some(Seed {
                text,
                source: SeedSource::Entered,
                note,
            })),
            None if note.is_some() => Err(SeedError {
                field: "seed",
                message: "填写了种子来源说明，请同时填写种子".into(),
            }),
            None => Ok(None),
        }
    }

    /// The 64-bit seed of a `renke-draw-v1` draw.
    pub fn number(&self) -> Option<u64> {
        self.text.parse().ok()
    }
}

/// Whether a pick is in the sample or on the reserve list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PickKind {
    Selected,
    Reserve,
}

impl PickKind {
    pub fn code(self) -> &'static str {
        match self {
            PickKind::Selected => "selected",
            PickKind::Reserve => "reserve",
        }
    }

    pub fn parse(code: &str) -> Option<PickKind> {
        [PickKind::Selected, PickKind::Reserve]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// A stratum's quota as a draw recorded it: its area by id, so it reads the same whatever
/// happens to the order of areas later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedQuota {
    pub group: RespondentGroup,
    pub area_id: i32,
    pub band: Option<Band>,
    pub quota: u64,
}

/// One person a draw picked, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub frame_person_id: i32,
    pub external_id: String,
    pub group: RespondentGroup,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub band: Option<Band>,
    pub grade: Option<u8>,
    pub kind: PickKind,
    /// Position in the stratum's sample or reserve list.
    pub rank: usize,
}

/// A recorded pick, as stored (its person may have been purged since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPick {
    pub id: i32,
    pub frame_person_id: Option<i32>,
    pub external_id: String,
    pub group: RespondentGroup,
    pub area_id: i32,
    pub band: Option<Band>,
    pub kind: PickKind,
    pub rank: usize,
    pub invitation_id: Option<i32>,
}

/// A draw to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDraw {
    pub survey_id: i32,
    pub seed: Seed,
    pub frame_digest: String,
    pub algorithm: Algorithm,
    pub reserve_percent: u64,
    pub quotas: Vec<RecordedQuota>,
    pub frame_size: usize,
    /// What the rosters were when it was drawn ([`FrameFingerprint`]).
    pub frame_fingerprint: FrameFingerprint,
    /// The areas and schools as they were when it was drawn.
    pub geography: Geography,
    pub created_by: Option<i32>,
    pub created_by_name: String,
    pub picks: Vec<Pick>,
}

/// A recorded draw: what was drawn, from which frame, with which seed, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub id: i32,
    pub survey_id: i32,
    pub seed: Seed,
    pub frame_digest: String,
    /// The algorithm's description as recorded (it starts with its name).
    pub algorithm: String,
    pub version: Algorithm,
    pub reserve_percent: u64,
    pub quotas: Vec<RecordedQuota>,
    pub frame_size: u64,
    pub selected: u64,
    pub reserves: u64,
    /// No longer in force: a later draw replaced it, or it was discarded.
    pub superseded: bool,
    /// When and by whom a draft's draw was discarded (its certificate is kept).
    pub discarded: Option<Discarded>,
    /// The areas and schools as they were when it was drawn (none for draws made before they
    /// were recorded).
    pub geography: Option<Geography>,
    /// The rosters' fingerprint when it was drawn (none for draws made before it was recorded).
    pub frame_fingerprint: Option<FrameFingerprint>,
    pub created_at: DateTime<Utc>,
    pub created_by_name: String,
}

/// A discarded draw: when, and who discarded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// What changes whenever a roster of the survey is replaced or added: how many persons the
/// rosters hold and the largest id among them (a replaced roster's rows get new ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFingerprint {
    pub persons: i64,
    pub last_id: Option<i32>,
}

impl FrameFingerprint {
    /// `persons:last_id`, as stored.
    pub fn code(self) -> String {
        match self.last_id {
            Some(id) => format!("{}:{id}", self.persons),
            None => format!("{}:", self.persons),
        }
    }

    pub fn parse(s: &str) -> Option<FrameFingerprint> {
        let (n, last) = s.split_once(':')?;
        Some(FrameFingerprint {
            persons: n.parse().ok()?,
            last_id: if last.is_empty() {
                None
            } else {
                Some(last.parse().ok()?)
            },
        })
    }
}

/// Why a draw in force no longer matches what it was drawn from: opening is refused until it is
/// redone or discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    /// A roster was replaced or added since.
    Rosters,
    /// The areas or schools were changed since.
    Geography,
    /// The quotas changed since (population, rates or areas' populations).
    Quotas,
}

impl Staleness {
    pub fn code(self) -> &'static str {
        match self {
            Staleness::Rosters => "rosters",
            Staleness::Geography => "geography",
            Staleness::Quotas => "quotas",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Staleness::Rosters => "抽样之后名册有更换或新增",
            Staleness::Geography => "抽样之后乡镇（街道）或学校有修改",
            Staleness::Quotas => "抽样之后各层配额有变化（人口、抽样比例或乡镇人口改了）",
        }
    }
}

impl Draw {
    /// What changed since this draw, given what the survey holds now; empty: it is current.
    pub fn staleness(
        &self,
        frame: FrameFingerprint,
        geography: &Geography,
        quotas: &[RecordedQuota],
    ) -> Vec<Staleness> {
        let mut out = Vec::new();
        let rosters_changed = match self.frame_fingerprint {
            Some(f) => f != frame,
            // Draws made before the fingerprint was kept: the frame's size at least.
            None => u64::try_from(frame.persons).ok() != Some(self.frame_size),
        };
        if rosters_changed {
            out.push(Staleness::Rosters);
        }
        if self.geography.as_ref().is_some_and(|g| g != geography) {
            out.push(Staleness::Geography);
        }
        if self.quotas != quotas {
            out.push(Staleness::Quotas);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_trimmed_and_refused_when_it_hides_characters() {
        let s = Seed::entered("  福彩3D 第2026321期 5 1 7 ", "")
            .unwrap()
            .unwrap();
        assert_eq!(s.text, "福彩3D 第2026321期 5 1 7");
        assert_eq!(Seed::entered("   ", "").unwrap(), None);
        for bad in [
            "31415\u{200B}",
            "\u{FEFF}1",
            "1\u{202E}2",
            "1\u{180E}",
            "a\tb",
            "x\u{85}y",
            "5\u{3000}1",
            "5\u{A0}1",
            "5\u{2028}1",
            "5\u{2800}1",
        ] {
            assert_eq!(Seed::entered(bad, "").unwrap_err().field, "seed", "{bad:?}");
        }
        assert_eq!(
            Seed::entered("7", "\u{200B}").unwrap_err().field,
            "seed_note"
        );
        assert_eq!(Seed::entered("", "第 1 期").unwrap_err().field, "seed");
        assert!(Seed::entered(&"9".repeat(200), "").unwrap().is_some());
        assert!(Seed::entered(&"9".repeat(201), "").is_err());
    }
}
