//! The 意见和建议 reader: counted answers' comments with filters (group, school, area, the
//! dimension a respondent rated lowest), the most frequent words, and the same as a file.
//! Comments are response-level data: organisers only, and only where the answers the filter
//! selects are at least k (`domain::disclosure::K`), like the answers file.
use super::surveys::organized;
use super::{Actor, Context};
use crate::domain::comments::{keywords, lowest_dimension};
use crate::domain::disclosure::K;
use crate::domain::geography::Geography;
use crate::domain::group::RespondentGroup;
use crate::domain::questionnaire::dimension_label;
use crate::domain::response::Release;
use crate::domain::survey::Survey;
use crate::error::AppError;
use crate::store;
use serde::Serialize;

/// What to read (names as the pages show them; empty: all).
#[derive(Debug, Default, Clone)]
pub struct CommentFilter<'a> {
    pub group: Option<&'a str>,
    pub school: Option<&'a str>,
    pub area: Option<&'a str>,
    /// A dimension's code (`equity` …).
    pub dimension: Option<&'a str>,
}

/// One comment as the reader shows it: no time, no id, and place only as the answer kept it.
#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub group: &'static str,
    pub area: String,
    pub school: String,
    pub lowest_dimension: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comments {
    /// Counted answers the filter selects, with or without a comment (0 when suppressed).
    pub answers: u64,
    /// Fewer than k answers: nothing is shown.
    pub suppressed: bool,
    pub comments: Vec<Comment>,
    pub keywords: Vec<(String, u64)>,
}

fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// The comments of a survey the actor organises, filtered.
pub async fn comments(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    filter: &CommentFilter<'_>,
) -> Result<(Survey, Geography, Comments), AppError> {
    let survey = organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let geo = store::geography::load(db, survey.id).await?;
    let group: Option<RespondentGroup> = present(filter.group)
        .map(super::sampling::parse_group)
        .transpose()?;
    let school = match present(filter.school) {
        None => None,
        Some(name) => Some(
            geo.school_named(name)
                .ok_or_else(|| AppError::invalid("school", format!("没有名为“{name}”的学校")))?
                .0,
        ),
    };
    let area =
        match present(filter.area) {
            None => None,
            Some(name) => Some(geo.area_named(name).ok_or_else(|| {
                AppError::invalid("area", format!("没有名为“{name}”的乡镇（街道）"))
            })?),
        };
    let dimension = present(filter.dimension);
    if let Some(d) = dimension
        && !crate::domain::questionnaire::DIMENSIONS
            .iter()
            .any(|(c, _)| *c == d)
    {
        return Err(AppError::invalid("dimension", "没有这个维度"));
    }
    let mut answers = 0u64;
    let mut found = Vec::new();
    let mut pages = store::responses::Pages::new(survey.id);
    while let Some(page) = pages.next(db).await? {
        for r in page {
            let a = &r.answered;
            if r.release != Release::Counted
                || group.is_some_and(|g| g != a.group)
                || school.is_some_and(|s| a.school != Some(s))
                || area.is_some_and(|x| a.area.area() != Some(x))
            {
                continue;
            }
            let q = ctx.questionnaire(a.questionnaire_id).await?;
            let lowest = lowest_dimension(&q.definition, &a.answers);
            if dimension.is_some_and(|d| lowest != Some(d)) {
                continue;
            }
            answers += 1;
            if let Some(text) = a
                .comment
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                found.push(Comment {
                    group: a.group.label(),
                    area: a
                        .area
                        .area()
                        .map(|x| geo.area_name(x).to_owned())
                        .unwrap_or_default(),
                    school: geo.school_name(a.school).to_owned(),
                    lowest_dimension: lowest.map_or("—", dimension_label),
                    text: text.to_owned(),
                });
            }
        }
    }
    // Under k nothing is told, not even how many: a filter on what people answered (their
    // lowest dimension) would otherwise count a handful of them.
    let suppressed = (answers as i64) < K;
    if suppressed {
        found.clear();
        answers = 0;
    }
    let words = keywords(found.iter().map(|c| c.text.as_str()), 30);
    Ok((
        survey,
        geo,
        Comments {
            answers,
            suppressed,
            comments: found,
            keywords: words,
        },
    ))
}

/// The most frequent words of all counted comments (for the report, which viewers read too):
/// words only, and only from at least k comments.
pub async fn themes(
    ctx: &Context,
    survey: &Survey,
    limit: usize,
) -> Result<Vec<(String, u64)>, AppError> {
    let db = ctx.db.pool();
    let mut texts = Vec::new();
    let mut pages = store::responses::Pages::new(survey.id);
    while let Some(page) = pages.next(db).await? {
        for r in page {
            if r.release == Release::Counted
                && let Some(t) = r
                    .answered
                    .comment
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
            {
                texts.push(t.to_owned());
            }
        }
    }
    if (texts.len() as i64) < K {
        return Ok(Vec::new());
    }
    // A word a handful of people used could point at them; show words used in k comments or more.
    Ok(keywords(texts.iter().map(String::as_str), limit)
        .into_iter()
        .filter(|(_, n)| *n as i64 >= K)
        .collect())
}
