//! Sampling: areas and schools, rosters, the plan per stratum, the draw and its verification,
//! invitations, reserves and open channels. Operations shared by the JSON API and the pages,
//! then the API handlers.
use super::AppState;
use super::api::{organized, survey_for};
use super::auth::CurrentUser;
use super::input::ApiJson;
use super::view::{PlanView, SurveyView};
use crate::domain::draw::{self, FrameEntry};
use crate::domain::frame::{self, School};
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::InvitationStatus;
use crate::domain::quota::SamplePlan;
use crate::domain::strata::{self, Area, AreaClass, Stratum, StratumQuota};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::draws::{NewDraw, Pick, PickKind, StoredDraw};
use crate::store::geography::Geography;
use crate::store::{self, invitations::ReleaseFilter};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use validator::Validate;

type State = web::Data<AppState>;

/// The id of the survey's area with this name; an error naming the field if there is none.
fn area_named(geo: &Geography, name: &str) -> Result<i32, AppError> {
    geo.areas
        .iter()
        .position(|a| a.name == name)
        .map(|i| geo.area_ids[i])
        .ok_or_else(|| AppError::invalid("area", format!("没有名为“{name}”的乡镇（街道）")))
}

fn parse_group(code: &str) -> Result<RespondentGroup, AppError> {
    code.parse()
        .map_err(|_| AppError::invalid("group", format!("没有“{code}”这个调查对象群体")))
}

/// Sampling settings change only while the survey is a draft.
fn require_draft(survey: &Survey) -> Result<(), AppError> {
    if survey.status != SurveyStatus::Draft {
        return Err(AppError::Conflict(
            "调查已开放或结束，抽样设置不能再修改".into(),
        ));
    }
    Ok(())
}

/// A survey the user may organise, in draft.
pub async fn draft_for(state: &AppState, user: &CurrentUser, id: i32) -> Result<Survey, AppError> {
    let survey = organized(state, user, id).await?;
    require_draft(&survey)?;
    Ok(survey)
}

fn foreign_key_conflict(e: sea_orm::DbErr, message: &str) -> AppError {
    if store::is_foreign_key_violation(&e) {
        AppError::Conflict(message.into())
    } else {
        e.into()
    }
}

// ---- areas and schools -------------------------------------------------------------------

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct AreaInput {
    #[validate(length(min = 1, max = 50, message = "乡镇（街道）名称须为 1–50 个字符"))]
    pub name: String,
    pub class: String,
    pub population: i64,
}

/// Replaces the areas of `survey`, a draft the caller may organise ([`draft_for`]).
pub async fn set_areas(
    state: &AppState,
    survey: &Survey,
    input: &[AreaInput],
) -> Result<Geography, AppError> {
    let areas = input
        .iter()
        .map(|a| {
            a.validate()?;
            Ok(Area::new(&a.name, a.class.parse()?, a.population)?)
        })
        .collect::<Result<Vec<Area>, AppError>>()?;
    strata::check_areas(&areas)?;
    async {
        let txn = store::begin_write(&state.db).await?;
        store::geography::replace_areas(&txn, survey.id, &areas).await?;
        txn.commit().await
    }
    .await
    .map_err(|e| {
        foreign_key_conflict(
            e,
            "要删除的乡镇（街道）下还有学校或名册，请先调整学校和名册",
        )
    })?;
    Ok(store::geography::load(&state.db, survey.id).await?)
}

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SchoolInput {
    #[validate(length(min = 1, max = 100, message = "学校名称须为 1–100 个字符"))]
    pub name: String,
    pub area: String,
}

/// Replaces the schools of `survey`, a draft the caller may organise ([`draft_for`]).
pub async fn set_schools(
    state: &AppState,
    survey: &Survey,
    input: &[SchoolInput],
) -> Result<Geography, AppError> {
    let geo = store::geography::load(&state.db, survey.id).await?;
    let mut schools = Vec::with_capacity(input.len());
    let mut rows = Vec::with_capacity(input.len());
    for s in input {
        s.validate()?;
        let area = geo
            .areas
            .iter()
            .position(|a| a.name == s.area.trim())
            .ok_or_else(|| {
                AppError::invalid(
                    "area",
                    format!("学校“{}”所在的乡镇（街道）“{}”不存在", s.name, s.area),
                )
            })?;
        let school = School::new(&s.name, area)?;
        rows.push((school.name.clone(), geo.area_ids[area]));
        schools.push(school);
    }
    frame::check_schools(&schools)?;
    async {
        let txn = store::begin_write(&state.db).await?;
        store::geography::replace_schools(&txn, survey.id, &rows).await?;
        txn.commit().await
    }
    .await
    .map_err(|e| foreign_key_conflict(e, "要删除的学校已在名册中，请先重新上传名册"))?;
    Ok(store::geography::load(&state.db, survey.id).await?)
}

#[derive(Serialize)]
pub struct GeographyView {
    pub areas: Vec<serde_json::Value>,
    pub schools: Vec<serde_json::Value>,
}

impl GeographyView {
    pub fn new(geo: &Geography) -> Self {
        GeographyView {
            areas: geo
                .areas
                .iter()
                .map(|a| json!({"name": a.name, "class": a.class, "class_label": a.class.label(), "population": a.population}))
                .collect(),
            schools: geo
                .schools
                .iter()
                .map(|s| json!({"name": s.name, "area": geo.areas[s.area].name}))
                .collect(),
        }
    }
}

// ---- rosters -------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Duplicate {
    pub line: u64,
    pub external_id: String,
    pub other_group: String,
    pub other_id: String,
}

#[derive(Debug, Serialize)]
pub struct UploadOutcome {
    pub group: RespondentGroup,
    pub rows: usize,
    /// People whose phone is also in another group's roster (they are drawn at most once).
    pub duplicates: Vec<Duplicate>,
}

/// Replaces a group's roster of `survey`, which the caller may organise ([`organized`]).
pub async fn upload_roster(
    state: &AppState,
    user: &CurrentUser,
    survey: &Survey,
    group: RespondentGroup,
    bytes: &[u8],
) -> Result<UploadOutcome, AppError> {
    require_draft(survey)?;
    if store::draws::current(&state.db, survey.id).await?.is_some() {
        return Err(AppError::Conflict("已经抽样，名册不能再替换".into()));
    }
    let geo = store::geography::load(&state.db, survey.id).await?;
    if geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let rejected = |e: frame::RosterErrors| AppError::Unprocessable {
        field: Some("file".into()),
        message: format!("{}名册有 {} 处错误，未导入任何数据", group.label(), e.total),
        details: json!({"errors": e.errors, "error_count": e.total}),
    };
    let text = frame::decode(bytes).map_err(rejected)?;
    let (areas, schools) = (geo.areas.clone(), geo.schools.clone());
    let rows = web::block(move || frame::parse_roster(group, &text, &areas, &schools))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(rejected)?;
    let others = store::frames::phones_outside(&state.db, survey.id, group).await?;
    let duplicates = rows
        .iter()
        .filter_map(|r| {
            let (g, other_id) = others.get(r.phone.as_deref()?)?;
            Some(Duplicate {
                line: r.line,
                external_id: r.external_id.clone(),
                other_group: g
                    .parse::<RespondentGroup>()
                    .map_or(g.clone(), |g| g.label().into()),
                other_id: other_id.clone(),
            })
        })
        .take(200)
        .collect();
    let txn = store::begin_write(&state.db).await?;
    store::frames::replace(&txn, survey.id, group, &rows, &geo).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, group = %group, rows = rows.len(), user = user.id, "roster uploaded");
    let detail = format!("{} rows", rows.len());
    super::audit(
        state,
        &user.username,
        "roster_upload",
        &format!("survey {} {}", survey.id, group),
        &detail,
    )
    .await;
    Ok(UploadOutcome {
        group,
        rows: rows.len(),
        duplicates,
    })
}

// ---- the plan per stratum ------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct StratumView {
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub area: String,
    pub area_class: &'static str,
    pub band: Option<String>,
    pub base: u64,
    pub quota: u64,
    pub frame: Option<u64>,
    pub capped: bool,
}

/// The plan with everything known so far: group caps from roster sizes, strata from areas.
pub struct FullPlan {
    pub plan: SamplePlan,
    pub geo: Geography,
    pub strata: Vec<StratumQuota>,
}

impl FullPlan {
    pub async fn load(db: &DatabaseConnection, survey: &Survey) -> Result<FullPlan, AppError> {
        let sizes = store::frames::group_sizes(db, survey.id).await?;
        let plan = SamplePlan::with_frames(&survey.settings.plan, &sizes);
        let geo = store::geography::load(db, survey.id).await?;
        let strata = if geo.areas.is_empty() {
            Vec::new()
        } else {
            let frames = store::frames::stratum_sizes(db, survey.id, &geo).await?;
            strata::stratify(&plan, &geo.areas, &frames)
        };
        Ok(FullPlan { plan, geo, strata })
    }

    pub fn strata_view(&self) -> Vec<StratumView> {
        self.strata
            .iter()
            .map(|s| {
                let area = &self.geo.areas[s.stratum.area];
                StratumView {
                    group: s.stratum.group,
                    group_label: s.stratum.group.label(),
                    area: area.name.clone(),
                    area_class: area.class.label(),
                    band: s.stratum.band_label(),
                    base: s.base,
                    quota: s.quota,
                    frame: s.frame,
                    capped: s.capped,
                }
            })
            .collect()
    }

    pub fn view(&self, survey: &Survey) -> serde_json::Value {
        let mut v = serde_json::to_value(PlanView::new(survey, &self.plan)).unwrap_or_default();
        v["strata"] = serde_json::to_value(self.strata_view()).unwrap_or_default();
        v
    }

    /// The quota of a cell: a group in one area (all its bands), or the whole group.
    pub fn cell_quota(&self, group: RespondentGroup, area_id: Option<i32>) -> u64 {
        match area_id.and_then(|id| self.geo.area_index(id)) {
            Some(area) => self
                .strata
                .iter()
                .filter(|s| s.stratum.group == group && s.stratum.area == area)
                .map(|s| s.quota)
                .sum(),
            None => self.plan.quota(group),
        }
    }
}

// ---- the draw ------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct RecordedQuota {
    group: RespondentGroup,
    area_id: i32,
    band: Option<usize>,
    quota: u64,
}

/// The draw's view of the rosters, with each entry's position in `people`.
fn entries(
    people: &[store::frames::StoredPerson],
    geo: &Geography,
) -> (Vec<FrameEntry>, Vec<usize>) {
    let mut entries = Vec::with_capacity(people.len());
    let mut positions = Vec::with_capacity(people.len());
    for (i, p) in people.iter().enumerate() {
        let (Ok(group), Some(area)) = (p.grp.parse::<RespondentGroup>(), geo.area_index(p.area_id))
        else {
            continue;
        };
        let grade = p.grade.map(|g| g as u8);
        entries.push(FrameEntry {
            stratum: Stratum {
                group,
                area,
                band: grade.and_then(|g| strata::band_of(group, g)),
            },
            external_id: p.external_id.clone(),
            area: geo.areas[area].name.clone(),
            school: p.school_id.map(|s| geo.school_name(Some(s)).to_owned()),
            grade,
            phone: p.phone.clone(),
        });
        positions.push(i);
    }
    (entries, positions)
}

pub async fn run_draw(
    state: &AppState,
    user: &CurrentUser,
    id: i32,
    seed: Option<u64>,
) -> Result<StoredDraw, AppError> {
    let survey = draft_for(state, user, id).await?;
    let stored = draw_sample(&state.db, &survey, Some(user.id), &user.username, seed).await?;
    let detail = format!(
        "draw {} seed {} frame {}",
        stored.id, stored.seed, stored.frame_digest
    );
    super::audit(
        state,
        &user.username,
        "draw",
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    tracing::info!(
        survey = survey.id,
        draw = stored.id,
        user = user.id,
        "sample drawn"
    );
    Ok(stored)
}

/// Draws a survey's sample from its rosters and records it (the caller checked who may).
pub async fn draw_sample(
    db: &DatabaseConnection,
    survey: &Survey,
    actor_id: Option<i32>,
    actor_name: &str,
    seed: Option<u64>,
) -> Result<StoredDraw, AppError> {
    let full = FullPlan::load(db, survey).await?;
    if full.geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let people = store::frames::all(db, survey.id).await?;
    if people.is_empty() {
        return Err(AppError::Conflict("还没有上传任何名册".into()));
    }
    let quotas: Vec<(Stratum, u64)> = full
        .strata
        .iter()
        .filter(|s| s.frame.is_some())
        .map(|s| (s.stratum, s.quota))
        .collect();
    let recorded: Vec<RecordedQuota> = quotas
        .iter()
        .map(|(s, q)| RecordedQuota {
            group: s.group,
            area_id: full.geo.area_ids[s.area],
            band: s.band,
            quota: *q,
        })
        .collect();
    let seed = seed.unwrap_or_else(|| rand::rng().random());
    let (frame_entries, index) = entries(&people, &full.geo);
    let outcome = web::block(move || {
        draw::draw(&frame_entries, &quotas, seed, draw::DEFAULT_RESERVE_PERCENT)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut picks = Vec::with_capacity(outcome.selected_count() + outcome.reserve_count());
    for s in &outcome.strata {
        for (kind, list) in [
            (PickKind::Selected, &s.selected),
            (PickKind::Reserve, &s.reserves),
        ] {
            for (rank, &i) in list.iter().enumerate() {
                let p = &people[index[i]];
                picks.push(Pick {
                    frame_person_id: p.id,
                    external_id: p.external_id.clone(),
                    group: s.stratum.group,
                    area_id: p.area_id,
                    school_id: p.school_id,
                    band: s.stratum.band,
                    grade: p.grade.map(|g| g as u8),
                    kind,
                    rank,
                });
            }
        }
    }
    let txn = store::begin_write(db).await?;
    let stored = store::draws::record(
        &txn,
        NewDraw {
            survey_id: survey.id,
            seed,
            frame_digest: outcome.frame_digest.clone(),
            algorithm: draw::ALGORITHM.into(),
            reserve_percent: draw::DEFAULT_RESERVE_PERCENT,
            quotas: serde_json::to_string(&recorded)
                .map_err(|e| AppError::Internal(e.to_string()))?,
            frame_size: people.len(),
            created_by: actor_id,
            created_by_name: actor_name.to_owned(),
            picks,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(stored)
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub identical: bool,
    pub frame_digest_matches: bool,
    pub recorded_digest: String,
    pub current_digest: String,
}

/// Re-runs a draw from the stored frame and compares it with what was recorded.
pub async fn verify_draw(
    state: &AppState,
    survey: &Survey,
    stored: &StoredDraw,
) -> Result<Verification, AppError> {
    if survey.purged_at.is_some() {
        return Err(AppError::Conflict("名册已清除，无法复核抽样".into()));
    }
    let geo = store::geography::load(&state.db, survey.id).await?;
    let people = store::frames::all(&state.db, survey.id).await?;
    let recorded: Vec<RecordedQuota> = serde_json::from_str(&stored.quotas)
        .map_err(|e| AppError::Internal(format!("draw {}: quotas: {e}", stored.id)))?;
    let quotas: Vec<(Stratum, u64)> = recorded
        .iter()
        .filter_map(|q| {
            Some((
                Stratum {
                    group: q.group,
                    area: geo.area_index(q.area_id)?,
                    band: q.band,
                },
                q.quota,
            ))
        })
        .collect();
    let (frame_entries, _) = entries(&people, &geo);
    let (seed, percent) = (stored.seed, stored.reserve_percent);
    let (frame_entries, outcome) = web::block(move || {
        let outcome = draw::draw(&frame_entries, &quotas, seed, percent);
        (frame_entries, outcome)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let key = |group: &str, area_id: i32, band: Option<i16>, kind: &str, rank: i32, ext: &str| {
        format!("{group}|{area_id}|{band:?}|{kind}|{rank}|{ext}")
    };
    let mut rerun = HashSet::new();
    for s in &outcome.strata {
        for (kind, list) in [
            (PickKind::Selected, &s.selected),
            (PickKind::Reserve, &s.reserves),
        ] {
            for (rank, &i) in list.iter().enumerate() {
                let e = &frame_entries[i];
                rerun.insert(key(
                    s.stratum.group.code(),
                    geo.area_ids[s.stratum.area],
                    s.stratum.band.map(|b| b as i16),
                    kind.code(),
                    rank as i32,
                    &e.external_id,
                ));
            }
        }
    }
    let recorded_picks: HashSet<String> = store::draws::picks(&state.db, stored.id)
        .await?
        .iter()
        .map(|p| key(&p.grp, p.area_id, p.band, &p.kind, p.rank, &p.external_id))
        .collect();
    let digest_ok = outcome.frame_digest == stored.frame_digest;
    Ok(Verification {
        identical: digest_ok && rerun == recorded_picks,
        frame_digest_matches: digest_ok,
        recorded_digest: stored.frame_digest.clone(),
        current_digest: outcome.frame_digest,
    })
}

#[derive(Debug, Serialize)]
pub struct DrawView {
    pub id: i32,
    pub seed: u64,
    pub seed_text: String,
    pub frame_digest: String,
    pub algorithm: String,
    pub reserve_percent: u64,
    pub frame_size: u64,
    pub selected: u64,
    pub reserves: u64,
    pub superseded: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&StoredDraw> for DrawView {
    fn from(d: &StoredDraw) -> Self {
        DrawView {
            id: d.id,
            seed: d.seed,
            seed_text: d.seed.to_string(),
            frame_digest: d.frame_digest.clone(),
            algorithm: d.algorithm.clone(),
            reserve_percent: d.reserve_percent,
            frame_size: d.frame_size,
            selected: d.selected,
            reserves: d.reserves,
            superseded: d.superseded,
            created_at: d.created_at,
            created_by: d.created_by_name.clone(),
        }
    }
}

/// What a draw certificate shows per stratum: quota, drawn, reserves.
pub async fn certificate_rows(
    state: &AppState,
    survey_id: i32,
    stored: &StoredDraw,
) -> Result<Vec<serde_json::Value>, AppError> {
    let geo = store::geography::load(&state.db, survey_id).await?;
    let recorded: Vec<RecordedQuota> = serde_json::from_str(&stored.quotas).unwrap_or_default();
    let mut counts: HashMap<(String, i32, Option<i16>), (u64, u64)> = HashMap::new();
    for p in store::draws::picks(&state.db, stored.id).await? {
        let c = counts
            .entry((p.grp.clone(), p.area_id, p.band))
            .or_default();
        if p.kind == PickKind::Selected.code() {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    Ok(recorded
        .iter()
        .map(|q| {
            let band = q.band.map(|b| b as i16);
            let (drawn, reserves) = counts
                .get(&(q.group.code().to_owned(), q.area_id, band))
                .copied()
                .unwrap_or_default();
            json!({
                "group": q.group,
                "group_label": q.group.label(),
                "area": geo.area_name(q.area_id),
                "band": q.band.map(|b| strata::bands(q.group)[b].label()),
                "quota": q.quota,
                "drawn": drawn,
                "reserves": reserves,
            })
        })
        .collect())
}

// ---- invitations and channels ----------------------------------------------------------------

/// Neutralises text that a spreadsheet would run as a formula.
pub fn spreadsheet_safe(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

pub fn invitation_path(state: &AppState, id: i32) -> String {
    format!("/s/{}", state.token_key.token(i64::from(id)))
}

pub fn channel_path(code: &str) -> String {
    format!("/o/{code}")
}

/// The invitations CSV: one row per working invitation, UTF-8 with BOM for Excel.
pub async fn invitations_csv(
    state: &AppState,
    req: &HttpRequest,
    survey_id: i32,
) -> Result<Vec<u8>, AppError> {
    let geo = store::geography::load(&state.db, survey_id).await?;
    let rows = store::invitations::list_live(&state.db, survey_id).await?;
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let header = [
            "group", "area", "school", "grade", "name", "phone", "status", "url",
        ];
        let err = |e: csv::Error| AppError::Internal(e.to_string());
        w.write_record(header).map_err(err)?;
        for r in rows {
            let group = r
                .grp
                .parse::<RespondentGroup>()
                .map_or(r.grp.clone(), |g| g.label().into());
            let url = state.public_link(req, &invitation_path(state, r.id));
            w.write_record([
                group,
                spreadsheet_safe(geo.area_name(r.area_id)),
                spreadsheet_safe(geo.school_name(r.school_id)),
                r.grade.map_or(String::new(), |g| g.to_string()),
                spreadsheet_safe(r.name.as_deref().unwrap_or("")),
                spreadsheet_safe(r.phone.as_deref().unwrap_or("")),
                r.status,
                url,
            ])
            .map_err(err)?;
        }
        w.flush().map_err(|e| AppError::Internal(e.to_string()))?;
    }
    Ok(out)
}

#[derive(Default, Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct ChannelInput {
    #[validate(length(min = 1, max = 16))]
    pub group: String,
    #[validate(length(max = 50))]
    pub area: Option<String>,
    #[validate(length(max = 100))]
    pub school: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ChannelView {
    pub code: String,
    pub url: String,
    pub group: String,
    pub group_label: String,
    pub area: Option<String>,
    pub school: Option<String>,
    pub quota: u64,
    pub filled: u64,
}

/// The quota cell a channel counts in: its area (a school's area), or 0 for the whole county.
pub fn channel_cell(geo: &Geography, ch: &store::channels::ChannelRow) -> i32 {
    ch.area_id
        .or_else(|| {
            ch.school_id
                .and_then(|s| geo.school_index(s))
                .map(|i| geo.area_ids[geo.schools[i].area])
        })
        .unwrap_or(0)
}

pub async fn channel_views(
    state: &AppState,
    req: &HttpRequest,
    survey: &Survey,
) -> Result<Vec<ChannelView>, AppError> {
    let full = FullPlan::load(&state.db, survey).await?;
    let mut out = Vec::new();
    for ch in store::channels::list(&state.db, survey.id).await? {
        let group: RespondentGroup = parse_group(&ch.grp)?;
        let cell = channel_cell(&full.geo, &ch);
        out.push(ChannelView {
            url: state.public_link(req, &channel_path(&ch.code)),
            group_label: group.label().into(),
            area: ch.area_id.map(|a| full.geo.area_name(a).to_owned()),
            school: ch
                .school_id
                .map(|s| full.geo.school_name(Some(s)).to_owned()),
            quota: full.cell_quota(group, (cell != 0).then_some(cell)),
            filled: store::channels::filled(&state.db, survey.id, &ch.grp, cell).await?,
            code: ch.code,
            group: ch.grp,
        });
    }
    Ok(out)
}

/// Creates an open channel of `survey`, which the caller may organise ([`organized`]).
pub async fn create_channel(
    state: &AppState,
    user: &CurrentUser,
    survey: &Survey,
    input: &ChannelInput,
) -> Result<store::channels::ChannelRow, AppError> {
    input.validate()?;
    if survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict("调查已结束".into()));
    }
    let group = parse_group(input.group.trim())?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let area_id = match present(&input.area) {
        None => None,
        Some(name) => Some(area_named(&geo, &name)?),
    };
    let school_id = match present(&input.school) {
        None => None,
        Some(name) => {
            let i = geo
                .schools
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| AppError::invalid("school", format!("没有名为“{name}”的学校")))?;
            if let Some(a) = area_id
                && geo.area_ids[geo.schools[i].area] != a
            {
                return Err(AppError::invalid("school", "该学校不在所选乡镇（街道）"));
            }
            Some(geo.school_ids[i])
        }
    };
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let ch = store::channels::create(
        &state.db,
        survey.id,
        &code,
        group.code(),
        area_id,
        school_id,
    )
    .await?;
    tracing::info!(
        survey = survey.id,
        channel = ch.id,
        user = user.id,
        "open channel created"
    );
    Ok(ch)
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    #[validate(length(min = 1, max = 16))]
    pub group: String,
    pub area: Option<String>,
    /// Index of the grade band (0, 1, 2) for students and parents.
    pub band: Option<u8>,
    /// Replace only invitations issued at or before this time (default: now).
    pub issued_before: Option<DateTime<Utc>>,
}

/// Releases reserves of `survey`, which the caller may organise ([`organized`]).
pub async fn release_reserves(
    state: &AppState,
    user: &CurrentUser,
    survey: &Survey,
    input: &ReleaseInput,
) -> Result<store::invitations::ReleaseOutcome, AppError> {
    input.validate()?;
    if survey.status != SurveyStatus::Open {
        return Err(AppError::Conflict(
            "只有进行中的调查可以启用备选名单".into(),
        ));
    }
    let group = parse_group(input.group.trim())?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    let area_id = match input
        .area
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => None,
        Some(name) => Some(area_named(&geo, name)?),
    };
    if let Some(b) = input.band
        && usize::from(b) >= strata::bands(group).len()
    {
        return Err(AppError::invalid("band", "该群体没有这个年级段"));
    }
    let draw = store::draws::current(&state.db, survey.id)
        .await?
        .ok_or_else(|| AppError::Conflict("还没有抽样".into()))?;
    let filter = ReleaseFilter {
        group: group.code().to_owned(),
        area_id,
        band: input.band.map(i16::from),
        issued_before: input.issued_before.unwrap_or_else(Utc::now),
    };
    let txn = store::begin_write(&state.db).await?;
    let outcome = store::invitations::release_reserves(&txn, survey.id, draw.id, &filter).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, user = user.id, group = %group, replaced = outcome.replaced,
        without_reserve = outcome.without_reserve, "reserves released");
    let detail = format!("{group}: {} replaced", outcome.replaced);
    super::audit(
        state,
        &user.username,
        "release_reserves",
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(outcome)
}

/// Deletes a closed survey's rosters and contact data, in one transaction.
pub async fn purge(state: &AppState, user: &CurrentUser, id: i32) -> Result<u64, AppError> {
    let survey = organized(state, user, id).await?;
    if survey.status != SurveyStatus::Closed {
        return Err(AppError::Conflict(
            "只有已结束的调查可以清除个人信息".into(),
        ));
    }
    let txn = store::begin_write(&state.db).await?;
    let removed = store::frames::purge(&txn, survey.id).await?;
    store::surveys::mark_purged(&txn, survey.id).await?;
    txn.commit().await?;
    tracing::info!(
        survey = survey.id,
        user = user.id,
        removed,
        "personal data purged"
    );
    let detail = format!("{removed} roster rows");
    super::audit(
        state,
        &user.username,
        "purge",
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(removed)
}

// ---- JSON API ------------------------------------------------------------------------------

pub async fn api_get_areas(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).areas))
}

/// Lets a JSON list be validated item by item (each item is checked where it is used).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T> Validate for List<T> {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

pub async fn api_put_areas(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<List<AreaInput>>,
) -> Result<HttpResponse, AppError> {
    let survey = draft_for(&state, &user, path.into_inner()).await?;
    let geo = set_areas(&state, &survey, &input.parse()?.0).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).areas))
}

pub async fn api_get_schools(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).schools))
}

pub async fn api_put_schools(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<List<SchoolInput>>,
) -> Result<HttpResponse, AppError> {
    let survey = draft_for(&state, &user, path.into_inner()).await?;
    let geo = set_schools(&state, &survey, &input.parse()?.0).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).schools))
}

pub async fn api_upload_frame(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let survey = organized(&state, &user, id).await?;
    let is_csv = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "csv" || m.essence_str() == "application/vnd.ms-excel");
    if !is_csv {
        return Err(AppError::invalid("file", "名册须以 text/csv 上传"));
    }
    let group = parse_group(&group)?;
    let outcome = upload_roster(&state, &user, &survey, group, &body).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

pub async fn api_get_frame(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let group = parse_group(&group)?;
    let survey = organized(&state, &user, id).await?;
    let sizes = store::frames::group_sizes(&state.db, survey.id).await?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    let sample: Vec<_> = store::frames::sample(&state.db, survey.id, group, 5)
        .await?
        .into_iter()
        .map(|p| person_json(&p, &geo))
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({"group": group, "rows": sizes[group.index()].unwrap_or(0), "sample": sample})))
}

/// A roster row for organisers' eyes: the phone is masked.
pub fn person_json(p: &store::frames::StoredPerson, geo: &Geography) -> serde_json::Value {
    let phone = p.phone.as_deref().map(|ph| {
        let n = ph.chars().count();
        ph.chars()
            .enumerate()
            .map(|(i, c)| if i >= 3 && i + 4 < n { '*' } else { c })
            .collect::<String>()
    });
    json!({
        "line": p.line,
        "id": p.external_id,
        "area": geo.area_name(p.area_id),
        "school": geo.school_name(p.school_id),
        "grade": p.grade,
        "name": p.name,
        "phone": phone,
    })
}

pub async fn api_plan(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let full = FullPlan::load(&state.db, &survey).await?;
    Ok(HttpResponse::Ok().json(full.view(&survey)))
}

/// `{"seed": 123}` or `{"seed": "123"}` (a u64 exceeds what some JSON clients hold exactly).
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct DrawInput {
    pub seed: Option<SeedValue>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SeedValue {
    Number(u64),
    Text(String),
}

pub fn parse_seed(text: &str) -> Result<Option<u64>, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| AppError::invalid("seed", "种子须为 0 到 18446744073709551615 之间的整数"))
}

fn draw_json(d: &StoredDraw) -> serde_json::Value {
    json!({
        "id": d.id,
        "seed": d.seed,
        "frame_digest": d.frame_digest,
        "algorithm": d.algorithm,
        "selected": d.selected,
        "reserves": d.reserves,
        "frame_size": d.frame_size,
        "superseded": d.superseded,
        "created_at": d.created_at,
        "created_by": d.created_by_name,
    })
}

/// `POST …/draws` with no body draws with a random seed; `{"seed": …}` with the one given.
pub async fn api_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let seed = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let input: DrawInput = serde_json::from_slice(&body).map_err(|e| {
            let message = e.to_string();
            AppError::Invalid {
                field: super::input::serde_field(".", &message).or(Some("seed".into())),
                message: format!("JSON 无效：{message}"),
            }
        })?;
        match input.seed {
            None => None,
            Some(SeedValue::Number(n)) => Some(n),
            Some(SeedValue::Text(t)) => parse_seed(&t)?,
        }
    };
    let stored = run_draw(&state, &user, path.into_inner(), seed).await?;
    Ok(HttpResponse::Created().json(draw_json(&stored)))
}

pub async fn api_get_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let survey = survey_for(&state, &user, id).await?;
    let stored = store::draws::find(&state.db, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut body = draw_json(&stored);
    body["strata"] = serde_json::Value::Array(certificate_rows(&state, survey.id, &stored).await?);
    Ok(HttpResponse::Ok().json(body))
}

pub async fn api_verify_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let survey = survey_for(&state, &user, id).await?;
    let stored = store::draws::find(&state.db, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(verify_draw(&state, &survey, &stored).await?))
}

pub async fn api_invitations_csv(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    let body = invitations_csv(&state, &req, survey.id).await?;
    tracing::info!(survey = survey.id, user = user.id, "invitations exported");
    super::audit(
        &state,
        &user.username,
        "export_invitations",
        &format!("survey {}", survey.id),
        "",
    )
    .await;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"invitations-{}.csv\"", survey.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub async fn api_invitation_qr(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation_id, format) = path.into_inner();
    let survey = organized(&state, &user, id).await?;
    let inv = store::invitations::find(&state.db, i64::from(invitation_id))
        .await?
        .filter(|i| i.survey_id == survey.id && i.status != InvitationStatus::Revoked.code())
        .ok_or(AppError::NotFound)?;
    let url = state.public_link(&req, &invitation_path(&state, inv.id));
    match format.as_str() {
        "qr.svg" => super::qr::svg_response(&url),
        "qr.png" => super::qr::png_response(&url, &format!("invitation-{}.png", inv.id)),
        _ => Err(AppError::NotFound),
    }
}

pub async fn api_release(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<ReleaseInput>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    let outcome = release_reserves(&state, &user, &survey, &input.parse()?).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

pub async fn api_create_channel(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
    input: ApiJson<ChannelInput>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    let ch = create_channel(&state, &user, &survey, &input.parse()?).await?;
    let url = state.public_link(&req, &channel_path(&ch.code));
    Ok(HttpResponse::Created().json(json!({"code": ch.code, "url": url})))
}

pub async fn api_list_channels(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(channel_views(&state, &req, &survey).await?))
}

pub async fn api_channel_qr(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, code, format) = path.into_inner();
    let survey = survey_for(&state, &user, id).await?;
    let ch = store::channels::find_by_code(&state.db, &code)
        .await?
        .filter(|c| c.survey_id == survey.id)
        .ok_or(AppError::NotFound)?;
    let url = state.public_link(&req, &channel_path(&ch.code));
    match format.as_str() {
        "qr.svg" => super::qr::svg_response(&url),
        "qr.png" => super::qr::png_response(&url, &format!("channel-{}.png", ch.id)),
        _ => Err(AppError::NotFound),
    }
}

pub async fn api_purge(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let removed = purge(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"purged_rows": removed})))
}

/// The survey with its full plan (frames and strata included), for the survey page and API.
pub async fn survey_view(
    state: &AppState,
    survey: &Survey,
) -> Result<(SurveyView, FullPlan), AppError> {
    let full = FullPlan::load(&state.db, survey).await?;
    Ok((SurveyView::with_plan(survey, &full.plan), full))
}

pub fn area_class_options() -> Vec<serde_json::Value> {
    AreaClass::ALL
        .iter()
        .map(|c| json!({"code": c.code(), "label": c.label()}))
        .collect()
}
