//! The 意见和建议 reader: JSON, CSV and the page, with the same filters.
use super::AppState;
use super::admin::{form_error, page, render};
use super::auth::CurrentUser;
use super::csrf::CsrfToken;
use super::exports::csv_file;
use super::view::SurveyView;
use crate::app::comments::{CommentFilter, comments};
use crate::domain::questionnaire::DIMENSIONS;
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

type State = web::Data<AppState>;

/// `?group=parent&school=…&area=…&dimension=…`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CommentQuery {
    group: String,
    school: String,
    area: String,
    dimension: String,
}

impl CommentQuery {
    fn filter(&self) -> CommentFilter<'_> {
        CommentFilter {
            group: Some(&self.group),
            school: Some(&self.school),
            area: Some(&self.area),
            dimension: Some(&self.dimension),
        }
    }
}

/// `GET /api/v1/surveys/{id}/comments`.
pub async fn api_list(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<CommentQuery>,
) -> Result<HttpResponse, AppError> {
    let (_, _, c) = comments(
        &state.app,
        &user.actor(),
        path.into_inner(),
        &query.filter(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "answers": (!c.suppressed).then_some(c.answers),
        "suppressed": c.suppressed,
        "comments": c.comments,
        "keywords": c.keywords.iter().map(|(w, n)| json!({"word": w, "comments": n})).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/surveys/{id}/comments.csv`: the comments the filter selects (UTF-8 with BOM).
pub async fn csv(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<CommentQuery>,
) -> Result<HttpResponse, AppError> {
    let (survey, _, c) = comments(
        &state.app,
        &user.actor(),
        path.into_inner(),
        &query.filter(),
    )
    .await?;
    let mut rows = vec![vec![
        "群体".to_owned(),
        "乡镇（街道）".into(),
        "学校".into(),
        "评价最低的维度".into(),
        "意见和建议".into(),
    ]];
    rows.extend(c.comments.iter().map(|m| {
        vec![
            m.group.to_owned(),
            m.area.clone(),
            m.school.clone(),
            m.lowest_dimension.to_owned(),
            m.text.clone(),
        ]
    }));
    csv_file(&format!("comments-{}.csv", survey.id), rows)
}

/// The reader page: filters, the most frequent words, the comments.
pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    query: web::Query<CommentQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let actor = user.actor();
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("q", &*query);
    ctx.insert("groups", &super::sampling::group_options());
    let dimensions: Vec<_> = DIMENSIONS
        .iter()
        .map(|(code, label)| json!({"code": code, "label": label}))
        .collect();
    ctx.insert("dimensions", &dimensions);
    let query_string = serde_urlencoded::to_string(&*query).unwrap_or_default();
    ctx.insert("query_string", &query_string);
    let (status, result) = match comments(&state.app, &actor, id, &query.filter()).await {
        Ok(found) => (StatusCode::OK, found),
        Err(e) => {
            let e = form_error(e)?;
            ctx.insert("error", &e.to_string());
            let (survey, geo, c) =
                comments(&state.app, &actor, id, &CommentFilter::default()).await?;
            (actix_web::ResponseError::status_code(&e), (survey, geo, c))
        }
    };
    let (survey, geo, c) = result;
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("geo", &geo);
    ctx.insert("c", &c);
    render(&state, status, "admin/comments.html", &ctx)
}
