//! Open channels: one link per group (optionally per area or school) that accepts answers
//! until its quota cell is full. Places are counted atomically in `channel_fill`.
use crate::domain::channel::Channel;
use crate::domain::geography::AreaScope;
use crate::domain::group::RespondentGroup;
use crate::entity::{channel, channel_fill};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

impl TryFrom<channel::Model> for Channel {
    type Error = DbErr;

    fn try_from(m: channel::Model) -> Result<Self, DbErr> {
        Ok(Channel {
            group: m.grp.parse().map_err(|_| {
                super::corrupt("channel", m.id, format!("unknown group `{}`", m.grp))
            })?,
            id: m.id,
            survey_id: m.survey_id,
            code: m.code,
            area_id: m.area_id,
            school_id: m.school_id,
            created_at: m.created_at,
        })
    }
}

/// How a quota cell's area is stored in `channel_fill`: 0 for the whole county.
fn cell_area(cell: AreaScope) -> i32 {
    cell.area().unwrap_or(0)
}

pub async fn create(
    db: &impl ConnectionTrait,
    survey_id: i32,
    code: &str,
    group: RespondentGroup,
    area_id: Option<i32>,
    school_id: Option<i32>,
) -> Result<Channel, DbErr> {
    super::insert_row(
        db,
        channel::ActiveModel {
            survey_id: Set(survey_id),
            code: Set(code.to_owned()),
            grp: Set(group.code().to_owned()),
            area_id: Set(area_id),
            school_id: Set(school_id),
            created_at: Set(Utc::now()),
            ..Default::default()
        },
    )
    .await?
    .try_into()
}

pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Channel>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::SurveyId.eq(survey_id))
        .order_by_asc(channel::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Channel::try_from)
        .collect()
}

pub async fn find_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Channel>, DbErr> {
    // `.all()` on a unique key rather than `.one()`: see `invitations::find`.
    channel::Entity::find()
        .filter(channel::Column::Code.eq(code))
        .all(db)
        .await?
        .pop()
        .map(Channel::try_from)
        .transpose()
}

/// Takes one place in a quota cell if fewer than `quota` are taken. A single conditional
/// UPDATE, so concurrent claims can never overfill.
pub async fn claim_place(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    cell: AreaScope,
    quota: u64,
) -> Result<bool, DbErr> {
    let (group, cell_area) = (group.code(), cell_area(cell));
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
    group: RespondentGroup,
    cell: AreaScope,
) -> Result<u64, DbErr> {
    Ok(
        channel_fill::Entity::find_by_id((survey_id, group.code().to_owned(), cell_area(cell)))
            .all(db)
            .await?
            .pop()
            .map_or(0, |f| f.filled.max(0) as u64),
    )
}
