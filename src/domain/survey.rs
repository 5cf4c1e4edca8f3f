//! A survey's settings and life cycle.
use super::quota::{PlanParameters, Target};
use super::tally::Estimator;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Counties are in China: pages show and take times in Beijing time (UTC+8).
pub fn beijing() -> chrono::FixedOffset {
    const EIGHT_HOURS: chrono::FixedOffset = match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(offset) => offset,
        None => panic!("UTC+8 is a valid offset"),
    };
    EIGHT_HOURS
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SurveyError {
    pub field: &'static str,
    pub message: String,
}

/// Where a survey is in its life: drafted, answering, finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    Draft,
    Open,
    Closed,
}

impl SurveyStatus {
    pub fn code(self) -> &'static str {
        match self {
            SurveyStatus::Draft => "draft",
            SurveyStatus::Open => "open",
            SurveyStatus::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SurveyStatus::Draft => "草稿",
            SurveyStatus::Open => "已开放",
            SurveyStatus::Closed => "已结束",
        }
    }

    /// Opening is allowed from draft, and again from closed (to reopen a window closed early).
    pub fn open(self) -> Result<SurveyStatus, SurveyError> {
        match self {
            SurveyStatus::Open => Err(SurveyError {
                field: "status",
                message: "调查已在进行中".into(),
            }),
            _ => Ok(SurveyStatus::Open),
        }
    }

    pub fn close(self) -> Result<SurveyStatus, SurveyError> {
        match self {
            SurveyStatus::Open => Ok(SurveyStatus::Closed),
            _ => Err(SurveyError {
                field: "status",
                message: "只有进行中的调查可以结束".into(),
            }),
        }
    }

    /// Settings (population, rates, window) can change only while drafting.
    pub fn editable(self) -> bool {
        self == SurveyStatus::Draft
    }
}

impl FromStr for SurveyStatus {
    type Err = SurveyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(SurveyStatus::Draft),
            "open" => Ok(SurveyStatus::Open),
            "closed" => Ok(SurveyStatus::Closed),
            _ => Err(SurveyError {
                field: "status",
                message: format!("unknown survey status `{s}`"),
            }),
        }
    }
}

impl fmt::Display for SurveyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where an open survey's window stands at a moment: the status alone does not say whether
/// respondents can answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Draft,
    /// Open, its start time still ahead.
    NotStarted,
    /// Open and answerable.
    Answering,
    /// Open, its end time passed (answers are refused; not yet closed by hand).
    Ended,
    Closed,
}

impl Phase {
    pub fn of(status: SurveyStatus, window: Window, now: DateTime<Utc>) -> Phase {
        match status {
            SurveyStatus::Draft => Phase::Draft,
            SurveyStatus::Closed => Phase::Closed,
            SurveyStatus::Open if window.opens_at.is_some_and(|o| o > now) => Phase::NotStarted,
            SurveyStatus::Open if window.closes_at.is_some_and(|c| c <= now) => Phase::Ended,
            SurveyStatus::Open => Phase::Answering,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Phase::Draft => "draft",
            Phase::NotStarted => "not_started",
            Phase::Answering => "answering",
            Phase::Ended => "ended",
            Phase::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Phase::Draft => "草稿",
            Phase::NotStarted => "已开放，未开始",
            Phase::Answering => "已开放，作答中",
            Phase::Ended => "已开放，已过结束时间",
            Phase::Closed => "已结束",
        }
    }
}

/// The answering window; either end may be left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
}

impl Window {
    /// The same window ending at `closes_at`, for a live survey: never before `now`, and after
    /// its start.
    pub fn with_end(
        self,
        closes_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, SurveyError> {
        if closes_at <= now {
            return Err(SurveyError {
                field: "closes_at",
                message: "新的结束时间必须晚于现在".into(),
            });
        }
        Window::new(self.opens_at, Some(closes_at))
    }

    pub fn new(
        opens_at: Option<DateTime<Utc>>,
        closes_at: Option<DateTime<Utc>>,
    ) -> Result<Self, SurveyError> {
        if let (Some(o), Some(c)) = (opens_at, closes_at)
            && c <= o
        {
            return Err(SurveyError {
                field: "closes_at",
                message: "结束时间必须晚于开始时间".into(),
            });
        }
        Ok(Window {
            opens_at,
            closes_at,
        })
    }
}

/// Everything an organiser sets on a survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveySettings {
    pub name: String,
    pub plan: PlanParameters,
    pub target: Target,
    pub window: Window,
    /// How the headline rate is estimated (pooled by default).
    pub estimator: Estimator,
}

impl SurveySettings {
    pub fn new(
        name: &str,
        plan: PlanParameters,
        target: Target,
        window: Window,
        estimator: Estimator,
    ) -> Result<Self, SurveyError> {
        let name = name.trim();
        let n = name.chars().count();
        if n == 0 || n > 200 || name.chars().any(char::is_control) {
            return Err(SurveyError {
                field: "name",
                message: "调查名称须为 1–200 个字符".into(),
            });
        }
        Ok(SurveySettings {
            name: name.to_owned(),
            plan,
            target,
            window,
            estimator,
        })
    }
}

/// A stored survey.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    pub id: i32,
    pub county_id: i32,
    pub settings: SurveySettings,
    pub status: SurveyStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the rosters and contact data were purged, if they were.
    pub purged_at: Option<DateTime<Utc>>,
    /// When it was archived (a test survey kept out of the everyday lists), if it was.
    pub archived_at: Option<DateTime<Utc>>,
    /// The languages it offers respondents besides Chinese (BCP 47 tags), where its booklets
    /// carry them.
    pub languages: Vec<String>,
}

/// The name of a survey's next round: （第二轮） added, or a round's number counted on
/// (（第二轮） → （第三轮）), so a copy of a copy is not （第二轮）（第二轮）.
pub fn next_round_name(name: &str) -> String {
    const NUMERALS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    let name = name.trim();
    if let Some(stem) = name.strip_suffix("轮）")
        && let Some((base, n)) = stem.rsplit_once("（第")
    {
        let round = NUMERALS
            .iter()
            .position(|x| *x == n)
            .map(|i| i + 1)
            .or_else(|| n.parse::<usize>().ok());
        if let Some(r) = round {
            let next = match NUMERALS.get(r) {
                Some(word) => (*word).to_owned(),
                None => (r + 1).to_string(),
            };
            return format!("{base}（第{next}轮）");
        }
    }
    format!("{name}（第二轮）")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_round_counts_on() {
        use super::next_round_name as next;
        assert_eq!(next("2026 年调查"), "2026 年调查（第二轮）");
        assert_eq!(next("2026 年调查（第二轮）"), "2026 年调查（第三轮）");
        assert_eq!(next("调查（第九轮）"), "调查（第十轮）");
        assert_eq!(next("调查（第十轮）"), "调查（第11轮）");
        assert_eq!(next("调查（第12轮）"), "调查（第13轮）");
        assert_eq!(next("调查（第某轮）"), "调查（第某轮）（第二轮）");
    }

    #[test]
    fn a_survey_opens_from_draft_and_closes_only_when_open() {
        assert_eq!(SurveyStatus::Draft.open(), Ok(SurveyStatus::Open));
        assert!(SurveyStatus::Open.open().is_err());
        assert_eq!(SurveyStatus::Open.close(), Ok(SurveyStatus::Closed));
        assert!(SurveyStatus::Draft.close().is_err());
    }

    #[test]
    fn an_open_surveys_phase_follows_its_window() {
        let now = Utc::now();
        let h = chrono::Duration::hours(1);
        let w = |o: Option<DateTime<Utc>>, c: Option<DateTime<Utc>>| Window {
            opens_at: o,
            closes_at: c,
        };
        let open = SurveyStatus::Open;
        assert_eq!(
            Phase::of(open, w(Some(now + h), None), now),
            Phase::NotStarted
        );
        assert_eq!(
            Phase::of(open, w(Some(now - h), Some(now + h)), now),
            Phase::Answering
        );
        assert_eq!(Phase::of(open, w(None, Some(now - h)), now), Phase::Ended);
        assert_eq!(
            Phase::of(SurveyStatus::Draft, w(None, None), now),
            Phase::Draft
        );
        let win = w(Some(now + h), Some(now + h * 2));
        assert!(win.with_end(now - h, now).is_err());
        assert!(win.with_end(now + h / 2, now).is_err(), "before its start");
        assert_eq!(
            win.with_end(now + h * 3, now).unwrap().closes_at,
            Some(now + h * 3)
        );
    }

    #[test]
    fn a_window_must_close_after_it_opens() {
        let t = Utc::now();
        assert_eq!(
            Window::new(Some(t), Some(t)).unwrap_err().field,
            "closes_at"
        );
        assert!(Window::new(Some(t), None).is_ok());
    }
}
