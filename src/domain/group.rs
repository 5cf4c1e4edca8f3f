//! The seven respondent groups of the survey and the booklet each answers.
use enum_map::{Enum, EnumMap};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A respondent group, as SPEC.md names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum RespondentGroup {
    Parent,
    Student,
    Teacher,
    Principal,
    NpcDeputy,
    CppccMember,
    Public,
}

/// One value per respondent group, in [`RespondentGroup::ALL`] order.
pub type GroupMap<T> = EnumMap<RespondentGroup, T>;

/// The questionnaire booklet a group answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Booklet {
    Social,
    Staff,
    Student,
}

impl RespondentGroup {
    /// Every group: parents first, then the others in canonical order.
    pub const ALL: [RespondentGroup; 7] = [
        RespondentGroup::Parent,
        RespondentGroup::Student,
        RespondentGroup::Teacher,
        RespondentGroup::Principal,
        RespondentGroup::NpcDeputy,
        RespondentGroup::CppccMember,
        RespondentGroup::Public,
    ];

    /// The six non-parent groups in canonical order (remainders and shortfalls follow it).
    pub const OTHERS: [RespondentGroup; 6] = [
        RespondentGroup::Student,
        RespondentGroup::Teacher,
        RespondentGroup::Principal,
        RespondentGroup::NpcDeputy,
        RespondentGroup::CppccMember,
        RespondentGroup::Public,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RespondentGroup::Parent => "parent",
            RespondentGroup::Student => "student",
            RespondentGroup::Teacher => "teacher",
            RespondentGroup::Principal => "principal",
            RespondentGroup::NpcDeputy => "npc_deputy",
            RespondentGroup::CppccMember => "cppcc_member",
            RespondentGroup::Public => "public",
        }
    }

    /// The Chinese label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            RespondentGroup::Parent => "家长",
            RespondentGroup::Student => "学生",
            RespondentGroup::Teacher => "教师",
            RespondentGroup::Principal => "校长",
            RespondentGroup::NpcDeputy => "人大代表",
            RespondentGroup::CppccMember => "政协委员",
            RespondentGroup::Public => "其他群众",
        }
    }

    pub fn booklet(self) -> Booklet {
        match self {
            RespondentGroup::Student => Booklet::Student,
            RespondentGroup::Teacher | RespondentGroup::Principal => Booklet::Staff,
            _ => Booklet::Social,
        }
    }
}

impl fmt::Display for RespondentGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The text did not name a respondent group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown respondent group `{0}`")]
pub struct UnknownGroup(pub String);

impl FromStr for RespondentGroup {
    type Err = UnknownGroup;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RespondentGroup::ALL
            .into_iter()
            .find(|g| g.code() == s)
            .ok_or_else(|| UnknownGroup(s.to_owned()))
    }
}

impl Booklet {
    pub const ALL: [Booklet; 3] = [Booklet::Social, Booklet::Staff, Booklet::Student];

    /// The code the booklet is stored and addressed by (`social.toml`).
    pub fn code(self) -> &'static str {
        match self {
            Booklet::Social => "social",
            Booklet::Staff => "staff",
            Booklet::Student => "student",
        }
    }

    pub fn parse(code: &str) -> Option<Booklet> {
        Booklet::ALL.into_iter().find(|b| b.code() == code)
    }

    /// The groups that answer this booklet.
    pub fn groups(self) -> impl Iterator<Item = RespondentGroup> {
        RespondentGroup::ALL
            .into_iter()
            .filter(move |g| g.booklet() == self)
    }

    pub fn label(self) -> &'static str {
        match self {
            Booklet::Social => "社会卷",
            Booklet::Staff => "校长教师卷",
            Booklet::Student => "学生卷",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_the_map_follows_the_canonical_order() {
        for g in RespondentGroup::ALL {
            assert_eq!(g.code().parse::<RespondentGroup>(), Ok(g));
        }
        assert!("parents".parse::<RespondentGroup>().is_err());
        let map: GroupMap<usize> = GroupMap::from_fn(|g| g.code().len());
        let order: Vec<RespondentGroup> = map.iter().map(|(g, _)| g).collect();
        assert_eq!(order, RespondentGroup::ALL);
        for b in Booklet::ALL {
            assert_eq!(Booklet::parse(b.code()), Some(b));
        }
    }
}
