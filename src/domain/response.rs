//! Responses: one respondent's anonymous answers with the stratum they were given in — never
//! who gave them — and how a submission takes its place (an invitation, or an open channel's
//! quota cell).
use super::geography::AreaScope;
use super::group::{Booklet, RespondentGroup};
use super::places::PlaceKey;
use super::strata::{AreaClass, Band};
use super::tally::ResponseFacts;
use chrono::{DateTime, Timelike, Utc};

/// How the respondent reached the questionnaire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A drawn person's own link.
    Invitation,
    /// An open channel's link or QR code.
    OpenChannel,
    /// A drawn person interviewed by telephone (the invitation answered by an interviewer).
    Phone,
    /// A paper booklet, entered twice by two operators.
    Paper,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Invitation,
        Source::OpenChannel,
        Source::Phone,
        Source::Paper,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Source::Invitation => "invitation",
            Source::OpenChannel => "open",
            Source::Phone => "phone",
            Source::Paper => "paper",
        }
    }

    pub fn parse(code: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Invitation => "邀请",
            Source::OpenChannel => "开放二维码",
            Source::Phone => "电话访问",
            Source::Paper => "纸质问卷",
        }
    }

    /// How the answers were given.
    pub fn mode(self) -> Mode {
        match self {
            Source::Invitation | Source::OpenChannel => Mode::Online,
            Source::Phone => Mode::Phone,
            Source::Paper => Mode::Paper,
        }
    }

    /// Whether its answers take a stratum's free place (rather than an invitation's).
    pub fn takes_a_place(self) -> bool {
        matches!(self, Source::OpenChannel | Source::Paper)
    }
}

/// How a respondent gave their answers: on their own screen, to an interviewer on the
/// telephone, or on paper. The tally, the exports and the sensitivity panel keep them apart.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Online,
    Phone,
    Paper,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Online, Mode::Phone, Mode::Paper];

    pub fn code(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::Phone => "phone",
            Mode::Paper => "paper",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::Online => "网络",
            Mode::Phone => "电话",
            Mode::Paper => "纸质",
        }
    }
}

/// A time rounded down to its hour: what is kept of when someone answered.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// A response to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    pub survey_id: i32,
    pub questionnaire_id: i32,
    pub booklet: Booklet,
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub area_class: Option<AreaClass>,
    pub school: Option<i32>,
    pub band: Option<Band>,
    pub source: Source,
    /// The open channel it came through (none for an invitation's answer).
    pub channel: Option<i32>,
    pub completion_seconds: u32,
    pub too_fast: bool,
    pub straight_lined: bool,
    /// (item id, option code) in item order.
    pub answers: Vec<(String, String)>,
    pub comment: Option<String>,
    /// Already rounded to the hour.
    pub submitted_hour: DateTime<Utc>,
}

impl NewResponse {
    /// What the tally learns from this response.
    pub fn facts(&self) -> ResponseFacts {
        ResponseFacts {
            group: self.group,
            area: self.area,
            school: self.school,
            source: self.source,
            channel: self.channel,
            band: self.band,
            too_fast: self.too_fast,
            straight_lined: self.straight_lined,
            hour: self.submitted_hour,
            answers: self.answers.clone(),
        }
    }
}

/// A stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Random, so the order of ids says nothing about the order of answers.
    pub id: i64,
    pub answered: NewResponse,
    pub release: Release,
}

/// Where a stored response stands in the released batches (`domain::release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Waiting in the release cell of this key.
    Waiting(String),
    /// In the tally, the export and the invitations' statuses.
    Counted,
    /// The survey ended with its cell under five: kept, counted nowhere.
    Withheld,
}

impl Release {
    /// As stored: the `released` column and the `release_cell` key.
    pub fn of(released: i16, cell: Option<String>) -> Option<Release> {
        match (released, cell) {
            (0, Some(key)) => Some(Release::Waiting(key)),
            (1, None) => Some(Release::Counted),
            (2, None) => Some(Release::Withheld),
            _ => None,
        }
    }
}

impl Response {
    pub fn facts(&self) -> ResponseFacts {
        self.answered.facts()
    }
}

/// How a submission takes its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Marks the invitation answered (it must still be pending).
    Invitation(i32),
    /// Takes a free place of a stratum (an open channel's answer).
    Place(PlaceKey),
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored and committed.
    Stored,
    /// The same submission was stored before (a retry): nothing new.
    Repeated,
    /// The invitation was answered meanwhile.
    Answered,
    /// The invitation was withdrawn meanwhile.
    Withdrawn,
    /// The stratum's places were taken meanwhile.
    QuotaFull,
    /// The survey closed meanwhile.
    Closed,
    /// Past its address's hourly threshold: stored apart, counted nowhere until an organiser
    /// accepts it.
    Held,
    /// Past its address's daily bound: refused.
    TooMany,
}

/// How an open channel's answers from one client address are limited: past `hold_after` in
/// an hour they are held, past `refuse_after` in a day refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLimit {
    /// A keyed hash of the client address: the address itself is never stored.
    pub address: String,
    pub hold_after: u32,
    pub refuse_after: u32,
}

/// Where a held answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldStatus {
    Held,
    Rejected,
}

impl HeldStatus {
    pub fn code(self) -> &'static str {
        match self {
            HeldStatus::Held => "held",
            HeldStatus::Rejected => "rejected",
        }
    }

    pub fn parse(code: &str) -> Option<HeldStatus> {
        [HeldStatus::Held, HeldStatus::Rejected]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// An answer held for review, with the address it came through (its channel is the
/// answer's).
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub id: i32,
    pub address: String,
    pub status: HeldStatus,
    pub answer: NewResponse,
}

/// Held answers of one channel, address and hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGroup {
    pub channel_id: i32,
    pub address: String,
    pub hour: DateTime<Utc>,
    pub held: u64,
    pub rejected: u64,
}

/// Which held answers an organiser decides on (every one left out is not a condition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldFilter {
    pub channel_id: Option<i32>,
    pub address: Option<String>,
    pub hour: Option<DateTime<Utc>>,
}
