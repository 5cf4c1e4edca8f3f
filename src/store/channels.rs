//! Open channels: one link per group (optionally per area or school) that accepts answers
//! while the strata it feeds have places (see `places`).
use crate::domain::channel::Channel;
use crate::domain::group::RespondentGroup;
use crate::entity::channel;
use chrono::Utc;
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
            closed_at: m.closed_at,
        })
    }
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
            closed_at: Set(None),
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

/// Closes (`Some(when)`) or reopens (`None`) a channel.
pub async fn set_closed(
    db: &impl ConnectionTrait,
    id: i32,
    closed_at: Option<chrono::DateTime<Utc>>,
) -> Result<(), DbErr> {
    channel::Entity::update_many()
        .col_expr(
            channel::Column::ClosedAt,
            sea_orm::sea_query::Expr::value(closed_at),
        )
        .filter(channel::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many answers (counted, waiting, withheld or held) came through a channel.
pub async fn answers(db: &impl ConnectionTrait, id: i32) -> Result<u64, DbErr> {
    use crate::entity::{held_answer, response};
    use sea_orm::PaginatorTrait;
    let responses = response::Entity::find()
        .filter(response::Column::ChannelId.eq(id))
        .count(db)
        .await?;
    let held = held_answer::Entity::find()
        .filter(held_answer::Column::ChannelId.eq(id))
        .count(db)
        .await?;
    Ok(responses + held)
}

/// Deletes a channel (one no answer came through: see [`answers`]).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    channel::Entity::delete_many()
        .filter(channel::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
