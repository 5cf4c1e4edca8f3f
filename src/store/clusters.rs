//! Identical answer sets per unit and half hour (`answer_cluster`, a keyed fingerprint of each
//! set, never the answers), and each unit's largest such cluster so far (`cluster_peak`). The
//! writer counts each batch's stored responses; windows that have passed are deleted as the
//! next batch comes, so only the peaks outlive their half hour.
use crate::domain::integrity::{UnitKey, UnitKind, window_of};
use crate::entity::{answer_cluster, cluster_peak};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, HashMap};

/// Rows per multi-row statement.
const CHUNK: usize = 500;

/// Counts stored responses, each (survey, unit, fingerprint), into the current half hour and
/// raises the units' peaks. Call inside the batch's transaction.
pub async fn count<'a>(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    answers: impl IntoIterator<Item = (i32, UnitKey, &'a str)>,
) -> Result<(), DbErr> {
    let window = window_of(now);
    let mut counts: BTreeMap<(i32, UnitKey, &str), i32> = BTreeMap::new();
    for key in answers {
        *counts.entry(key).or_default() += 1;
    }
    use answer_cluster::Column as A;
    answer_cluster::Entity::delete_many()
        .filter(A::WindowStart.lt(window))
        .exec(db)
        .await?;
    if counts.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = counts.into_iter().collect();
    let mut peaks: BTreeMap<(i32, UnitKey), i32> = BTreeMap::new();
    for chunk in rows.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(answer_cluster::Entity)
            .columns([
                A::SurveyId,
                A::Kind,
                A::UnitId,
                A::WindowStart,
                A::Pattern,
                A::Answers,
            ])
            .on_conflict(
                OnConflict::columns([A::SurveyId, A::Kind, A::UnitId, A::WindowStart, A::Pattern])
                    .value(
                        A::Answers,
                        Expr::col((answer_cluster::Entity, A::Answers))
                            .add(Expr::col((Alias::new("excluded"), A::Answers))),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([A::SurveyId, A::Kind, A::UnitId, A::Answers]));
        for ((survey_id, unit, pattern), n) in chunk {
            insert.values_panic([
                (*survey_id).into(),
                unit.kind.code().into(),
                unit.id.into(),
                window.into(),
                (*pattern).into(),
                (*n).into(),
            ]);
        }
        for row in db.query_all(&insert).await? {
            let kind: String = row.try_get("", "kind")?;
            let Some(kind) = UnitKind::parse(&kind) else {
                continue;
            };
            let unit = UnitKey {
                kind,
                id: row.try_get("", "unit_id")?,
            };
            let n: i32 = row.try_get("", "answers")?;
            let peak = peaks
                .entry((row.try_get("", "survey_id")?, unit))
                .or_default();
            *peak = Ord::max(*peak, n);
        }
    }
    use cluster_peak::Column as P;
    let peaks: Vec<_> = peaks.into_iter().collect();
    for chunk in peaks.chunks(CHUNK) {
        let current = Expr::col((cluster_peak::Entity, P::Largest));
        let incoming = Expr::col((Alias::new("excluded"), P::Largest));
        let mut insert = Query::insert();
        insert
            .into_table(cluster_peak::Entity)
            .columns([P::SurveyId, P::Kind, P::UnitId, P::Largest])
            .on_conflict(
                OnConflict::columns([P::SurveyId, P::Kind, P::UnitId])
                    .value(
                        P::Largest,
                        Expr::case(incoming.clone().gt(current.clone()), incoming).finally(current),
                    )
                    .to_owned(),
            );
        for ((survey_id, unit), n) in chunk {
            insert.values_panic([
                (*survey_id).into(),
                unit.kind.code().into(),
                unit.id.into(),
                (*n).into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Each unit's largest cluster of a survey.
pub async fn peaks(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<HashMap<UnitKey, u64>, DbErr> {
    let mut out = HashMap::new();
    for p in cluster_peak::Entity::find()
        .filter(cluster_peak::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        let kind = UnitKind::parse(&p.kind).ok_or_else(|| {
            super::corrupt(
                "cluster_peak of survey",
                survey_id,
                format!("unknown unit kind `{}`", p.kind),
            )
        })?;
        out.insert(
            UnitKey {
                kind,
                id: p.unit_id,
            },
            u64::try_from(p.largest).unwrap_or(0),
        );
    }
    Ok(out)
}
