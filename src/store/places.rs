//! The places of an open survey's strata (see `domain::places`): created as it opens, claimed
//! by open-channel answers with a conditional UPDATE, so concurrent claims — on several servers
//! too — never pass a quota.
use super::key_columns;
use crate::domain::places::{PlaceKey, Places};
use crate::entity::stratum_place;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

fn area_id(key: &PlaceKey) -> i32 {
    key_columns::area(key.area)
}

fn band(key: &PlaceKey) -> i16 {
    key_columns::band(key.band)
}

fn read(m: stratum_place::Model) -> Result<Places, DbErr> {
    let bad = |what: String| super::corrupt("stratum_place of survey", m.survey_id, what);
    let group = m
        .grp
        .parse()
        .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?;
    Ok(Places {
        key: PlaceKey {
            group,
            area: key_columns::area_of(m.area_id),
            band: key_columns::band_of("stratum_place of survey", m.survey_id, group, m.band)?,
        },
        quota: u64::try_from(m.quota).map_err(|_| bad(format!("quota {}", m.quota)))?,
        claimed: u64::try_from(m.claimed).map_err(|_| bad(format!("claimed {}", m.claimed)))?,
    })
}

/// Stores a survey's places, keeping those it has already (a survey opened again keeps what
/// was claimed).
pub async fn create_missing(
    db: &impl ConnectionTrait,
    survey_id: i32,
    places: &[Places],
) -> Result<(), DbErr> {
    use stratum_place::Column as C;
    for chunk in places.chunks(500) {
        let rows = chunk.iter().map(|p| stratum_place::ActiveModel {
            survey_id: Set(survey_id),
            grp: Set(p.key.group.code().to_owned()),
            area_id: Set(area_id(&p.key)),
            band: Set(band(&p.key)),
            quota: Set(i32::try_from(p.quota).unwrap_or(i32::MAX)),
            claimed: Set(i32::try_from(p.claimed).unwrap_or(i32::MAX)),
        });
        stratum_place::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::SurveyId, C::Grp, C::AreaId, C::Band])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Whether the survey's places are stored (they are from its opening on).
pub async fn exist(db: &impl ConnectionTrait, survey_id: i32) -> Result<bool, DbErr> {
    Ok(stratum_place::Entity::find()
        .filter(stratum_place::Column::SurveyId.eq(survey_id))
        .count(db)
        .await?
        > 0)
}

/// The survey's places, in stratum order.
pub async fn load(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Places>, DbErr> {
    let mut places = stratum_place::Entity::find()
        .filter(stratum_place::Column::SurveyId.eq(survey_id))
        .order_by_asc(stratum_place::Column::Grp)
        .all(db)
        .await?
        .into_iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    places.sort_by_key(|p| p.key);
    Ok(places)
}

/// Takes one free place of a stratum; false when none is left (or the stratum has no places).
pub async fn claim(
    db: &impl ConnectionTrait,
    survey_id: i32,
    key: &PlaceKey,
) -> Result<bool, DbErr> {
    use stratum_place::Column as C;
    let result = stratum_place::Entity::update_many()
        .col_expr(C::Claimed, Expr::col(C::Claimed).add(1))
        .filter(C::SurveyId.eq(survey_id))
        .filter(C::Grp.eq(key.group.code()))
        .filter(C::AreaId.eq(area_id(key)))
        .filter(C::Band.eq(band(key)))
        .filter(Expr::col(C::Claimed).lt(Expr::col(C::Quota)))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives back a place [`claim`] took in the same transaction (its answer was held or refused
/// after all).
pub async fn release(
    db: &impl ConnectionTrait,
    survey_id: i32,
    key: &PlaceKey,
) -> Result<(), DbErr> {
    use stratum_place::Column as C;
    stratum_place::Entity::update_many()
        .col_expr(C::Claimed, Expr::col(C::Claimed).sub(1))
        .filter(C::SurveyId.eq(survey_id))
        .filter(C::Grp.eq(key.group.code()))
        .filter(C::AreaId.eq(area_id(key)))
        .filter(C::Band.eq(band(key)))
        .filter(Expr::col(C::Claimed).gt(0))
        .exec(db)
        .await?;
    Ok(())
}
