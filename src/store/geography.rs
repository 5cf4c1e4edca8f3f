//! A survey's areas (乡镇/街道) and schools.
use crate::domain::frame::School;
use crate::domain::geography::Geography;
use crate::domain::strata::Area;
use crate::entity::{area, school};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;

pub async fn load(db: &impl ConnectionTrait, survey_id: i32) -> Result<Geography, DbErr> {
    let areas = area::Entity::find()
        .filter(area::Column::SurveyId.eq(survey_id))
        .order_by_asc(area::Column::Position)
        .all(db)
        .await?;
    let schools = school::Entity::find()
        .filter(school::Column::SurveyId.eq(survey_id))
        .order_by_asc(school::Column::Position)
        .all(db)
        .await?;
    let mut geo = Geography::default();
    for a in areas {
        let class = a
            .class
            .parse()
            .map_err(|_| super::corrupt("area", a.id, format!("unknown class `{}`", a.class)))?;
        let population = u64::try_from(a.population)
            .map_err(|_| super::corrupt("area", a.id, "negative population"))?;
        geo.area_ids.push(a.id);
        geo.areas.push(Area {
            name: a.name,
            class,
            population,
        });
    }
    for s in schools {
        let area = geo.area_index(s.area_id).ok_or_else(|| {
            super::corrupt(
                "school",
                s.id,
                format!("area {} is not the survey's", s.area_id),
            )
        })?;
        geo.school_ids.push(s.id);
        geo.schools.push(School { name: s.name, area });
    }
    Ok(geo)
}

/// Replaces the areas, keeping the id of each area whose name stays (so schools keep theirs).
/// An area that is dropped but still has schools makes the whole change fail.
pub async fn replace_areas(
    db: &impl ConnectionTrait,
    survey_id: i32,
    areas: &[Area],
) -> Result<(), DbErr> {
    let existing: HashMap<String, i32> = area::Entity::find()
        .filter(area::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.name, a.id))
        .collect();
    let keep: Vec<i32> = areas
        .iter()
        .filter_map(|a| existing.get(&a.name).copied())
        .collect();
    area::Entity::delete_many()
        .filter(area::Column::SurveyId.eq(survey_id))
        .filter(area::Column::Id.is_not_in(keep))
        .exec(db)
        .await?;
    for (position, a) in areas.iter().enumerate() {
        let mut model = area::ActiveModel {
            survey_id: Set(survey_id),
            position: Set(position as i32),
            name: Set(a.name.clone()),
            class: Set(a.class.code().to_owned()),
            population: Set(a.population as i64),
            ..Default::default()
        };
        match existing.get(&a.name) {
            Some(&id) => {
                model.id = Set(id);
                super::update_row(db, model).await?;
            }
            None => {
                super::insert_row(db, model).await?;
            }
        }
    }
    Ok(())
}

/// Replaces the schools (name and area id), keeping the id of each school whose name stays.
pub async fn replace_schools(
    db: &impl ConnectionTrait,
    survey_id: i32,
    schools: &[(String, i32)],
) -> Result<(), DbErr> {
    let existing: HashMap<String, i32> = school::Entity::find()
        .filter(school::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.name, s.id))
        .collect();
    let keep: Vec<i32> = schools
        .iter()
        .filter_map(|(name, _)| existing.get(name).copied())
        .collect();
    school::Entity::delete_many()
        .filter(school::Column::SurveyId.eq(survey_id))
        .filter(school::Column::Id.is_not_in(keep))
        .exec(db)
        .await?;
    for (position, (name, area_id)) in schools.iter().enumerate() {
        let mut model = school::ActiveModel {
            survey_id: Set(survey_id),
            position: Set(position as i32),
            name: Set(name.clone()),
            area_id: Set(*area_id),
            ..Default::default()
        };
        match existing.get(name) {
            Some(&id) => {
                model.id = Set(id);
                super::update_row(db, model).await?;
            }
            None => {
                super::insert_row(db, model).await?;
            }
        }
    }
    Ok(())
}

/// The names of the schools listed in any survey of a county (each once).
pub async fn school_names_in_county(
    db: &impl ConnectionTrait,
    county_id: i32,
) -> Result<Vec<String>, DbErr> {
    use crate::entity::survey;
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{ExprTrait, Query};
    let surveys = Query::select()
        .column(survey::Column::Id)
        .from(survey::Entity)
        .and_where(sea_orm::sea_query::Expr::col(survey::Column::CountyId).eq(county_id))
        .to_owned();
    school::Entity::find()
        .select_only()
        .column(school::Column::Name)
        .distinct()
        .filter(school::Column::SurveyId.in_subquery(surveys))
        .into_tuple()
        .all(db)
        .await
}
