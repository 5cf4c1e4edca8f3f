//! Questionnaire versions: the built-in ones and those a county uploads; which a survey uses.
use crate::domain::group::Booklet;
use crate::domain::questionnaire::{BUILT_IN, Definition, Questionnaire};
use crate::entity::{questionnaire, survey_booklet};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;

fn parse(m: questionnaire::Model) -> Result<Questionnaire, DbErr> {
    let definition =
        Definition::parse(&m.definition).map_err(|e| super::corrupt("questionnaire", m.id, e))?;
    Ok(Questionnaire {
        id: m.id,
        county_id: m.county_id,
        definition,
        text: m.definition,
    })
}

fn booklet_code(b: Booklet) -> &'static str {
    b.code()
}

/// Stores the built-in versions that are not stored yet (run at start-up).
pub async fn ensure_built_in(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    for text in BUILT_IN {
        let def = Definition::parse(text).map_err(|e| DbErr::Custom(e.to_string()))?;
        let exists = questionnaire::Entity::find()
            .filter(questionnaire::Column::CountyId.is_null())
            .filter(questionnaire::Column::Booklet.eq(booklet_code(def.booklet)))
            .filter(questionnaire::Column::Version.eq(def.version.as_str()))
            .one(db)
            .await?
            .is_some();
        if !exists {
            create(db, None, &def, text, "renke").await?;
        }
    }
    Ok(())
}

pub async fn create(
    db: &impl ConnectionTrait,
    county_id: Option<i32>,
    def: &Definition,
    text: &str,
    by: &str,
) -> Result<i32, DbErr> {
    Ok(super::insert_row(
        db,
        questionnaire::ActiveModel {
            county_id: Set(county_id),
            booklet: Set(booklet_code(def.booklet).to_owned()),
            version: Set(def.version.clone()),
            definition: Set(text.to_owned()),
            created_at: Set(Utc::now()),
            created_by: Set(by.to_owned()),
            ..Default::default()
        },
    )
    .await?
    .id)
}

/// A version with this booklet and version name exists for the county (or built in).
pub async fn version_exists(
    db: &impl ConnectionTrait,
    county_id: i32,
    def: &Definition,
) -> Result<bool, DbErr> {
    Ok(questionnaire::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(questionnaire::Column::CountyId.eq(county_id))
                .add(questionnaire::Column::CountyId.is_null()),
        )
        .filter(questionnaire::Column::Booklet.eq(booklet_code(def.booklet)))
        .filter(questionnaire::Column::Version.eq(def.version.as_str()))
        .one(db)
        .await?
        .is_some())
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<Questionnaire>, DbErr> {
    questionnaire::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(parse)
        .transpose()
}

/// The newest built-in version of a booklet.
async fn default_for(db: &impl ConnectionTrait, booklet: Booklet) -> Result<i32, DbErr> {
    questionnaire::Entity::find()
        .filter(questionnaire::Column::CountyId.is_null())
        .filter(questionnaire::Column::Booklet.eq(booklet_code(booklet)))
        .order_by_desc(questionnaire::Column::Id)
        .one(db)
        .await?
        .map(|m| m.id)
        .ok_or_else(|| {
            DbErr::RecordNotFound(format!(
                "no built-in {} questionnaire",
                booklet_code(booklet)
            ))
        })
}

/// The version of each booklet a survey uses: its selection, else the newest built-in.
pub async fn in_use(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<(Booklet, i32)>, DbErr> {
    let mut chosen: HashMap<Booklet, i32> = HashMap::new();
    for s in survey_booklet::Entity::find()
        .filter(survey_booklet::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        let booklet = Booklet::parse(&s.booklet).ok_or_else(|| {
            super::corrupt(
                "survey_booklet of survey",
                survey_id,
                format!("unknown booklet `{}`", s.booklet),
            )
        })?;
        chosen.insert(booklet, s.questionnaire_id);
    }
    let mut out = Vec::new();
    for b in Booklet::ALL {
        let id = match chosen.get(&b) {
            Some(id) => *id,
            None => default_for(db, b).await?,
        };
        out.push((b, id));
    }
    Ok(out)
}

/// Chooses the version a survey uses for a booklet.
pub async fn select(
    db: &impl ConnectionTrait,
    survey_id: i32,
    booklet: Booklet,
    questionnaire_id: i32,
) -> Result<(), DbErr> {
    survey_booklet::Entity::insert(survey_booklet::ActiveModel {
        survey_id: Set(survey_id),
        booklet: Set(booklet_code(booklet).to_owned()),
        questionnaire_id: Set(questionnaire_id),
    })
    .on_conflict(
        OnConflict::columns([
            survey_booklet::Column::SurveyId,
            survey_booklet::Column::Booklet,
        ])
        .update_column(survey_booklet::Column::QuestionnaireId)
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Pins every booklet's version (at opening), so it cannot change while answers come in.
pub async fn pin(db: &impl ConnectionTrait, survey_id: i32) -> Result<(), DbErr> {
    for (booklet, id) in in_use(db, survey_id).await? {
        select(db, survey_id, booklet, id).await?;
    }
    Ok(())
}
