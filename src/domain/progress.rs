//! Progress school by school: how far each school's invitations and channels have come, which
//! schools lag, and what each day brought. Counts are of what county users may see
//! (`domain::release`): an answer waiting in its release cell is not yet answered here, and an
//! answer counted without its school (its cell had none) counts for no school's channel figure.
use super::group::RespondentGroup;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one school (or, with `school: None`, answers that no school can be named for) has done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchoolProgress {
    pub school_id: Option<i32>,
    pub school: String,
    pub area: String,
    /// Invitations of the draw in force as it was drawn (replacements from the reserve not
    /// included).
    pub planned: u64,
    /// Invitations that still work or were answered (replaced and revoked ones not included).
    pub invited: u64,
    /// Invitations answered, as shown.
    pub answered: u64,
    /// Answers counted through an open channel of (or naming) this school.
    pub channel_answers: u64,
    /// Channel answers held for the organiser's decision (`domain::integrity`).
    pub held: u64,
}

impl SchoolProgress {
    /// Answered invitations ÷ invitations, or `None` without invitations.
    pub fn response_rate(&self) -> Option<f64> {
        (self.invited > 0).then(|| self.answered as f64 / self.invited as f64)
    }

    /// Invitations still to answer.
    pub fn outstanding(&self) -> u64 {
        self.invited.saturating_sub(self.answered)
    }

    fn add(&mut self, other: &SchoolProgress) {
        self.planned += other.planned;
        self.invited += other.invited;
        self.answered += other.answered;
        self.channel_answers += other.channel_answers;
        self.held += other.held;
    }
}

/// The same counts for one group of respondents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupProgress {
    pub group: RespondentGroup,
    /// The plan's quota for the group.
    pub quota: u64,
    pub counts: SchoolProgress,
    /// Answers counted for the group, by any way of answering.
    pub counted: u64,
}

/// A stratum of the plan (group, area, band) against its quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StratumProgress {
    pub group: RespondentGroup,
    pub area: String,
    /// Its grade band as people read it.
    pub band: Option<String>,
    pub quota: u64,
    /// Answers counted in the stratum (any way of answering).
    pub counted: u64,
}

/// A survey's progress: per school, per group, per stratum, and the lagging schools in the
/// order the bureau should call them.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub schools: Vec<SchoolProgress>,
    pub groups: Vec<GroupProgress>,
    pub strata: Vec<StratumProgress>,
    pub total: SchoolProgress,
}

/// One count of the store's, by school and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub school_id: Option<i32>,
    pub group: RespondentGroup,
    pub what: Counted,
    pub n: u64,
}

/// Which figure a [`Tally`] adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Planned,
    Invited,
    Answered,
    ChannelAnswers,
    Held,
    /// Counted answers of the group (any source, any school): for the group rows only.
    Counted,
}

/// Where a school is: its name and its area's.
pub struct SchoolName<'a> {
    pub id: i32,
    pub name: &'a str,
    pub area: &'a str,
}

/// A school lags when under this share of its invitations is answered.
pub const LAGGING_BELOW: f64 = 0.85;

impl Progress {
    /// Adds the store's counts up per school (in the survey's order of schools, then answers of
    /// no named school) and per group (in the canonical order); `strata` as they are.
    pub fn build(
        schools: &[SchoolName<'_>],
        quotas: &[(RespondentGroup, u64)],
        tallies: &[Tally],
        strata: Vec<StratumProgress>,
    ) -> Progress {
        let mut by_school: BTreeMap<Option<i32>, SchoolProgress> = BTreeMap::new();
        let mut by_group: BTreeMap<RespondentGroup, (SchoolProgress, u64)> = BTreeMap::new();
        for t in tallies {
            let mut one = SchoolProgress::default();
            match t.what {
                Counted::Planned => one.planned = t.n,
                Counted::Invited => one.invited = t.n,
                Counted::Answered => one.answered = t.n,
                Counted::ChannelAnswers => one.channel_answers = t.n,
                Counted::Held => one.held = t.n,
                Counted::Counted => {
                    by_group.entry(t.group).or_default().1 += t.n;
                    continue;
                }
            }
            by_school.entry(t.school_id).or_default().add(&one);
            by_group.entry(t.group).or_default().0.add(&one);
        }
        let mut rows = Vec::new();
        for s in schools {
            let mut row = by_school.remove(&Some(s.id)).unwrap_or_default();
            row.school_id = Some(s.id);
            row.school = s.name.to_owned();
            row.area = s.area.to_owned();
            rows.push(row);
        }
        // Counts of schools no longer listed, and answers of no named school, last.
        if let Some(mut rest) = by_school.into_values().reduce(|mut a, b| {
            a.add(&b);
            a
        }) {
            rest.school_id = None;
            rest.school = "未标明学校".into();
            rest.area = String::new();
            rows.push(rest);
        }
        let mut total = SchoolProgress {
            school: "合计".into(),
            ..Default::default()
        };
        for r in &rows {
            total.add(r);
        }
        let groups = RespondentGroup::ALL
            .into_iter()
            .filter_map(|g| {
                let quota = quotas.iter().find(|(q, _)| *q == g).map_or(0, |(_, n)| *n);
                let (counts, counted) = by_group.remove(&g).unwrap_or_default();
                (quota > 0 || counts != SchoolProgress::default() || counted > 0).then_some(
                    GroupProgress {
                        group: g,
                        quota,
                        counts,
                        counted,
                    },
                )
            })
            .collect();
        Progress {
            schools: rows,
            groups,
            strata,
            total,
        }
    }

    /// The named schools with invitations whose response rate is under [`LAGGING_BELOW`], the
    /// most outstanding invitations first (ties: the lower rate, then the survey's order).
    pub fn lagging(&self) -> Vec<&SchoolProgress> {
        let mut lagging: Vec<&SchoolProgress> = self
            .schools
            .iter()
            .filter(|s| s.school_id.is_some())
            .filter(|s| s.response_rate().is_some_and(|r| r < LAGGING_BELOW))
            .collect();
        lagging.sort_by(|a, b| {
            b.outstanding().cmp(&a.outstanding()).then(
                a.response_rate()
                    .unwrap_or(0.0)
                    .total_cmp(&b.response_rate().unwrap_or(0.0)),
            )
        });
        lagging
    }
}

/// Answers shown on one day for one school: answered invitations and counted channel answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    pub school_id: Option<i32>,
    pub day: NaiveDate,
    pub answers: u64,
}

/// The leadership's daily summary of one school: yesterday, today, all so far, and what is
/// left of its invitations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyRow {
    pub school_id: Option<i32>,
    pub school: String,
    pub area: String,
    pub yesterday: u64,
    pub today: u64,
    pub so_far: u64,
    pub left: u64,
    pub response_rate: Option<f64>,
}

/// The daily summary: one row per school of `progress` (its order), and the total.
pub fn daily(
    progress: &Progress,
    days: &[DayCount],
    today: NaiveDate,
) -> (Vec<DailyRow>, DailyRow) {
    let yesterday = today.pred_opt().unwrap_or(today);
    let on = |school: Option<i32>, day: NaiveDate, named: bool| -> u64 {
        days.iter()
            .filter(|d| d.day == day)
            .filter(|d| {
                if named {
                    d.school_id == school
                } else {
                    progress_has_no_row(progress, d.school_id)
                }
            })
            .map(|d| d.answers)
            .sum()
    };
    let rows: Vec<DailyRow> = progress
        .schools
        .iter()
        .map(|s| {
            let named = s.school_id.is_some();
            DailyRow {
                school_id: s.school_id,
                school: s.school.clone(),
                area: s.area.clone(),
                yesterday: on(s.school_id, yesterday, named),
                today: on(s.school_id, today, named),
                so_far: s.answered + s.channel_answers,
                left: s.outstanding(),
                response_rate: s.response_rate(),
            }
        })
        .collect();
    let total = DailyRow {
        school_id: None,
        school: "合计".into(),
        area: String::new(),
        yesterday: rows.iter().map(|r| r.yesterday).sum(),
        today: rows.iter().map(|r| r.today).sum(),
        so_far: rows.iter().map(|r| r.so_far).sum(),
        left: rows.iter().map(|r| r.left).sum(),
        response_rate: progress.total.response_rate(),
    };
    (rows, total)
}

/// Whether answers of this school fall in the closing row of answers of no named school.
fn progress_has_no_row(progress: &Progress, school: Option<i32>) -> bool {
    school.is_none_or(|id| !progress.schools.iter().any(|s| s.school_id == Some(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RespondentGroup::{Parent, Teacher};

    fn t(school: Option<i32>, group: RespondentGroup, what: Counted, n: u64) -> Tally {
        Tally {
            school_id: school,
            group,
            what,
            n,
        }
    }

    fn progress() -> Progress {
        let schools = [
            SchoolName {
                id: 1,
                name: "一小",
                area: "城关镇",
            },
            SchoolName {
                id: 2,
                name: "二小",
                area: "城关镇",
            },
            SchoolName {
                id: 3,
                name: "三中",
                area: "桥头镇",
            },
        ];
        Progress::build(
            &schools,
            &[(Parent, 30), (Teacher, 10)],
            &[
                t(Some(1), Parent, Counted::Planned, 10),
                t(Some(1), Parent, Counted::Invited, 10),
                t(Some(1), Parent, Counted::Answered, 9),
                t(Some(2), Parent, Counted::Planned, 10),
                t(Some(2), Parent, Counted::Invited, 12),
                t(Some(2), Parent, Counted::Answered, 3),
                t(Some(2), Teacher, Counted::Invited, 4),
                t(Some(2), Teacher, Counted::Answered, 0),
                t(Some(3), Parent, Counted::Invited, 8),
                t(Some(3), Parent, Counted::Answered, 2),
                t(Some(3), Parent, Counted::ChannelAnswers, 5),
                t(Some(3), Parent, Counted::Held, 1),
                t(None, Parent, Counted::ChannelAnswers, 5),
                t(Some(99), Parent, Counted::ChannelAnswers, 5),
                t(None, Parent, Counted::Counted, 24),
            ],
            Vec::new(),
        )
    }

    #[test]
    fn schools_are_added_up_with_the_unnamed_last() {
        let p = progress();
        assert_eq!(p.schools.len(), 4);
        let two = &p.schools[1];
        assert_eq!((two.planned, two.invited, two.answered), (10, 16, 3));
        assert_eq!(two.response_rate(), Some(3.0 / 16.0));
        let rest = &p.schools[3];
        assert_eq!((rest.school_id, rest.channel_answers), (None, 10));
        assert_eq!(p.total.invited, 34);
        assert_eq!(p.total.channel_answers, 15);
        let parents = &p.groups[0];
        assert_eq!(
            (parents.quota, parents.counted, parents.counts.answered),
            (30, 24, 14)
        );
        assert_eq!(p.groups[1].counts.invited, 4);
    }

    #[test]
    fn the_most_outstanding_lag_first() {
        let p = progress();
        let names: Vec<&str> = p.lagging().iter().map(|s| s.school.as_str()).collect();
        // 二小: 13 outstanding; 三中: 6; 一小 answered 90% and does not lag.
        assert_eq!(names, ["二小", "三中"]);
    }

    #[test]
    fn the_daily_summary_counts_yesterday_and_today_per_school() {
        let p = progress();
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let days = [
            DayCount {
                school_id: Some(1),
                day: day(2),
                answers: 5,
            },
            DayCount {
                school_id: Some(1),
                day: day(3),
                answers: 4,
            },
            DayCount {
                school_id: Some(2),
                day: day(1),
                answers: 3,
            },
            DayCount {
                school_id: None,
                day: day(3),
                answers: 5,
            },
            DayCount {
                school_id: Some(99),
                day: day(3),
                answers: 5,
            },
        ];
        let (rows, total) = daily(&p, &days, today);
        assert_eq!(
            (rows[0].yesterday, rows[0].today, rows[0].so_far),
            (5, 4, 9)
        );
        assert_eq!((rows[1].yesterday, rows[1].today, rows[1].left), (0, 0, 13));
        assert_eq!(rows[3].today, 10);
        assert_eq!((total.yesterday, total.today), (5, 14));
    }
}
