//! Open channels: one link per group (optionally per area or school) that a school pushes into
//! its WeChat groups; it accepts answers until its quota cell is full.
use super::geography::{AreaScope, Geography};
use super::group::RespondentGroup;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: i32,
    pub survey_id: i32,
    /// The secret part of its link, `/o/{code}`.
    pub code: String,
    pub group: RespondentGroup,
    pub area_id: Option<i32>,
    pub school_id: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// When it stopped collecting answers (closed by an organiser); `None` while it collects.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Channel {
    /// The quota cell the channel counts in: its area (a school's area), or the whole county.
    pub fn cell(&self, geo: &Geography) -> AreaScope {
        AreaScope::of(
            self.area_id
                .or_else(|| self.school_id.and_then(|s| geo.area_of_school(s))),
        )
    }
}
