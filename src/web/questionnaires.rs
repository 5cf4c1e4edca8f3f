//! Questionnaires in use by a survey: reading them (API, page) and uploading new versions.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::{CsrfForm, CsrfToken};
use super::view::SurveyView;
use crate::app::{self, surveys};
use crate::domain::group::Booklet;
use crate::domain::questionnaire::{Questionnaire, dimension_label};
use crate::domain::survey::Survey;
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type State = web::Data<AppState>;

fn groups_of(b: Booklet) -> Vec<&'static str> {
    b.groups().map(|g| g.code()).collect()
}

/// What a client needs to answer: per booklet, its groups, items and scale.
pub fn booklet_json(booklet: Booklet, q: &Questionnaire) -> serde_json::Value {
    let d = &q.definition;
    json!({
        "booklet": booklet,
        "booklet_label": booklet.label(),
        "groups": groups_of(booklet),
        "group_names": booklet
            .groups()
            .map(|g| json!({"code": g.code(), "label": g.label()}))
            .collect::<Vec<_>>(),
        "questionnaire_id": q.id,
        "version": d.version,
        "title": d.title,
        "intro": d.intro,
        "built_in": q.county_id.is_none(),
        "items": d.items.iter().map(|i| json!({
            "id": i.id, "dimension": i.dimension, "dimension_label": dimension_label(&i.dimension), "text": i.text,
        })).collect::<Vec<_>>(),
        "scale": d.scale.options,
        "comment_prompt": d.comment_prompt,
        "languages": d.translations.keys().map(|tag| {
            let t = d.texts(Some(tag));
            json!({
                "tag": tag, "name": d.translations[tag].language, "dir": t.dir,
                "title": t.title, "intro": t.intro, "comment_prompt": t.comment_prompt,
                "items": t.items, "options": t.options,
            })
        }).collect::<Vec<_>>(),
    })
}

fn booklets_json(booklets: &[(Booklet, Arc<Questionnaire>)]) -> Vec<serde_json::Value> {
    booklets.iter().map(|(b, q)| booklet_json(*b, q)).collect()
}

pub async fn api_list(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (_, booklets) =
        app::questionnaires::in_use(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(booklets_json(&booklets)))
}

pub async fn api_upload(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::invalid("definition", "问卷定义须为 UTF-8 编码的 TOML"))?;
    let (booklet, id) = app::questionnaires::upload(&state.app, &user.actor(), id, text).await?;
    Ok(HttpResponse::Created().json(json!({"booklet": booklet, "questionnaire_id": id})))
}

/// The TOML definition in use for a booklet: a starting point for a new version.
pub async fn api_definition(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, file) = path.into_inner();
    let booklet = file
        .strip_suffix(".toml")
        .and_then(Booklet::parse)
        .ok_or(AppError::NotFound)?;
    let q = app::questionnaires::for_booklet(&state.app, &user.actor(), id, booklet).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/toml; charset=utf-8")
        .body(q.text.clone()))
}

async fn questionnaires_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    survey: &Survey,
    error: Option<&AppError>,
    notice: Option<String>,
    definition: &str,
) -> Result<HttpResponse, AppError> {
    let (_, booklets) = app::questionnaires::in_use(&state.app, &user.actor(), survey.id).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &SurveyView::new(survey));
    ctx.insert("booklets", &booklets_json(&booklets));
    ctx.insert("definition", definition);
    ctx.insert("notice", &notice);
    if let Some(e) = error {
        ctx.insert("error", &e.to_string());
    }
    let status = error.map_or(StatusCode::OK, actix_web::ResponseError::status_code);
    render(state, status, "admin/questionnaires.html", &ctx)
}

#[derive(Deserialize, validator::Validate)]
pub struct LanguagesInput {
    languages: Vec<String>,
}

/// `PUT /api/v1/surveys/{id}/languages` `{"languages": ["ug"]}`: the languages offered besides
/// Chinese.
pub async fn api_set_languages(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: super::input::ApiJson<LanguagesInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    // Who may is settled before the body is read.
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let survey = surveys::set_languages(&state.app, &user.actor(), id, &input.languages).await?;
    Ok(HttpResponse::Ok().json(json!({"languages": survey.languages})))
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct LanguagesForm {
    languages: String,
}

/// The page's form: tags separated by spaces or commas.
pub async fn page_set_languages(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<LanguagesForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let tags: Vec<String> = form
        .0
        .languages
        .split(|c: char| c.is_whitespace() || c == ',' || c == '，' || c == '、')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let result = surveys::set_languages(&state.app, &user.actor(), id, &tags).await;
    let survey = surveys::visible(&state.app, &user.actor(), id).await?;
    match result {
        Ok(s) => {
            let notice = if s.languages.is_empty() {
                "问卷只以中文提供".to_owned()
            } else {
                format!("问卷以中文和 {} 提供", s.languages.join("、"))
            };
            questionnaires_page(&state, &user, &csrf, &survey, None, Some(notice), "").await
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            questionnaires_page(&state, &user, &csrf, &survey, Some(&e), None, "").await
        }
        Err(e) => Err(e),
    }
}

pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::visible(&state.app, &user.actor(), path.into_inner()).await?;
    questionnaires_page(&state, &user, &csrf, &survey, None, None, "").await
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct UploadForm {
    definition: String,
}

pub async fn page_upload(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<UploadForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let text = form.0.definition;
    let result = app::questionnaires::upload(&state.app, &user.actor(), id, &text).await;
    let survey = surveys::visible(&state.app, &user.actor(), id).await?;
    match result {
        Ok((b, _)) => {
            let notice = format!("已启用新的{}", b.label());
            questionnaires_page(&state, &user, &csrf, &survey, None, Some(notice), "").await
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            questionnaires_page(&state, &user, &csrf, &survey, Some(&e), None, &text).await
        }
        Err(e) => Err(e),
    }
}
