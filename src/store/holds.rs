//! Per-address counts of open-channel answers, and the answers held past an address's hourly
//! threshold (see `domain::response::AddressLimit`).
use super::draws::band;
use crate::domain::geography::AreaScope;
use crate::domain::group::Booklet;
use crate::domain::response::{Held, HeldFilter, HeldGroup, HeldStatus, NewResponse, Source};
use crate::entity::{address_count, held_answer};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// Counts one more answer from `address` in `hour`; returns the answers of that hour and of
/// the 24 hours up to it, this one included.
pub async fn count(
    db: &impl ConnectionTrait,
    survey_id: i32,
    address: &str,
    hour: DateTime<Utc>,
) -> Result<(u64, u64), DbErr> {
    use address_count::Column as C;
    use sea_orm::sea_query::ExprTrait;
    address_count::Entity::insert(address_count::ActiveModel {
        survey_id: Set(survey_id),
        address: Set(address.to_owned()),
        hour: Set(hour),
        answers: Set(1),
    })
    .on_conflict(
        OnConflict::columns([C::SurveyId, C::Address, C::Hour])
            .value(
                C::Answers,
                Expr::col((address_count::Entity, C::Answers)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let rows = address_count::Entity::find()
        .filter(C::SurveyId.eq(survey_id))
        .filter(C::Address.eq(address))
        .filter(C::Hour.gt(hour - Duration::hours(24)))
        .filter(C::Hour.lte(hour))
        .all(db)
        .await?;
    let this_hour = rows
        .iter()
        .filter(|r| r.hour == hour)
        .map(|r| u64::try_from(r.answers).unwrap_or(0))
        .sum();
    let day = rows
        .iter()
        .map(|r| u64::try_from(r.answers).unwrap_or(0))
        .sum();
    Ok((this_hour, day))
}

/// Stores a held answer (an open channel's: it has a channel).
pub async fn hold(db: &impl ConnectionTrait, address: &str, r: &NewResponse) -> Result<(), DbErr> {
    let channel_id = r
        .channel
        .ok_or_else(|| DbErr::Custom("a held answer must come through a channel".into()))?;
    super::insert_row(
        db,
        held_answer::ActiveModel {
            survey_id: Set(r.survey_id),
            channel_id: Set(channel_id),
            address: Set(address.to_owned()),
            status: Set(HeldStatus::Held.code().to_owned()),
            questionnaire_id: Set(r.questionnaire_id),
            booklet: Set(r.booklet.code().to_owned()),
            grp: Set(r.group.code().to_owned()),
            area_id: Set(r.area.area()),
            area_class: Set(r.area_class.map(|c| c.code().to_owned())),
            school_id: Set(r.school),
            band: Set(r.band.map(|b| b.index() as i16)),
            submitted_hour: Set(r.submitted_hour),
            completion_seconds: Set(i32::try_from(r.completion_seconds).unwrap_or(i32::MAX)),
            too_fast: Set(r.too_fast),
            straight_lined: Set(r.straight_lined),
            answers: Set(super::responses::answers_text(&r.answers)),
            comment: Set(r.comment.clone()),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

impl TryFrom<held_answer::Model> for Held {
    type Error = DbErr;

    fn try_from(m: held_answer::Model) -> Result<Self, DbErr> {
        let bad = |what: String| super::corrupt("held_answer", m.id, what);
        let group = m
            .grp
            .parse()
            .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?;
        let answers = super::responses::answers_from(&m.answers, bad)?;
        Ok(Held {
            id: m.id,
            status: HeldStatus::parse(&m.status)
                .ok_or_else(|| bad(format!("status `{}`", m.status)))?,
            answer: NewResponse {
                survey_id: m.survey_id,
                questionnaire_id: m.questionnaire_id,
                booklet: Booklet::parse(&m.booklet)
                    .ok_or_else(|| bad(format!("booklet `{}`", m.booklet)))?,
                band: band("held_answer", m.id, group, m.band)?,
                group,
                area: AreaScope::of(m.area_id),
                area_class: m
                    .area_class
                    .map(|c| c.parse().map_err(|_| bad(format!("area class `{c}`"))))
                    .transpose()?,
                school: m.school_id,
                source: Source::OpenChannel,
                channel: Some(m.channel_id),
                completion_seconds: u32::try_from(m.completion_seconds)
                    .map_err(|_| bad(format!("completion seconds {}", m.completion_seconds)))?,
                too_fast: m.too_fast,
                straight_lined: m.straight_lined,
                answers,
                comment: m.comment,
                submitted_hour: m.submitted_hour,
            },
            address: m.address,
        })
    }
}

fn filtered<Q: QueryFilter>(mut query: Q, survey_id: i32, filter: &HeldFilter) -> Q {
    use held_answer::Column as C;
    query = query.filter(C::SurveyId.eq(survey_id));
    if let Some(c) = filter.channel_id {
        query = query.filter(C::ChannelId.eq(c));
    }
    if let Some(a) = &filter.address {
        query = query.filter(C::Address.eq(a.as_str()));
    }
    if let Some(h) = filter.hour {
        query = query.filter(C::SubmittedHour.eq(h));
    }
    query
}

/// The held answers a filter names, still held, in the order they arrived.
pub async fn held(
    db: &impl ConnectionTrait,
    survey_id: i32,
    filter: &HeldFilter,
) -> Result<Vec<Held>, DbErr> {
    use held_answer::Column as C;
    filtered(held_answer::Entity::find(), survey_id, filter)
        .filter(C::Status.eq(HeldStatus::Held.code()))
        .order_by_asc(C::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Held::try_from)
        .collect()
}

/// Removes held answers that have become responses (their rows were the only link to an
/// address).
pub async fn remove(db: &impl ConnectionTrait, ids: &[i32]) -> Result<(), DbErr> {
    for chunk in ids.chunks(1_000) {
        held_answer::Entity::delete_many()
            .filter(held_answer::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Marks the held answers a filter names rejected; returns how many.
pub async fn reject(
    db: &impl ConnectionTrait,
    survey_id: i32,
    filter: &HeldFilter,
) -> Result<u64, DbErr> {
    use held_answer::Column as C;
    let update = held_answer::Entity::update_many()
        .col_expr(C::Status, Expr::value(HeldStatus::Rejected.code()))
        .filter(C::Status.eq(HeldStatus::Held.code()));
    Ok(filtered(update, survey_id, filter)
        .exec(db)
        .await?
        .rows_affected)
}

/// Held and rejected answers per channel, address and hour.
pub async fn groups(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<HeldGroup>, DbErr> {
    use held_answer::Column as C;
    use sea_orm::sea_query::ExprTrait;
    #[derive(FromQueryResult)]
    struct Row {
        channel_id: i32,
        address: String,
        submitted_hour: DateTime<Utc>,
        status: String,
        n: i64,
    }
    let rows = held_answer::Entity::find()
        .select_only()
        .column(C::ChannelId)
        .column(C::Address)
        .column(C::SubmittedHour)
        .column(C::Status)
        .column_as(Expr::col(C::Id).count(), "n")
        .filter(C::SurveyId.eq(survey_id))
        .group_by(C::ChannelId)
        .group_by(C::Address)
        .group_by(C::SubmittedHour)
        .group_by(C::Status)
        .order_by_asc(C::SubmittedHour)
        .into_model::<Row>()
        .all(db)
        .await?;
    let mut out: Vec<HeldGroup> = Vec::new();
    for r in rows {
        let status = HeldStatus::parse(&r.status).ok_or_else(|| {
            super::corrupt(
                "held_answer of survey",
                survey_id,
                format!("status `{}`", r.status),
            )
        })?;
        let at = out.iter().position(|g| {
            (g.channel_id, g.address.as_str(), g.hour)
                == (r.channel_id, r.address.as_str(), r.submitted_hour)
        });
        let g = match at {
            Some(i) => &mut out[i],
            None => {
                out.push(HeldGroup {
                    channel_id: r.channel_id,
                    address: r.address.clone(),
                    hour: r.submitted_hour,
                    held: 0,
                    rejected: 0,
                });
                out.last_mut().expect("just pushed")
            }
        };
        match status {
            HeldStatus::Held => g.held += u64::try_from(r.n).unwrap_or(0),
            HeldStatus::Rejected => g.rejected += u64::try_from(r.n).unwrap_or(0),
        }
    }
    Ok(out)
}
