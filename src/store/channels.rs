//! Open channels: one link per group (optionally per area or school) that accepts answers
//! until its quota cell is full. Places are counted atomically in `channel_fill`.
use crate::entity::{channel, channel_fill};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub use crate::entity::channel::Model as ChannelRow;

pub async fn create(
    db: &impl ConnectionTrait,
    survey_id: i32,
    code: &str,
    group: &str,
    area_id: Option<i32>,
    school_id: Option<i32>,
) -> Result<ChannelRow, DbErr> {
    super::insert_row(
        db,
        channel::ActiveModel {
            survey_id: Set(survey_id),
            code: Set(code.to_owned()),
            grp: Set(group.to_owned()),
            area_id: Set(area_id),
            school_id: Set(school_id),
            created_at: Set(Utc::now()),
            ..Default::default()
        },
    )
    .await
}

pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<ChannelRow>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::SurveyId.eq(survey_id))
        .order_by_asc(channel::Column::Id)
        .all(db)
        .await
}

pub async fn find_by_code(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<ChannelRow>, DbErr> {
    // `.all()` on a unique key rather than `.one()`: see `invitations::find`.
    Ok(channel::Entity::find()
        .filter(channel::Column::Code.eq(code))
        .all(db)
        .await?
        .pop())
}

/// Takes one place in a quota cell (group, area; area 0 for the whole county) if fewer than
/// `quota` are taken. A single conditional UPDATE, so concurrent claims can never overfill.
pub async fn claim_place(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: &str,
    cell_area: i32,
    quota: u64,
) -> Result<bool, DbErr> {
    channel_fill::Entity::insert(channel_fill::ActiveModel {
        survey_id: Set(survey_id),
        grp: Set(group.to_owned()),
        area_id: Set(cell_area),
        filled: Set(0),
    })
    .on_conflict(
        OnConflict::columns([
            channel_fill::Column::SurveyId,
            channel_fill::Column::Grp,
            channel_fill::Column::AreaId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let quota = i32::try_from(quota).unwrap_or(i32::MAX);
    let result = channel_fill::Entity::update_many()
        .col_expr(
            channel_fill::Column::Filled,
            sea_orm::sea_query::ExprTrait::add(Expr::col(channel_fill::Column::Filled), 1),
        )
        .filter(channel_fill::Column::SurveyId.eq(survey_id))
        .filter(channel_fill::Column::Grp.eq(group))
        .filter(channel_fill::Column::AreaId.eq(cell_area))
        .filter(channel_fill::Column::Filled.lt(quota))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Places taken in a quota cell.
pub async fn filled(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: &str,
    cell_area: i32,
) -> Result<u64, DbErr> {
    Ok(
        channel_fill::Entity::find_by_id((survey_id, group.to_owned(), cell_area))
            .all(db)
            .await?
            .pop()
            .map_or(0, |f| f.filled.max(0) as u64),
    )
}
