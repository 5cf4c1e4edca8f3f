//! Responses: anonymous answers, stored with their stratum in the same transaction that marks
//! the invitation answered or takes the open channel's place (see `submissions`).
use crate::domain::geography::AreaScope;
use crate::domain::group::Booklet;
use crate::domain::response::{NewResponse, Release, Response, Source};
use crate::entity::response;
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

impl TryFrom<response::Model> for Response {
    type Error = DbErr;

    fn try_from(m: response::Model) -> Result<Self, DbErr> {
        let bad = |what: String| super::corrupt("response", m.id, what);
        let group = m
            .grp
            .parse()
            .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?;
        let answers = answers_from(&m.answers, bad)?;
        Ok(Response {
            id: m.id,
            answered: NewResponse {
                survey_id: m.survey_id,
                questionnaire_id: m.questionnaire_id,
                booklet: Booklet::parse(&m.booklet)
                    .ok_or_else(|| bad(format!("booklet `{}`", m.booklet)))?,
                band: super::draws::band("response", m.id, group, m.band)?,
                group,
                area: AreaScope::of(m.area_id),
                area_class: m
                    .area_class
                    .map(|c| c.parse().map_err(|_| bad(format!("area class `{c}`"))))
                    .transpose()?,
                school: m.school_id,
                source: Source::parse(&m.source)
                    .ok_or_else(|| bad(format!("source `{}`", m.source)))?,
                channel: m.channel_id,
                completion_seconds: u32::try_from(m.completion_seconds)
                    .map_err(|_| bad(format!("completion seconds {}", m.completion_seconds)))?,
                too_fast: m.too_fast,
                straight_lined: m.straight_lined,
                answers,
                comment: m.comment,
                submitted_hour: m.submitted_hour,
            },
            release: Release::of(m.released, m.release_cell)
                .ok_or_else(|| bad(format!("release state {}", m.released)))?,
        })
    }
}

/// Answers as stored: a JSON object of item id → option code.
pub(super) fn answers_text(answers: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = answers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Answers as [`answers_text`] stored them; `bad` names the row for what does not read.
pub(super) fn answers_from(
    text: &str,
    bad: impl Fn(String) -> DbErr,
) -> Result<Vec<(String, String)>, DbErr> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| bad(format!("answers: {e}")))?;
    map.into_iter()
        .map(|(item, v)| match v {
            serde_json::Value::String(code) => Ok((item, code)),
            other => Err(bad(format!("answer to {item} is {other}"))),
        })
        .collect()
}

/// Rows per multi-row insert (19 values each: well under both databases' bind limits).
const CHUNK: usize = 256;

/// Stores responses with multi-row inserts (call inside a transaction; the writer instead runs
/// [`inserts`] with the batch's other statements).
pub async fn insert_many<'a>(
    db: &impl ConnectionTrait,
    responses: impl IntoIterator<Item = (&'a NewResponse, &'a str)>,
) -> Result<(), DbErr> {
    for statement in inserts(responses) {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The multi-row inserts that store `responses`, each waiting in its release cell (the key).
pub fn inserts<'a>(
    responses: impl IntoIterator<Item = (&'a NewResponse, &'a str)>,
) -> Vec<InsertStatement> {
    let rows: Vec<response::ActiveModel> = responses
        .into_iter()
        .map(|(r, cell)| row(r, Some(cell)))
        .collect();
    rows.chunks(CHUNK)
        .map(|chunk| response::Entity::insert_many(chunk.to_vec()).into_query())
        .collect()
}

/// Stores responses counted at once, with no release cell (seeding a load test's survey, whose
/// aggregates the caller adds itself).
pub async fn insert_counted<'a>(
    db: &impl ConnectionTrait,
    responses: impl IntoIterator<Item = &'a NewResponse>,
) -> Result<(), DbErr> {
    let rows: Vec<response::ActiveModel> = responses.into_iter().map(|r| row(r, None)).collect();
    for chunk in rows.chunks(CHUNK) {
        response::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// A response's row: waiting in the release cell `cell`, or counted already.
fn row(new: &NewResponse, cell: Option<&str>) -> response::ActiveModel {
    // A random id: the order of ids says nothing about the order of answers.
    let id = loop {
        let id = rand::random::<i64>() & i64::MAX;
        if id != 0 {
            break id;
        }
    };
    response::ActiveModel {
        id: Set(id),
        survey_id: Set(new.survey_id),
        questionnaire_id: Set(new.questionnaire_id),
        booklet: Set(new.booklet.code().to_owned()),
        grp: Set(new.group.code().to_owned()),
        area_id: Set(new.area.area()),
        area_class: Set(new.area_class.map(|c| c.code().to_owned())),
        school_id: Set(new.school),
        band: Set(new.band.map(|b| b.index() as i16)),
        source: Set(new.source.code().to_owned()),
        submitted_hour: Set(new.submitted_hour),
        completion_seconds: Set(new.completion_seconds.min(i32::MAX as u32) as i32),
        too_fast: Set(new.too_fast),
        straight_lined: Set(new.straight_lined),
        answers: Set(answers_text(&new.answers)),
        comment: Set(new.comment.clone()),
        channel_id: Set(new.channel),
        release_cell: Set(cell.map(str::to_owned)),
        released: Set(if cell.is_some() { 0 } else { 1 }),
    }
}

pub async fn count(db: &impl ConnectionTrait, survey_id: i32) -> Result<u64, DbErr> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .count(db)
        .await
}

/// Every response of a survey, oldest hour first (for tests and small surveys; exports and
/// rebuilds read [`Pages`]).
pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Response>, DbErr> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .order_by_asc(response::Column::SubmittedHour)
        .all(db)
        .await?
        .into_iter()
        .map(Response::try_from)
        .collect()
}

/// The questionnaire versions a survey's responses were given on.
pub async fn questionnaire_ids(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<i32>, DbErr> {
    response::Entity::find()
        .select_only()
        .column(response::Column::QuestionnaireId)
        .distinct()
        .filter(response::Column::SurveyId.eq(survey_id))
        .into_tuple::<i32>()
        .all(db)
        .await
}

/// How many counted responses each cell (group, area, school, band) has by source.
pub async fn counted_by_cell_and_source(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<(crate::domain::disclosure::Cell, Source, i64)>, DbErr> {
    use sea_orm::sea_query::Expr;
    type Row = (String, Option<i32>, Option<i32>, Option<i16>, String, i64);
    let rows: Vec<Row> = response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .filter(response::Column::Released.eq(1))
        .select_only()
        .column(response::Column::Grp)
        .column(response::Column::AreaId)
        .column(response::Column::SchoolId)
        .column(response::Column::Band)
        .column(response::Column::Source)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(response::Column::Grp)
        .group_by(response::Column::AreaId)
        .group_by(response::Column::SchoolId)
        .group_by(response::Column::Band)
        .group_by(response::Column::Source)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(g, area, school, band, source, n)| {
            let bad = |what: String| super::corrupt("response of survey", survey_id, what);
            let group = g.parse().map_err(|_| bad(format!("group `{g}`")))?;
            Ok((
                crate::domain::disclosure::Cell {
                    group,
                    area: AreaScope::of(area),
                    school,
                    band: super::draws::band("response of survey", survey_id, group, band)?,
                },
                Source::parse(&source).ok_or_else(|| bad(format!("source `{source}`")))?,
                n,
            ))
        })
        .collect()
}

/// A survey's responses, page after page: the one way exports and rebuilds read them. Pages
/// follow the (survey_id, id) index, so each is a range scan and memory stays bounded whatever
/// the number of responses.
#[derive(Debug, Clone)]
pub struct Pages {
    survey_id: i32,
    after: i64,
    done: bool,
    size: u64,
}

impl Pages {
    pub const SIZE: u64 = 2_000;

    pub fn new(survey_id: i32) -> Pages {
        Pages {
            survey_id,
            after: i64::MIN,
            done: false,
            size: Self::SIZE,
        }
    }

    /// The next page; `None` after the last.
    pub async fn next(
        &mut self,
        db: &impl ConnectionTrait,
    ) -> Result<Option<Vec<Response>>, DbErr> {
        if self.done {
            return Ok(None);
        }
        let rows = response::Entity::find()
            .filter(response::Column::SurveyId.eq(self.survey_id))
            .filter(response::Column::Id.gt(self.after))
            .order_by_asc(response::Column::SurveyId)
            .order_by_asc(response::Column::Id)
            .limit(self.size)
            .all(db)
            .await?;
        self.done = (rows.len() as u64) < self.size;
        let Some(last) = rows.last() else {
            self.done = true;
            return Ok(None);
        };
        self.after = last.id;
        rows.into_iter()
            .map(Response::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
