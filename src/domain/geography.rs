//! The county as a survey sees it: its areas (乡镇/街道) in order and its schools, each with the
//! id it is stored under.
use super::frame::School;
use super::strata::{Area, AreaClass};
use serde::{Deserialize, Serialize};

/// Areas in the organiser's order and schools with the index of their area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geography {
    pub area_ids: Vec<i32>,
    pub areas: Vec<Area>,
    pub school_ids: Vec<i32>,
    pub schools: Vec<School>,
}

impl Geography {
    pub fn area_index(&self, id: i32) -> Option<usize> {
        self.area_ids.iter().position(|a| *a == id)
    }

    pub fn school_index(&self, id: i32) -> Option<usize> {
        self.school_ids.iter().position(|s| *s == id)
    }

    pub fn area_name(&self, id: i32) -> &str {
        self.area_index(id)
            .map_or("", |i| self.areas[i].name.as_str())
    }

    pub fn school_name(&self, id: Option<i32>) -> &str {
        id.and_then(|id| self.school_index(id))
            .map_or("", |i| self.schools[i].name.as_str())
    }

    /// The class (urban, town, rural) of one of the areas.
    pub fn area_class(&self, id: i32) -> Option<AreaClass> {
        self.area_index(id).map(|i| self.areas[i].class)
    }

    /// The id of the area named `name`.
    pub fn area_named(&self, name: &str) -> Option<i32> {
        self.areas
            .iter()
            .position(|a| a.name == name)
            .map(|i| self.area_ids[i])
    }

    /// The id of the school named `name`, and the id of its area.
    pub fn school_named(&self, name: &str) -> Option<(i32, i32)> {
        self.schools
            .iter()
            .position(|s| s.name == name)
            .map(|i| (self.school_ids[i], self.area_ids[self.schools[i].area]))
    }

    /// The area a school lies in.
    pub fn area_of_school(&self, school_id: i32) -> Option<i32> {
        self.school_index(school_id)
            .map(|i| self.area_ids[self.schools[i].area])
    }
}

/// Where an answer or a quota cell lies: one area, or the whole county (an open channel that
/// is not tied to an area).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaScope {
    WholeCounty,
    Area(i32),
}

impl AreaScope {
    /// The area, unless the whole county.
    pub fn area(self) -> Option<i32> {
        match self {
            AreaScope::WholeCounty => None,
            AreaScope::Area(id) => Some(id),
        }
    }

    pub fn of(area: Option<i32>) -> AreaScope {
        area.map_or(AreaScope::WholeCounty, AreaScope::Area)
    }
}
