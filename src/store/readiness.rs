//! Readiness figures: each county's schools (replaced on upload) and checklist entries.
use crate::domain::readiness::{CheckRecord, CheckStatus, SchoolFigures, SchoolKind};
use crate::entity::{readiness_check, readiness_school};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

fn kind_code(k: SchoolKind) -> &'static str {
    k.code()
}

/// Replaces a county's schools (call inside a transaction).
pub async fn replace_schools(
    db: &impl ConnectionTrait,
    county_id: i32,
    schools: &[SchoolFigures],
) -> Result<(), DbErr> {
    readiness_school::Entity::delete_many()
        .filter(readiness_school::Column::CountyId.eq(county_id))
        .exec(db)
        .await?;
    for chunk in schools.chunks(200).enumerate() {
        let (c, chunk) = chunk;
        let models = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| readiness_school::ActiveModel {
                county_id: Set(county_id),
                position: Set((c * 200 + i) as i32),
                name: Set(s.name.clone()),
                kind: Set(kind_code(s.kind).to_owned()),
                pupils: Set(s.pupils),
                primary_pupils: Set(s.primary_pupils),
                junior_pupils: Set(s.junior_pupils),
                qualified_teachers: Set(s.resources[0]),
                backbone_teachers: Set(s.resources[1]),
                pe_arts_teachers: Set(s.resources[2]),
                teaching_space_m2: Set(s.resources[3]),
                sports_space_m2: Set(s.resources[4]),
                equipment_value_yuan: Set(s.resources[5]),
                multimedia_rooms: Set(s.resources[6]),
                ..Default::default()
            });
        readiness_school::Entity::insert_many(models)
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn schools(
    db: &impl ConnectionTrait,
    county_id: i32,
) -> Result<Vec<SchoolFigures>, DbErr> {
    readiness_school::Entity::find()
        .filter(readiness_school::Column::CountyId.eq(county_id))
        .order_by_asc(readiness_school::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            Ok(SchoolFigures {
                kind: SchoolKind::from_code(&m.kind).ok_or_else(|| {
                    super::corrupt("readiness_school", m.id, format!("kind `{}`", m.kind))
                })?,
                name: m.name,
                pupils: m.pupils,
                primary_pupils: m.primary_pupils,
                junior_pupils: m.junior_pupils,
                resources: [
                    m.qualified_teachers,
                    m.backbone_teachers,
                    m.pe_arts_teachers,
                    m.teaching_space_m2,
                    m.sports_space_m2,
                    m.equipment_value_yuan,
                    m.multimedia_rooms,
                ],
            })
        })
        .collect()
}

impl TryFrom<readiness_check::Model> for CheckRecord {
    type Error = DbErr;

    fn try_from(m: readiness_check::Model) -> Result<Self, DbErr> {
        let id = format!("{}/{}/{}", m.county_id, m.year, m.code);
        let bad = |what: String| super::corrupt("readiness_check", &id, what);
        Ok(CheckRecord {
            status: CheckStatus::parse(&m.status)
                .ok_or_else(|| bad(format!("status `{}`", m.status)))?,
            figures: serde_json::from_str(&m.figures).map_err(|e| bad(format!("figures: {e}")))?,
            attachments: m
                .attachments
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            code: m.code,
            note: m.note,
        })
    }
}

/// What was recorded for the county's checklist in one year.
pub async fn checks(
    db: &impl ConnectionTrait,
    county_id: i32,
    year: i32,
) -> Result<Vec<CheckRecord>, DbErr> {
    readiness_check::Entity::find()
        .filter(readiness_check::Column::CountyId.eq(county_id))
        .filter(readiness_check::Column::Year.eq(year))
        .all(db)
        .await?
        .into_iter()
        .map(CheckRecord::try_from)
        .collect()
}

/// Records one checklist indicator (replacing what was recorded for it that year).
pub async fn save_check(
    db: &impl ConnectionTrait,
    county_id: i32,
    year: i32,
    record: &CheckRecord,
) -> Result<(), DbErr> {
    use readiness_check::Column as C;
    let figures = serde_json::to_string(&record.figures).map_err(|e| DbErr::Json(e.to_string()))?;
    readiness_check::Entity::insert(readiness_check::ActiveModel {
        county_id: Set(county_id),
        year: Set(year),
        code: Set(record.code.clone()),
        status: Set(record.status.code().to_owned()),
        note: Set(record.note.clone()),
        attachments: Set(record.attachments.join("\n")),
        figures: Set(figures),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([C::CountyId, C::Year, C::Code])
            .update_columns([C::Status, C::Note, C::Attachments, C::Figures, C::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
