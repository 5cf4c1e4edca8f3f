//! The live tally: the headline rate, its interval and status, and every breakdown, computed
//! from the maintained aggregates (never from the responses) — the same for every server.
use super::AppState;
use super::api::survey_for;
use super::auth::CurrentUser;
use super::sampling::FullPlan;
use crate::domain::group::{Booklet, RespondentGroup};
use crate::domain::questionnaire::{DIMENSIONS, dimension_label};
use crate::domain::strata;
use crate::domain::survey::Survey;
use crate::domain::tally::{self, Aggregates, Estimate, SCOPE_ALL, Status, Sums};
use crate::error::AppError;
use crate::store;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

type State = web::Data<AppState>;

/// A row of a breakdown table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub estimate: Estimate,
    pub status_label: &'static str,
}

fn row(key: impl Into<String>, label: impl Into<String>, s: &Sums, target: f64) -> Row {
    let estimate = Estimate::of_cell(s, target);
    Row {
        key: key.into(),
        label: label.into(),
        status_label: estimate.status.label(),
        estimate,
    }
}

/// An item's line: its text, answer counts per option and its rate.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub text: String,
    pub booklet: &'static str,
    pub dimension: String,
    pub dimension_label: &'static str,
    pub options: BTreeMap<String, i64>,
    #[serde(flatten)]
    pub estimate: Estimate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub key: String,
    pub label: String,
    pub planned: u64,
    pub responded: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationRow {
    pub group: String,
    pub area: String,
    pub band: Option<String>,
    pub invited: i64,
    pub answered: i64,
    pub reserves_released: i64,
    pub response_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourPoint {
    pub hour: chrono::DateTime<Utc>,
    pub respondents: i64,
    pub rate: Option<f64>,
}

/// Everything the dashboard, the JSON API and the report show.
#[derive(Debug, Clone, Serialize)]
pub struct TallyView {
    pub respondents: i64,
    pub planned: u64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub target: f64,
    pub status: Status,
    pub status_label: &'static str,
    pub estimator: &'static str,
    pub estimator_label: &'static str,
    pub exclude_flagged: bool,
    pub pooled: Option<f64>,
    pub pooled_interval: Option<(f64, f64)>,
    pub respondent_mean: Option<f64>,
    pub group_weighted: Option<f64>,
    pub by_group: BTreeMap<String, Row>,
    pub by_item: BTreeMap<String, ItemRow>,
    pub quota_progress: BTreeMap<String, Progress>,
    pub groups: Vec<Row>,
    pub booklets: Vec<Row>,
    pub dimensions: Vec<Row>,
    pub items: Vec<ItemRow>,
    pub weakest_items: Vec<ItemRow>,
    pub areas: Vec<Row>,
    pub area_classes: Vec<Row>,
    pub schools: Vec<Row>,
    pub bands: Vec<Row>,
    pub group_progress: Vec<Progress>,
    pub area_progress: Vec<Progress>,
    pub invitations: Vec<InvitationRow>,
    pub over_time: Vec<HourPoint>,
    pub data_quality: Value,
    pub closes_at: Option<chrono::DateTime<Utc>>,
    pub seconds_left: Option<i64>,
}

/// The headline numbers the live dashboard pushes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub respondents: i64,
    pub planned: u64,
    pub rate: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub status: Status,
    pub status_label: &'static str,
}

impl TallyView {
    pub fn summary(&self) -> Summary {
        Summary {
            respondents: self.respondents,
            planned: self.planned,
            rate: self.rate,
            interval: self.interval,
            status: self.status,
            status_label: self.status_label,
        }
    }
}

fn sum_where<'a>(
    agg: &'a Aggregates,
    scope: &'a str,
    exclude_flagged: bool,
) -> impl Iterator<Item = (&'a tally::CellKey, &'a tally::CellSums)> + 'a {
    agg.cells
        .iter()
        .filter(move |(k, _)| k.scope == scope && !(exclude_flagged && k.flagged))
}

fn group_by<F: Fn(&tally::CellKey) -> Option<String>>(
    agg: &Aggregates,
    scope: &str,
    exclude_flagged: bool,
    key: F,
) -> HashMap<String, Sums> {
    let mut out: HashMap<String, Sums> = HashMap::new();
    for (k, v) in sum_where(agg, scope, exclude_flagged) {
        if let Some(key) = key(k) {
            out.entry(key).or_default().add(&v.sums);
        }
    }
    out
}

/// Computes the tally view of a survey.
pub async fn view(
    state: &AppState,
    survey: &Survey,
    exclude_flagged: bool,
) -> Result<TallyView, AppError> {
    let agg = store::tally::load(&state.db, survey.id).await?;
    let full = FullPlan::load(&state.db, survey).await?;
    let target = survey.settings.target.fraction().as_f64();
    let geo = &full.geo;

    let mut all = Sums::default();
    let (mut fast, mut straight, mut flagged, mut total) = (0, 0, 0, 0);
    for (k, v) in agg.cells.iter().filter(|(k, _)| k.scope == SCOPE_ALL) {
        total += v.sums.n;
        fast += v.too_fast;
        straight += v.straight_lined;
        if k.flagged {
            flagged += v.sums.n;
        }
        if !(exclude_flagged && k.flagged) {
            all.add(&v.sums);
        }
    }

    let by_group_sums = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| Some(k.group.clone()));
    let planned_total = full.plan.total;
    let mut groups = Vec::new();
    let mut weighted = Vec::new();
    let mut quota_progress = BTreeMap::new();
    let mut group_progress = Vec::new();
    for g in RespondentGroup::ALL {
        let s = by_group_sums.get(g.code()).copied().unwrap_or_default();
        groups.push(row(g.code(), g.label(), &s, target));
        let planned = full.plan.quota(g);
        weighted.push((planned as f64 / planned_total.max(1) as f64, s));
        let p = Progress {
            key: g.code().into(),
            label: g.label().into(),
            planned,
            responded: s.n,
        };
        quota_progress.insert(g.code().to_owned(), p.clone());
        group_progress.push(p);
    }
    let headline = tally::headline(survey.settings.estimator, &all, &weighted, target);

    let booklet_of = |code: &str| code.parse::<RespondentGroup>().ok().map(|g| g.booklet());
    let by_booklet = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| {
        booklet_of(&k.group).map(|b| b.label().to_owned())
    });
    let booklets = [Booklet::Social, Booklet::Staff, Booklet::Student]
        .iter()
        .map(|b| {
            row(
                b.label(),
                b.label(),
                &by_booklet.get(b.label()).copied().unwrap_or_default(),
                target,
            )
        })
        .collect();

    let dimensions = DIMENSIONS
        .iter()
        .map(|(code, label)| {
            let mut s = Sums::default();
            for (_, v) in sum_where(&agg, code, exclude_flagged) {
                s.add(&v.sums);
            }
            row(*code, *label, &s, target)
        })
        .collect();

    // Areas, classes, schools, bands.
    let by_area = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| {
        Some(k.area_id.to_string())
    });
    let mut areas: Vec<Row> = geo
        .area_ids
        .iter()
        .zip(&geo.areas)
        .map(|(id, a)| {
            row(
                a.name.clone(),
                format!("{}（{}）", a.name, a.class.label()),
                &by_area.get(&id.to_string()).copied().unwrap_or_default(),
                target,
            )
        })
        .collect();
    if let Some(s) = by_area.get("0") {
        areas.push(row("", "全县（开放二维码，未分乡镇）", s, target));
    }
    let class_of = |area_id: i32| geo.area_index(area_id).map(|i| geo.areas[i].class);
    let by_class = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| {
        class_of(k.area_id).map(|c| c.code().to_owned())
    });
    let area_classes = strata::AreaClass::ALL
        .iter()
        .map(|c| {
            row(
                c.code(),
                c.label(),
                &by_class.get(c.code()).copied().unwrap_or_default(),
                target,
            )
        })
        .collect();
    let by_school = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| {
        (k.school_id != 0).then(|| k.school_id.to_string())
    });
    let schools = geo
        .school_ids
        .iter()
        .zip(&geo.schools)
        .filter_map(|(id, s)| {
            by_school
                .get(&id.to_string())
                .map(|sums| row(s.name.clone(), s.name.clone(), sums, target))
        })
        .collect();
    let by_band = group_by(&agg, SCOPE_ALL, exclude_flagged, |k| {
        let g: RespondentGroup = k.group.parse().ok()?;
        let b = strata::bands(g).get(usize::try_from(k.band).ok()?)?;
        Some(format!("{}·{}", g.label(), b.label()))
    });
    let mut band_keys: Vec<(usize, usize, String)> = Vec::new();
    for g in [RespondentGroup::Student, RespondentGroup::Parent] {
        for (i, b) in strata::bands(g).iter().enumerate() {
            band_keys.push((g.index(), i, format!("{}·{}", g.label(), b.label())));
        }
    }
    let bands = band_keys
        .iter()
        .map(|(_, _, k)| {
            row(
                k.clone(),
                k.clone(),
                &by_band.get(k).copied().unwrap_or_default(),
                target,
            )
        })
        .collect();

    // Items: counts per option, rate from the scale of the questionnaire in use.
    let mut items = Vec::new();
    for (booklet, qid) in store::questionnaires::in_use(&state.db, survey.id).await? {
        let q = state.questionnaires.get(&state.db, qid).await?;
        for item in &q.definition.items {
            let mut options: BTreeMap<String, i64> = BTreeMap::new();
            let (mut answers, mut counted, mut recognized) = (0, 0, 0);
            for (k, n) in agg
                .items
                .iter()
                .filter(|(k, _)| k.item_id == item.id && !(exclude_flagged && k.flagged))
            {
                if booklet_of(&k.group) != Some(booklet) {
                    continue;
                }
                *options.entry(k.option.clone()).or_default() += n;
                answers += n;
                if let Some(o) = q.definition.option(&k.option) {
                    counted += if o.counted { *n } else { 0 };
                    recognized += if o.recognized { *n } else { 0 };
                }
            }
            items.push(ItemRow {
                id: item.id.clone(),
                text: item.text.clone(),
                booklet: booklet.label(),
                dimension: item.dimension.clone(),
                dimension_label: dimension_label(&item.dimension),
                options,
                estimate: Estimate::of_cell(
                    &tally::item_sums(answers, counted, recognized),
                    target,
                ),
            });
        }
    }
    let mut weakest: Vec<ItemRow> = items
        .iter()
        .filter(|i| i.estimate.rate.is_some())
        .cloned()
        .collect();
    weakest.sort_by(|a, b| {
        a.estimate
            .rate
            .partial_cmp(&b.estimate.rate)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    weakest.truncate(10);

    // Progress per area against the strata's quotas.
    let area_progress = geo
        .area_ids
        .iter()
        .zip(&geo.areas)
        .enumerate()
        .map(|(i, (id, a))| Progress {
            key: a.name.clone(),
            label: a.name.clone(),
            planned: full
                .strata
                .iter()
                .filter(|s| s.stratum.area == i)
                .map(|s| s.quota)
                .sum(),
            responded: by_area.get(&id.to_string()).map_or(0, |s| s.n),
        })
        .collect();

    // Over time: cumulative by hour.
    let mut hours: BTreeMap<chrono::DateTime<Utc>, Sums> = BTreeMap::new();
    for (k, s) in &agg.hours {
        if !(exclude_flagged && k.flagged) {
            hours.entry(k.hour).or_default().add(s);
        }
    }
    let mut running = Sums::default();
    let over_time = hours
        .into_iter()
        .map(|(hour, s)| {
            running.add(&s);
            HourPoint {
                hour,
                respondents: running.n,
                rate: running.pooled(),
            }
        })
        .collect();

    let invitations = invitation_rows(state, survey, &full).await?;
    let closes_at = survey.settings.window.closes_at;
    let by_group = groups.iter().map(|r| (r.key.clone(), r.clone())).collect();
    let by_item = items.iter().map(|i| (i.id.clone(), i.clone())).collect();
    Ok(TallyView {
        respondents: all.n,
        planned: planned_total,
        rate: headline.rate,
        interval: headline.interval,
        target,
        status: headline.status,
        status_label: headline.status.label(),
        estimator: survey.settings.estimator.code(),
        estimator_label: survey.settings.estimator.label(),
        exclude_flagged,
        pooled: all.pooled(),
        pooled_interval: all.interval(),
        respondent_mean: all.respondent_mean(),
        group_weighted: tally::group_weighted(&weighted),
        by_group,
        by_item,
        quota_progress,
        groups,
        booklets,
        dimensions,
        items,
        weakest_items: weakest,
        areas,
        area_classes,
        schools,
        bands,
        group_progress,
        area_progress,
        invitations,
        over_time,
        data_quality: json!({"respondents": total, "too_fast": fast, "straight_lined": straight, "flagged": flagged}),
        closes_at,
        seconds_left: closes_at.map(|c| (c - Utc::now()).num_seconds().max(0)),
    })
}

async fn invitation_rows(
    state: &AppState,
    survey: &Survey,
    full: &FullPlan,
) -> Result<Vec<InvitationRow>, AppError> {
    use crate::entity::invitation;
    use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};
    #[derive(FromQueryResult)]
    struct Count {
        grp: String,
        area_id: i32,
        band: Option<i16>,
        status: String,
        replaced: bool,
        n: i64,
    }
    let counts = invitation::Entity::find()
        .select_only()
        .column(invitation::Column::Grp)
        .column(invitation::Column::AreaId)
        .column(invitation::Column::Band)
        .column(invitation::Column::Status)
        .column_as(invitation::Column::ReplacedBy.is_not_null(), "replaced")
        .column_as(
            sea_orm::sea_query::ExprTrait::count(sea_orm::sea_query::Expr::col(
                invitation::Column::Id,
            )),
            "n",
        )
        .filter(invitation::Column::SurveyId.eq(survey.id))
        .group_by(invitation::Column::Grp)
        .group_by(invitation::Column::AreaId)
        .group_by(invitation::Column::Band)
        .group_by(invitation::Column::Status)
        .group_by(invitation::Column::ReplacedBy.is_not_null())
        .into_model::<Count>()
        .all(&state.db)
        .await?;
    let mut rows: BTreeMap<(usize, i32, i16), InvitationRow> = BTreeMap::new();
    for c in counts {
        let Ok(g) = c.grp.parse::<RespondentGroup>() else {
            continue;
        };
        let band = c.band.unwrap_or(-1);
        let r = rows
            .entry((g.index(), c.area_id, band))
            .or_insert_with(|| InvitationRow {
                group: g.label().into(),
                area: full.geo.area_name(c.area_id).to_owned(),
                band: usize::try_from(band)
                    .ok()
                    .and_then(|b| strata::bands(g).get(b))
                    .map(|b| b.label()),
                invited: 0,
                answered: 0,
                reserves_released: 0,
                response_rate: None,
            });
        match c.status.as_str() {
            "answered" => {
                r.invited += c.n;
                r.answered += c.n;
            }
            "pending" => r.invited += c.n,
            _ if c.replaced => r.reserves_released += c.n,
            _ => {}
        }
    }
    Ok(rows
        .into_values()
        .map(|mut r| {
            r.response_rate = (r.invited > 0).then(|| r.answered as f64 / r.invited as f64);
            r
        })
        .collect())
}

#[derive(Deserialize)]
pub struct TallyQuery {
    #[serde(default)]
    pub exclude_flagged: Option<String>,
}

impl TallyQuery {
    pub fn exclude(&self) -> bool {
        matches!(
            self.exclude_flagged.as_deref(),
            Some("1" | "true" | "yes" | "on")
        )
    }
}

pub async fn api_tally(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &survey, query.exclude()).await?))
}

/// Recomputes a survey's aggregates from its raw responses; returns how many were read.
pub async fn rebuild(
    db: &sea_orm::DatabaseConnection,
    questionnaires: &super::questionnaires::QuestionnaireCache,
    survey_id: i32,
) -> Result<u64, AppError> {
    use crate::entity::response;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut agg = Aggregates::default();
    let mut last = i64::MIN;
    let mut read = 0u64;
    loop {
        let page = response::Entity::find()
            .filter(response::Column::SurveyId.eq(survey_id))
            .filter(response::Column::Id.gt(last))
            .order_by_asc(response::Column::Id)
            .limit(5_000)
            .all(db)
            .await?;
        let Some(end) = page.last() else { break };
        last = end.id;
        for r in &page {
            let q = questionnaires.get(db, r.questionnaire_id).await?;
            agg.add(&store::responses::facts_of(r), &q.definition);
        }
        read += page.len() as u64;
    }
    let txn = store::begin_write(db).await?;
    store::tally::clear(&txn, survey_id).await?;
    store::tally::add(&txn, survey_id, &agg).await?;
    txn.commit().await?;
    Ok(read)
}
