//! Questionnaires in use by a survey: reading them (API, page) and uploading new versions.
use super::AppState;
use super::admin::{page, render};
use super::api::{organized, survey_for};
use super::auth::CurrentUser;
use super::csrf::{CsrfForm, CsrfToken};
use crate::domain::group::{Booklet, RespondentGroup};
use crate::domain::questionnaire::{Definition, dimension_label};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, questionnaires::StoredQuestionnaire};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

type State = web::Data<AppState>;

/// Parsed questionnaire versions by id. A stored version never changes, so every server may
/// keep its own copy.
#[derive(Default)]
pub struct QuestionnaireCache(RwLock<HashMap<i32, Arc<StoredQuestionnaire>>>);

impl QuestionnaireCache {
    pub async fn get(
        &self,
        db: &sea_orm::DatabaseConnection,
        id: i32,
    ) -> Result<Arc<StoredQuestionnaire>, AppError> {
        if let Some(q) = self.0.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(q);
        }
        let q = Arc::new(
            store::questionnaires::find(db, id)
                .await?
                .ok_or_else(|| AppError::Internal(format!("questionnaire {id} missing")))?,
        );
        if let Ok(mut m) = self.0.write() {
            m.insert(id, q.clone());
        }
        Ok(q)
    }
}

/// The questionnaire a survey uses for a booklet.
pub async fn for_booklet(
    state: &AppState,
    survey_id: i32,
    booklet: Booklet,
) -> Result<Arc<StoredQuestionnaire>, AppError> {
    let id = store::questionnaires::in_use(&state.db, survey_id)
        .await?
        .into_iter()
        .find(|(b, _)| *b == booklet)
        .map(|(_, id)| id)
        .ok_or_else(|| AppError::Internal("booklet not in use".into()))?;
    state.questionnaires.get(&state.db, id).await
}

fn groups_of(b: Booklet) -> Vec<&'static str> {
    RespondentGroup::ALL
        .iter()
        .filter(|g| g.booklet() == b)
        .map(|g| g.code())
        .collect()
}

/// What a client needs to answer: per booklet, its groups, items and scale.
pub fn booklet_json(booklet: Booklet, q: &StoredQuestionnaire) -> serde_json::Value {
    let d = &q.definition;
    json!({
        "booklet": booklet,
        "booklet_label": booklet.label(),
        "groups": groups_of(booklet),
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
    })
}

async fn booklets_json(
    state: &AppState,
    survey: &Survey,
) -> Result<Vec<serde_json::Value>, AppError> {
    let mut out = Vec::new();
    for (b, id) in store::questionnaires::in_use(&state.db, survey.id).await? {
        out.push(booklet_json(
            b,
            &*state.questionnaires.get(&state.db, id).await?,
        ));
    }
    Ok(out)
}

/// Stores an uploaded version for the survey's county and makes the survey use it.
pub async fn upload(
    state: &AppState,
    user: &CurrentUser,
    id: i32,
    text: &str,
) -> Result<(Booklet, i32), AppError> {
    let survey = organized(state, user, id).await?;
    if survey.status != SurveyStatus::Draft {
        return Err(AppError::Conflict("调查开放后问卷已锁定，不能更换".into()));
    }
    let def = Definition::parse(text).map_err(|e| AppError::invalid("definition", e.message))?;
    if store::questionnaires::version_exists(&state.db, survey.county_id, &def).await? {
        return Err(AppError::Conflict(format!(
            "{} 的版本“{}”已存在，请换一个版本号",
            def.booklet.label(),
            def.version
        )));
    }
    let qid = store::questionnaires::create(
        &state.db,
        Some(survey.county_id),
        &def,
        text,
        &user.username,
    )
    .await?;
    store::questionnaires::select(&state.db, survey.id, def.booklet, qid).await?;
    tracing::info!(
        survey = survey.id,
        questionnaire = qid,
        user = user.id,
        "questionnaire uploaded"
    );
    Ok((def.booklet, qid))
}

pub async fn api_list(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(booklets_json(&state, &survey).await?))
}

pub async fn api_upload(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::invalid("definition", "问卷定义须为 UTF-8 编码的 TOML"))?;
    let (booklet, id) = upload(&state, &user, path.into_inner(), text).await?;
    Ok(HttpResponse::Created().json(json!({"booklet": booklet, "questionnaire_id": id})))
}

/// The TOML definition in use for a booklet: a starting point for a new version.
pub async fn api_definition(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, file) = path.into_inner();
    let survey = survey_for(&state, &user, id).await?;
    let booklet = file
        .strip_suffix(".toml")
        .and_then(store::questionnaires::parse_booklet)
        .ok_or(AppError::NotFound)?;
    let q = for_booklet(&state, survey.id, booklet).await?;
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
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &super::view::SurveyView::new(survey));
    ctx.insert("booklets", &booklets_json(state, survey).await?);
    ctx.insert("definition", definition);
    ctx.insert("notice", &notice);
    if let Some(e) = error {
        ctx.insert("error", &e.to_string());
    }
    let status = error.map_or(StatusCode::OK, actix_web::ResponseError::status_code);
    render(state, status, "admin/questionnaires.html", &ctx)
}

pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
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
    let result = upload(&state, &user, id, &text).await;
    let survey = survey_for(&state, &user, id).await?;
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
