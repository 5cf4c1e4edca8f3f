//! Sampling: areas and schools, rosters, the plan per stratum, the draw and its verification,
//! invitations, reserves and open channels, and purging personal data after the survey.
use super::surveys::{organized, visible, visible_in};
use super::{Actor, Context, audit, blocking, conflict_if};
use crate::domain::audit::AuditAction;
use crate::domain::channel::Channel;
use crate::domain::draw::{self, Draw, FrameEntry, NewDraw, Pick, PickKind, RecordedQuota};
use crate::domain::frame::{self, Person, RosterErrors, School};
use crate::domain::geography::Geography;
use crate::domain::group::{GroupMap, RespondentGroup};
use crate::domain::invitation::{Addressed, InvitationStatus, ReleaseFilter, ReleaseOutcome};
use crate::domain::places::{self, Places};
use crate::domain::strata::{self, Area, Band, FullPlan, Stratum};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, DbFailure};
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// A group by its code; an error naming the field if there is none.
pub fn parse_group(code: &str) -> Result<RespondentGroup, AppError> {
    code.trim()
        .parse()
        .map_err(|_| AppError::invalid("group", format!("没有“{code}”这个调查对象群体")))
}

fn not_draft() -> AppError {
    AppError::Conflict("调查已开放或结束，抽样设置不能再修改".into())
}

/// The survey, read again inside the write transaction, still a draft the actor organises.
async fn draft_in(
    txn: &store::Transaction,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Survey, AppError> {
    let survey = visible_in(txn, actor, id).await?;
    if survey.status != SurveyStatus::Draft {
        return Err(not_draft());
    }
    Ok(survey)
}

/// A survey the actor organises, in draft (checked before any work, such as reading a request's
/// body; checked again at the write).
pub async fn draft(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Survey, AppError> {
    let survey = organized(ctx, actor, id).await?;
    if survey.status != SurveyStatus::Draft {
        return Err(not_draft());
    }
    Ok(survey)
}

/// The plan with everything known so far, from the store.
pub(crate) async fn load_plan(
    db: &impl store::Connection,
    survey: &Survey,
) -> Result<FullPlan, AppError> {
    let sizes = store::frames::group_sizes(db, survey.id).await?;
    let geo = store::geography::load(db, survey.id).await?;
    let frames = if geo.areas.is_empty() {
        Vec::new()
    } else {
        store::frames::stratum_sizes(db, survey.id, &geo).await?
    };
    Ok(FullPlan::new(&survey.settings.plan, &sizes, geo, &frames))
}

// ---- areas and schools -------------------------------------------------------------------

/// A survey the actor may see, with its areas and schools.
pub async fn geography(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, Geography), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let geo = store::geography::load(ctx.db.pool(), survey.id).await?;
    Ok((survey, geo))
}

/// Replaces the areas of a draft survey the actor organises.
pub async fn set_areas(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    areas: &[Area],
) -> Result<Geography, AppError> {
    draft(ctx, actor, id).await?;
    strata::check_areas(areas)?;
    let txn = store::begin_write(&ctx.db).await?;
    let survey = draft_in(&txn, actor, id).await?;
    // SQLite may report the areas' schools or rosters at the commit.
    let geo = async {
        store::geography::replace_areas(&txn, survey.id, areas).await?;
        let geo = store::geography::load(&txn, survey.id).await?;
        txn.commit().await?;
        Ok(geo)
    }
    .await
    .map_err(conflict_if(
        DbFailure::ForeignKeyViolation,
        "要删除的乡镇（街道）下还有学校或名册，请先调整学校和名册",
    ))?;
    let detail = format!("{} areas", geo.areas.len());
    audit(
        ctx,
        actor,
        AuditAction::AreasSet,
        &format!("survey {id}"),
        &detail,
    )
    .await;
    Ok(geo)
}

/// A school as typed: its name and the name of its area.
pub struct SchoolEntry<'a> {
    pub name: &'a str,
    pub area: &'a str,
}

/// Replaces the schools of a draft survey the actor organises.
pub async fn set_schools(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    entries: &[SchoolEntry<'_>],
) -> Result<Geography, AppError> {
    draft(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let survey = draft_in(&txn, actor, id).await?;
    let geo = store::geography::load(&txn, survey.id).await?;
    let mut schools = Vec::with_capacity(entries.len());
    let mut rows = Vec::with_capacity(entries.len());
    for s in entries {
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
        let school = School::new(s.name, area)?;
        rows.push((school.name.clone(), geo.area_ids[area]));
        schools.push(school);
    }
    frame::check_schools(&schools)?;
    let geo = async {
        store::geography::replace_schools(&txn, survey.id, &rows).await?;
        let geo = store::geography::load(&txn, survey.id).await?;
        txn.commit().await?;
        Ok(geo)
    }
    .await
    .map_err(conflict_if(
        DbFailure::ForeignKeyViolation,
        "要删除的学校已在名册中，请先重新上传名册",
    ))?;
    let detail = format!("{} schools", geo.schools.len());
    audit(
        ctx,
        actor,
        AuditAction::SchoolsSet,
        &format!("survey {id}"),
        &detail,
    )
    .await;
    Ok(geo)
}

// ---- rosters -------------------------------------------------------------------------------

/// A person whose phone is also in another group's roster (they are drawn at most once).
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
    pub duplicates: Vec<Duplicate>,
}

fn already_drawn() -> AppError {
    AppError::Conflict("已经抽样，名册不能再替换".into())
}

/// Replaces a group's roster of a draft survey the actor organises. A file with any bad row
/// is refused whole, with every line and reason (422).
pub async fn upload_roster(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    group: RespondentGroup,
    bytes: Vec<u8>,
) -> Result<UploadOutcome, AppError> {
    let survey = draft(ctx, actor, id).await?;
    let db = ctx.db.pool();
    if store::draws::current(db, survey.id).await?.is_some() {
        return Err(already_drawn());
    }
    let geo = store::geography::load(db, survey.id).await?;
    if geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let rejected = move |e: RosterErrors| AppError::Unprocessable {
        field: Some("file".into()),
        message: format!("{}名册有 {} 处错误，未导入任何数据", group.label(), e.total),
        details: json!({"errors": e.errors, "error_count": e.total}),
    };
    let (areas, schools) = (geo.areas.clone(), geo.schools.clone());
    let rows = blocking(move || {
        let text = frame::decode(&bytes)?;
        frame::parse_roster(group, &text, &areas, &schools)
    })
    .await?
    .map_err(rejected)?;
    let others = store::frames::phones_outside(db, survey.id, group).await?;
    let duplicates = rows
        .iter()
        .filter_map(|r| {
            let (g, other_id) = others.get(r.phone.as_deref()?)?;
            Some(Duplicate {
                line: r.line,
                external_id: r.external_id.clone(),
                other_group: g.label().into(),
                other_id: other_id.clone(),
            })
        })
        .take(200)
        .collect();
    let txn = store::begin_write(&ctx.db).await?;
    draft_in(&txn, actor, id).await?;
    if store::draws::current(&txn, survey.id).await?.is_some() {
        return Err(already_drawn());
    }
    // The rows name areas and schools by their place in the list they were checked against.
    if store::geography::load(&txn, survey.id).await? != geo {
        return Err(AppError::Conflict(
            "乡镇（街道）或学校刚被修改，请重新上传名册".into(),
        ));
    }
    store::frames::replace(&txn, survey.id, group, &rows, &geo).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, group = %group, rows = rows.len(), user = ?actor.user_id(), "roster uploaded");
    let detail = format!("{} rows", rows.len());
    let subject = format!("survey {} {}", survey.id, group);
    audit(ctx, actor, AuditAction::RosterUploaded, &subject, &detail).await;
    Ok(UploadOutcome {
        group,
        rows: rows.len(),
        duplicates,
    })
}

/// A roster as organisers see it: its size and its first rows (phones masked).
pub struct RosterPreview {
    pub group: RespondentGroup,
    pub rows: Option<u64>,
    pub first: Vec<Person>,
}

/// The first `rows` persons of each group's roster (all groups) or of one.
pub async fn rosters(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    groups: &[RespondentGroup],
    rows: u64,
) -> Result<(Geography, Vec<RosterPreview>), AppError> {
    let survey = organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let sizes: GroupMap<Option<u64>> = store::frames::group_sizes(db, survey.id).await?;
    let geo = store::geography::load(db, survey.id).await?;
    let mut out = Vec::with_capacity(groups.len());
    for &group in groups {
        out.push(RosterPreview {
            group,
            rows: sizes[group],
            first: store::frames::sample(db, survey.id, group, rows).await?,
        });
    }
    Ok((geo, out))
}

// ---- the plan --------------------------------------------------------------------------------

/// A survey the actor may see, with its plan.
pub async fn plan(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, FullPlan), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let full = load_plan(ctx.db.pool(), &survey).await?;
    Ok((survey, full))
}

/// The places of a survey's strata: as stored once it has opened, else as they would be if it
/// opened now (its plan, with the invitations it has issued).
pub(crate) async fn places_of(
    db: &impl store::Connection,
    survey: &Survey,
    plan: &FullPlan,
) -> Result<Vec<Places>, AppError> {
    if survey.status != SurveyStatus::Draft && store::places::exist(db, survey.id).await? {
        return Ok(store::places::load(db, survey.id).await?);
    }
    let invitations = store::invitations::counts_by_stratum(db, survey.id).await?;
    Ok(places::at_opening(plan, &invitations))
}

/// A survey the actor may see, with its plan and its strata's places.
pub async fn places(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, FullPlan, Vec<Places>), AppError> {
    let (survey, full) = plan(ctx, actor, id).await?;
    let places = places_of(ctx.db.pool(), &survey, &full).await?;
    Ok((survey, full, places))
}

// ---- the draw ------------------------------------------------------------------------------

/// The draw's view of the rosters, with each entry's person.
fn entries<'a>(
    people: &'a [Person],
    geo: &Geography,
) -> Result<(Vec<FrameEntry>, Vec<&'a Person>), AppError> {
    let mut entries = Vec::with_capacity(people.len());
    let mut persons = Vec::with_capacity(people.len());
    for p in people {
        let area = geo.area_index(p.area_id).ok_or_else(|| {
            AppError::internal(format!(
                "frame_person {}: area {} is not the survey's",
                p.id, p.area_id
            ))
        })?;
        entries.push(FrameEntry {
            stratum: Stratum {
                group: p.group,
                area,
                band: p.grade.and_then(|g| strata::band_of(p.group, g)),
            },
            external_id: p.external_id.clone(),
            area: geo.areas[area].name.clone(),
            school: p.school_id.map(|s| geo.school_name(Some(s)).to_owned()),
            grade: p.grade,
            phone: p.phone.clone(),
        });
        persons.push(p);
    }
    Ok((entries, persons))
}

/// The recorded quotas as the draw reads them (strata by area index).
fn stratum_quotas(recorded: &[RecordedQuota], geo: &Geography) -> Vec<(Stratum, u64)> {
    recorded
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
        .collect()
}

/// Draws a draft survey's sample from its rosters and records it; earlier draws are
/// superseded. `seed`: random unless given.
pub async fn draw(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    seed: Option<u64>,
) -> Result<Draw, AppError> {
    let survey = draft(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let full = load_plan(db, &survey).await?;
    if full.geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let fingerprint = store::frames::fingerprint(db, survey.id).await?;
    let people = store::frames::all(db, survey.id).await?;
    if people.is_empty() {
        return Err(AppError::Conflict("还没有上传任何名册".into()));
    }
    let recorded = full.recorded_quotas();
    let quotas = stratum_quotas(&recorded, &full.geo);
    let seed = seed.unwrap_or_else(|| rand::rng().random());
    let (frame_entries, persons) = entries(&people, &full.geo)?;
    let outcome =
        blocking(move || draw::draw(&frame_entries, &quotas, seed, draw::DEFAULT_RESERVE_PERCENT))
            .await?;
    let mut picks = Vec::with_capacity(outcome.selected_count() + outcome.reserve_count());
    for s in &outcome.strata {
        for (kind, list) in [
            (PickKind::Selected, &s.selected),
            (PickKind::Reserve, &s.reserves),
        ] {
            for (rank, &i) in list.iter().enumerate() {
                let p = persons[i];
                picks.push(Pick {
                    frame_person_id: p.id,
                    external_id: p.external_id.clone(),
                    group: s.stratum.group,
                    area_id: p.area_id,
                    school_id: p.school_id,
                    band: s.stratum.band,
                    grade: p.grade,
                    kind,
                    rank,
                });
            }
        }
    }
    let txn = store::begin_write(&ctx.db).await?;
    draft_in(&txn, actor, id).await?;
    // Drawn from what was read before the transaction: nothing it used may have changed since.
    let unchanged = store::frames::fingerprint(&txn, survey.id).await? == fingerprint
        && store::geography::load(&txn, survey.id).await? == full.geo;
    if !unchanged {
        return Err(AppError::Conflict(
            "名册或乡镇（街道）刚被修改，请重新抽样".into(),
        ));
    }
    let stored = store::draws::record(
        &txn,
        NewDraw {
            survey_id: survey.id,
            seed,
            frame_digest: outcome.frame_digest.clone(),
            algorithm: draw::ALGORITHM.into(),
            reserve_percent: draw::DEFAULT_RESERVE_PERCENT,
            quotas: recorded,
            frame_size: people.len(),
            created_by: actor.user_id(),
            created_by_name: actor.name().to_owned(),
            picks,
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, draw = stored.id, user = ?actor.user_id(), "sample drawn");
    let detail = format!(
        "draw {} seed {} frame {}",
        stored.id, stored.seed, stored.frame_digest
    );
    audit(
        ctx,
        actor,
        AuditAction::Drew,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(stored)
}

/// The survey's draws, newest first.
pub async fn draws(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Vec<Draw>, AppError> {
    let survey = visible(ctx, actor, id).await?;
    Ok(store::draws::list(ctx.db.pool(), survey.id).await?)
}

/// The draw in force, if any.
pub async fn current_draw(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Option<Draw>, AppError> {
    let survey = visible(ctx, actor, id).await?;
    Ok(store::draws::current(ctx.db.pool(), survey.id).await?)
}

/// What a draw certificate shows per stratum.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateRow {
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub area: String,
    pub band: Option<String>,
    pub quota: u64,
    pub drawn: u64,
    pub reserves: u64,
}

/// A draw with what it drew per stratum.
pub struct Certificate {
    pub survey: Survey,
    pub draw: Draw,
    pub geo: Geography,
    pub rows: Vec<CertificateRow>,
}

/// A survey the actor may see, one of its draws, and its areas and schools.
async fn draw_of(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    draw_id: i32,
) -> Result<(Survey, Draw, Geography), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let stored = store::draws::find(db, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let geo = store::geography::load(db, survey.id).await?;
    Ok((survey, stored, geo))
}

/// A draw of a survey the actor may see, with its per-stratum counts.
pub async fn certificate(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    draw_id: i32,
) -> Result<Certificate, AppError> {
    let (survey, stored, geo) = draw_of(ctx, actor, id, draw_id).await?;
    let db = ctx.db.pool();
    let mut counts: HashMap<(RespondentGroup, i32, Option<Band>), (u64, u64)> = HashMap::new();
    for p in store::draws::picks(db, stored.id).await? {
        let c = counts.entry((p.group, p.area_id, p.band)).or_default();
        match p.kind {
            PickKind::Selected => c.0 += 1,
            PickKind::Reserve => c.1 += 1,
        }
    }
    let rows = stored
        .quotas
        .iter()
        .map(|q| {
            let (drawn, reserves) = counts
                .get(&(q.group, q.area_id, q.band))
                .copied()
                .unwrap_or_default();
            CertificateRow {
                group: q.group,
                group_label: q.group.label(),
                area: geo.area_name(q.area_id).to_owned(),
                band: q.band.map(|b| b.label(q.group)),
                quota: q.quota,
                drawn,
                reserves,
            }
        })
        .collect();
    Ok(Certificate {
        survey,
        draw: stored,
        geo,
        rows,
    })
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub identical: bool,
    pub frame_digest_matches: bool,
    pub recorded_digest: String,
    pub current_digest: String,
}

/// Re-runs a draw from the stored frame and compares it with what was recorded.
pub async fn verify(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    draw_id: i32,
) -> Result<Verification, AppError> {
    let (survey, stored, geo) = draw_of(ctx, actor, id, draw_id).await?;
    if survey.purged_at.is_some() {
        return Err(AppError::Conflict("名册已清除，无法复核抽样".into()));
    }
    let db = ctx.db.pool();
    let people = store::frames::all(db, survey.id).await?;
    let quotas = stratum_quotas(&stored.quotas, &geo);
    let (frame_entries, _) = entries(&people, &geo)?;
    let (seed, percent) = (stored.seed, stored.reserve_percent);
    let (frame_entries, outcome) = blocking(move || {
        let outcome = draw::draw(&frame_entries, &quotas, seed, percent);
        (frame_entries, outcome)
    })
    .await?;
    type Key = (RespondentGroup, i32, Option<Band>, PickKind, usize, String);
    let mut rerun: HashSet<Key> = HashSet::new();
    for s in &outcome.strata {
        for (kind, list) in [
            (PickKind::Selected, &s.selected),
            (PickKind::Reserve, &s.reserves),
        ] {
            for (rank, &i) in list.iter().enumerate() {
                rerun.insert((
                    s.stratum.group,
                    geo.area_ids[s.stratum.area],
                    s.stratum.band,
                    kind,
                    rank,
                    frame_entries[i].external_id.clone(),
                ));
            }
        }
    }
    let recorded: HashSet<Key> = store::draws::picks(db, stored.id)
        .await?
        .into_iter()
        .map(|p| (p.group, p.area_id, p.band, p.kind, p.rank, p.external_id))
        .collect();
    let digest_ok = outcome.frame_digest == stored.frame_digest;
    Ok(Verification {
        identical: digest_ok && rerun == recorded,
        frame_digest_matches: digest_ok,
        recorded_digest: stored.frame_digest.clone(),
        current_digest: outcome.frame_digest,
    })
}

// ---- invitations -------------------------------------------------------------------------------

/// An invitation that still works, with its contact data and the path of its link.
pub struct InvitationLine {
    pub addressed: Addressed,
    /// `/s/{token}`.
    pub path: String,
}

/// Why the invitations are being read: each is recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationUse {
    /// The CSV with every link, for SMS.
    Export,
    /// The printable sheet of QR codes (pending invitations only).
    Print,
}

/// Every working invitation of a survey the actor organises, with its link (pending ones only
/// for printing).
pub async fn invitations(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    purpose: InvitationUse,
) -> Result<(Geography, Vec<InvitationLine>), AppError> {
    let survey = organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let geo = store::geography::load(db, survey.id).await?;
    let lines: Vec<InvitationLine> = store::invitations::list_live(db, survey.id)
        .await?
        .into_iter()
        .filter(|a| {
            purpose == InvitationUse::Export || a.invitation.status == InvitationStatus::Pending
        })
        .map(|addressed| InvitationLine {
            path: ctx.invitation_path(addressed.invitation.id),
            addressed,
        })
        .collect();
    let (action, what) = match purpose {
        InvitationUse::Export => (AuditAction::InvitationsExported, "exported"),
        InvitationUse::Print => (AuditAction::InvitationsPrinted, "printed"),
    };
    tracing::info!(survey = survey.id, user = ?actor.user_id(), invitations = lines.len(), "invitations {what}");
    audit(ctx, actor, action, &format!("survey {}", survey.id), "").await;
    Ok((geo, lines))
}

/// The link path of one working invitation of a survey the actor organises.
pub async fn invitation_link(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    invitation_id: i32,
) -> Result<String, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let inv = store::invitations::find(ctx.db.pool(), i64::from(invitation_id))
        .await?
        .filter(|i| i.survey_id == survey.id && i.status != InvitationStatus::Revoked)
        .ok_or(AppError::NotFound)?;
    Ok(ctx.invitation_path(inv.id))
}

/// How many invitations are pending, answered and revoked.
pub async fn invitation_counts(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<store::invitations::Counts, AppError> {
    let survey = organized(ctx, actor, id).await?;
    Ok(store::invitations::status_counts(ctx.db.pool(), survey.id).await?)
}

/// Which non-responders to replace, as asked.
pub struct ReleaseRequest<'a> {
    pub group: &'a str,
    pub area: Option<&'a str>,
    /// The band's position (0, 1, 2) for students and parents.
    pub band: Option<usize>,
    /// Only invitations issued at or before this time (default: now).
    pub issued_before: Option<DateTime<Utc>>,
}

/// Replaces non-responders of an open survey the actor organises with the next reserves of
/// their stratum.
pub async fn release_reserves(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    request: &ReleaseRequest<'_>,
) -> Result<ReleaseOutcome, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let not_open = || AppError::Conflict("只有进行中的调查可以启用备选名单".into());
    if survey.status != SurveyStatus::Open {
        return Err(not_open());
    }
    let group = parse_group(request.group)?;
    let geo = store::geography::load(ctx.db.pool(), survey.id).await?;
    let area_id =
        match request.area.map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(name) => Some(geo.area_named(name).ok_or_else(|| {
                AppError::invalid("area", format!("没有名为“{name}”的乡镇（街道）"))
            })?),
        };
    let band = match request.band {
        None => None,
        Some(b) => Some(
            Band::of(group, b).ok_or_else(|| AppError::invalid("band", "该群体没有这个年级段"))?,
        ),
    };
    let filter = ReleaseFilter {
        group,
        area_id,
        band,
        issued_before: request.issued_before.unwrap_or_else(Utc::now),
    };
    let txn = store::begin_write(&ctx.db).await?;
    if visible_in(&txn, actor, id).await?.status != SurveyStatus::Open {
        return Err(not_open());
    }
    let draw = store::draws::current(&txn, survey.id)
        .await?
        .ok_or_else(|| AppError::Conflict("还没有抽样".into()))?;
    let outcome = store::invitations::release_reserves(&txn, survey.id, draw.id, &filter).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, user = ?actor.user_id(), group = %group, replaced = outcome.replaced,
        without_reserve = outcome.without_reserve, "reserves released");
    let detail = format!("{group}: {} replaced", outcome.replaced);
    audit(
        ctx,
        actor,
        AuditAction::ReservesReleased,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(outcome)
}

// ---- open channels ---------------------------------------------------------------------------------

/// What a channel is for, as asked.
pub struct ChannelRequest<'a> {
    pub group: &'a str,
    pub area: Option<&'a str>,
    pub school: Option<&'a str>,
}

/// Creates an open channel of a survey the actor organises (not once it has closed).
pub async fn create_channel(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    request: &ChannelRequest<'_>,
) -> Result<Channel, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let closed = || AppError::Conflict("调查已结束".into());
    if survey.status == SurveyStatus::Closed {
        return Err(closed());
    }
    let group = parse_group(request.group)?;
    let geo = store::geography::load(ctx.db.pool(), survey.id).await?;
    let present = |v: Option<&'_ str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let area_id =
        match present(request.area) {
            None => None,
            Some(name) => Some(geo.area_named(&name).ok_or_else(|| {
                AppError::invalid("area", format!("没有名为“{name}”的乡镇（街道）"))
            })?),
        };
    let school_id = match present(request.school) {
        None => None,
        Some(name) => {
            let (school, its_area) = geo
                .school_named(&name)
                .ok_or_else(|| AppError::invalid("school", format!("没有名为“{name}”的学校")))?;
            if area_id.is_some_and(|a| a != its_area) {
                return Err(AppError::invalid("school", "该学校不在所选乡镇（街道）"));
            }
            Some(school)
        }
    };
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let txn = store::begin_write(&ctx.db).await?;
    if visible_in(&txn, actor, id).await?.status == SurveyStatus::Closed {
        return Err(closed());
    }
    let ch = store::channels::create(&txn, survey.id, &code, group, area_id, school_id).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, channel = ch.id, user = ?actor.user_id(), "open channel created");
    let detail = format!("channel {} {}", ch.id, group);
    audit(
        ctx,
        actor,
        AuditAction::ChannelCreated,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(ch)
}

/// A channel with the places left in the strata it feeds.
#[derive(Debug, Clone)]
pub struct ChannelState {
    pub channel: Channel,
    pub area: Option<String>,
    pub school: Option<String>,
    /// The places of the strata it feeds, and how many of them are claimed.
    pub quota: u64,
    pub filled: u64,
}

impl ChannelState {
    /// Its group, and its area or school, or the whole county: 家长 · 城关镇, 学生 · 全县.
    pub fn label(&self) -> String {
        let mut l = self.channel.group.label().to_owned();
        let parts: Vec<&str> = [&self.area, &self.school]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        for part in if parts.is_empty() {
            vec!["全县"]
        } else {
            parts
        } {
            l.push_str(" · ");
            l.push_str(part);
        }
        l
    }
}

/// The open channels of a survey the actor may see.
pub async fn channels(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Vec<ChannelState>, AppError> {
    let survey = visible(ctx, actor, id).await?;
    Ok(channel_states(ctx, &survey).await?.0)
}

/// The open channels of a survey already authorised, and its areas and schools.
pub(super) async fn channel_states(
    ctx: &Context,
    survey: &Survey,
) -> Result<(Vec<ChannelState>, Geography), AppError> {
    let db = ctx.db.pool();
    let full = load_plan(db, survey).await?;
    let all = places_of(db, survey, &full).await?;
    let mut out = Vec::new();
    for ch in store::channels::list(db, survey.id).await? {
        let cell = ch.cell(&full.geo);
        let fed = all.iter().filter(|p| places::feeds(ch.group, cell, &p.key));
        let (quota, filled) = fed.fold((0, 0), |(q, f), p| (q + p.quota, f + p.claimed));
        out.push(ChannelState {
            area: ch.area_id.map(|a| full.geo.area_name(a).to_owned()),
            school: ch
                .school_id
                .map(|s| full.geo.school_name(Some(s)).to_owned()),
            quota,
            filled,
            channel: ch,
        });
    }
    Ok((out, full.geo))
}

/// One open channel of a survey the actor may see.
pub async fn channel(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    code: &str,
) -> Result<Channel, AppError> {
    let survey = visible(ctx, actor, id).await?;
    store::channels::find_by_code(ctx.db.pool(), code)
        .await?
        .filter(|c| c.survey_id == survey.id)
        .ok_or(AppError::NotFound)
}

// ---- after the survey --------------------------------------------------------------------------------

/// Deletes a closed survey's rosters and contact data, in one transaction.
pub async fn purge(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<u64, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let not_closed = || AppError::Conflict("只有已结束的调查可以清除个人信息".into());
    if survey.status != SurveyStatus::Closed {
        return Err(not_closed());
    }
    let txn = store::begin_write(&ctx.db).await?;
    if visible_in(&txn, actor, id).await?.status != SurveyStatus::Closed {
        return Err(not_closed());
    }
    let removed = store::frames::purge(&txn, survey.id).await?;
    store::surveys::mark_purged(&txn, survey.id).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, user = ?actor.user_id(), removed, "personal data purged");
    let detail = format!("{removed} roster rows");
    audit(
        ctx,
        actor,
        AuditAction::Purged,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(removed)
}
