use crate::domain::quota::{Fraction, ParentShare, PlanParameters, SamplingRate, Target};
use crate::domain::survey::{Survey, SurveySettings, SurveyStatus, Window};
use crate::domain::tally::Estimator;
use crate::entity::survey;
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

fn corrupt(what: &str, id: i32) -> DbErr {
    super::corrupt("survey", id, format!("stored {what} is out of range"))
}

impl TryFrom<survey::Model> for Survey {
    type Error = DbErr;

    fn try_from(m: survey::Model) -> Result<Self, DbErr> {
        let id = m.id;
        let rate = u32::try_from(m.rate_ppm)
            .ok()
            .and_then(|r| SamplingRate::from_ppm(r).ok())
            .ok_or_else(|| corrupt("rate", id))?;
        let share = u16::try_from(m.parent_share_bp)
            .ok()
            .and_then(Fraction::from_basis_points)
            .and_then(|f| ParentShare::try_from(f).ok())
            .ok_or_else(|| corrupt("parent share", id))?;
        let target = u16::try_from(m.target_bp)
            .ok()
            .and_then(Fraction::from_basis_points)
            .and_then(|f| Target::try_from(f).ok())
            .ok_or_else(|| corrupt("target", id))?;
        let plan = PlanParameters::new(m.population, rate, share, m.floor)
            .map_err(|_| corrupt("population", id))?;
        let window = Window {
            opens_at: m.opens_at,
            closes_at: m.closes_at,
        };
        Ok(Survey {
            id,
            county_id: m.county_id,
            settings: SurveySettings {
                name: m.name,
                plan,
                target,
                window,
                estimator: Estimator::parse(&m.estimator)
                    .ok_or_else(|| corrupt("estimator", id))?,
            },
            status: m.status.parse().map_err(|_| corrupt("status", id))?,
            created_at: m.created_at,
            updated_at: m.updated_at,
            purged_at: m.purged_at,
            archived_at: m.archived_at,
            languages: m
                .languages
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
}

fn apply(model: &mut survey::ActiveModel, s: &SurveySettings) {
    model.name = Set(s.name.clone());
    model.population = Set(s.plan.population as i64);
    model.rate_ppm = Set(s.plan.rate.ppm() as i32);
    model.parent_share_bp = Set(i32::from(s.plan.parent_share.fraction().basis_points()));
    model.floor = Set(s.plan.floor as i64);
    model.target_bp = Set(i32::from(s.target.fraction().basis_points()));
    model.opens_at = Set(s.window.opens_at);
    model.closes_at = Set(s.window.closes_at);
    model.estimator = Set(s.estimator.code().to_owned());
}

pub async fn create(
    db: &impl ConnectionTrait,
    county_id: i32,
    settings: &SurveySettings,
) -> Result<Survey, DbErr> {
    let now = Utc::now();
    let mut model = survey::ActiveModel {
        county_id: Set(county_id),
        status: Set(SurveyStatus::Draft.code().to_owned()),
        tally_version: Set(super::tally::VERSION),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply(&mut model, settings);
    super::insert_row(db, model).await?.try_into()
}

/// Surveys of one county (or all, for `None`), newest first.
pub async fn list(db: &impl ConnectionTrait, county: Option<i32>) -> Result<Vec<Survey>, DbErr> {
    let mut query = survey::Entity::find().order_by_desc(survey::Column::Id);
    if let Some(c) = county {
        query = query.filter(survey::Column::CountyId.eq(c));
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(Survey::try_from)
        .collect()
}

/// A survey by id, only if it belongs to `county` (any county for `None`).
pub async fn find(
    db: &impl ConnectionTrait,
    id: i32,
    county: Option<i32>,
) -> Result<Option<Survey>, DbErr> {
    let mut query = survey::Entity::find_by_id(id);
    if let Some(c) = county {
        query = query.filter(survey::Column::CountyId.eq(c));
    }
    query.one(db).await?.map(Survey::try_from).transpose()
}

/// Moves a survey from `from` to `to`; false when it was no longer in `from` (a concurrent change).
pub async fn change_status(
    db: &impl ConnectionTrait,
    id: i32,
    from: SurveyStatus,
    to: SurveyStatus,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = survey::Entity::update_many()
        .col_expr(survey::Column::Status, Expr::value(to.code()))
        .col_expr(survey::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(survey::Column::Id.eq(id))
        .filter(survey::Column::Status.eq(from.code()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replaces the settings of a survey only while it is still a draft; false when it is not
/// (anymore).
pub async fn update_draft_settings(
    db: &impl ConnectionTrait,
    id: i32,
    settings: &SurveySettings,
) -> Result<bool, DbErr> {
    let mut model = survey::ActiveModel {
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    apply(&mut model, settings);
    let result = survey::Entity::update_many()
        .set(model)
        .filter(survey::Column::Id.eq(id))
        .filter(survey::Column::Status.eq(SurveyStatus::Draft.code()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets a survey's end time while it is still in `status`; false when it is not (anymore).
pub async fn set_closes_at(
    db: &impl ConnectionTrait,
    id: i32,
    status: SurveyStatus,
    closes_at: chrono::DateTime<Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = survey::Entity::update_many()
        .col_expr(survey::Column::ClosesAt, Expr::value(closes_at))
        .col_expr(survey::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(survey::Column::Id.eq(id))
        .filter(survey::Column::Status.eq(status.code()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets the start of a survey's window where none was set (a draft opening now starts now, so
/// its pages say since when it is open).
pub async fn start_window_if_unset(
    db: &impl ConnectionTrait,
    id: i32,
    opens_at: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    survey::Entity::update_many()
        .col_expr(survey::Column::OpensAt, Expr::value(opens_at))
        .filter(survey::Column::Id.eq(id))
        .filter(survey::Column::OpensAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a survey while it is a draft (its areas, rosters and draws go with it); false when it
/// is not (anymore).
pub async fn delete_draft(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    let result = survey::Entity::delete_many()
        .filter(survey::Column::Id.eq(id))
        .filter(survey::Column::Status.eq(SurveyStatus::Draft.code()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Archives a survey (`Some`: when) or brings it back (`None`).
pub async fn set_archived(
    db: &impl ConnectionTrait,
    id: i32,
    at: Option<chrono::DateTime<Utc>>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    survey::Entity::update_many()
        .col_expr(survey::Column::ArchivedAt, Expr::value(at))
        .filter(survey::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the languages the survey offers besides Chinese.
pub async fn set_languages(
    db: &impl ConnectionTrait,
    id: i32,
    languages: &[String],
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    let value = (!languages.is_empty()).then(|| languages.join(" "));
    survey::Entity::update_many()
        .col_expr(survey::Column::Languages, Expr::value(value))
        .filter(survey::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records that the survey's personal data was purged.
pub async fn mark_purged(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    survey::Entity::update_many()
        .col_expr(survey::Column::PurgedAt, Expr::value(Utc::now()))
        .filter(survey::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
