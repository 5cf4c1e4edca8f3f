//! Sampling: areas and schools, rosters, the plan per stratum, the draw and its verification,
//! invitations, reserves and open channels, and purging personal data after the survey.
use super::surveys::{organized, visible, visible_in};
use super::{Actor, Context, audit, blocking, conflict_if};
use crate::domain::audit::AuditAction;
use crate::domain::channel::Channel;
use crate::domain::frame::{self, Person, School};
use crate::domain::geography::Geography;
use crate::domain::group::{GroupMap, RespondentGroup};
use crate::domain::invitation::{Addressed, InvitationStatus, ReleaseFilter, ReleaseOutcome};
use crate::domain::places::{self, Places};
use crate::domain::strata::{self, Area, Band, FullPlan};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, DbFailure};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;

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
pub(super) async fn draft_in(
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
    /// How many people's phones are also in another group's roster; the first
    /// [`LISTED_DUPLICATES`] of them are listed.
    pub duplicate_count: usize,
    pub duplicates: Vec<Duplicate>,
    /// Columns of the file Renke did not read (shown, so nothing is lost unseen).
    pub ignored_columns: Vec<String>,
    /// What suggests the file was meant for another group (headings, grades, phones that are
    /// mostly another group's): accepted, but said, so a wrong upload is not missed.
    pub warnings: Vec<String>,
}

/// At most this many duplicates are listed with an upload's result.
pub const LISTED_DUPLICATES: usize = 200;

/// A roster workbook: one sheet of people, a row each. Bigger rosters come as CSV, which is
/// read as it streams.
const ROSTER_SHEET: super::sheets::Limits = super::sheets::Limits {
    unpacked: 160 * 1024 * 1024,
    rows: 200_001,
    columns: 64,
    cells: 2_000_000,
    // 200,000 people of a few short columns: some 20 MB.
    text: 64 * 1024 * 1024,
    what: "名册",
};

/// The survey a roster may be uploaded to now (a draft the actor organises) and its areas and
/// schools (at least one area): checked before the file is received, and again once it has
/// been.
pub async fn roster_welcome(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, Geography), AppError> {
    let survey = draft(ctx, actor, id).await?;
    let geo = store::geography::load(ctx.db.pool(), survey.id).await?;
    if geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    Ok((survey, geo))
}

/// People stored a statement at a time while a roster is read again.
const STORED_TOGETHER: usize = 2_000;

/// Replaces a group's roster of a draft survey the actor organises. A file with any bad row
/// is refused whole, with every line and reason (422). A draw made before goes stale: the
/// survey cannot open until it is redone or discarded.
///
/// The file is read twice, as it streams from its spool: checked (keeping nothing of the
/// people), then, inside the write transaction, read again and stored in pieces; so memory
/// stays small whatever its size, and a refused file changes nothing.
pub async fn upload_roster(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    group: RespondentGroup,
    upload: super::sheets::Upload,
) -> Result<UploadOutcome, AppError> {
    use super::sheets::{RosterFile, refused_roster};
    let (survey, geo) = roster_welcome(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let label = group.label();
    // A roster is read and stored one at a time (as draws are): four large uploads at once
    // read one file at a time, the others waiting on disk. The turn goes with the blocking
    // reads, so a request given up on (408) keeps it until they end.
    let turn = ctx
        .heavy
        .clone()
        .acquire_owned()
        .await
        .map_err(AppError::internal)?;
    let others = store::frames::phones_outside(db, survey.id, group).await?;
    let (areas, schools) = (geo.areas.clone(), geo.schools.clone());
    let (file, shape, found, turn) = blocking(move || {
        let mut file = RosterFile::open(upload, &ROSTER_SHEET, label)?;
        let mut found = Duplicates::default();
        let shape = frame::read_roster(group, file.records()?, &areas, &schools, |r| {
            found.check(&r, &others);
            true
        })
        .map_err(|e| refused_roster(label, e))?;
        Ok::<_, AppError>((file, shape, found, turn))
    })
    .await??;
    let frame::RosterShape {
        rows,
        ignored_columns,
        mut warnings,
    } = shape;
    // Most phones already in one other group's roster: the same file under another group.
    for (g, &n) in found.shared.iter() {
        if n * 2 > rows {
            warnings.push(format!(
                "{n} 人（{}%）的电话已在{}名册中：是否把同一份名单传成了{}名册？",
                n * 100 / rows.max(1),
                g.label(),
                label
            ));
        }
    }
    let txn = store::begin_write(&ctx.db).await?;
    draft_in(&txn, actor, id).await?;
    // The rows name areas and schools by their place in the list they were checked against.
    if store::geography::load(&txn, survey.id).await? != geo {
        return Err(AppError::Conflict(
            "乡镇（街道）或学校刚被修改，请重新上传名册".into(),
        ));
    }
    store::frames::clear(&txn, survey.id, group).await?;
    // Read again off the async workers, a piece at a time, while the pieces are stored.
    let (pieces, mut arriving) = tokio::sync::mpsc::channel::<Vec<frame::RosterRow>>(2);
    let (areas, schools) = (geo.areas.clone(), geo.schools.clone());
    let reading = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut piece = Vec::with_capacity(STORED_TOGETHER);
        let read = frame::read_roster(group, file.records()?, &areas, &schools, |r| {
            piece.push(r);
            piece.len() < STORED_TOGETHER
                || pieces
                    .blocking_send(std::mem::replace(
                        &mut piece,
                        Vec::with_capacity(STORED_TOGETHER),
                    ))
                    .is_ok()
        });
        if !piece.is_empty() {
            let _ = pieces.blocking_send(piece);
        }
        // The turn comes back with the count, held until the commit.
        Ok::<_, AppError>((read.map(|s| s.rows).ok(), turn))
    });
    let mut stored = 0;
    while let Some(piece) = arriving.recv().await {
        store::frames::insert(&txn, survey.id, group, &piece, &geo).await?;
        stored += piece.len();
    }
    let (read, _turn) = reading.await.map_err(AppError::internal)??;
    // The spool is Renke's own file: read again, it reads the same.
    if read != Some(rows) || stored != rows {
        return Err(AppError::Internal(format!(
            "roster read {rows} people, then {read:?} ({stored} stored)"
        )));
    }
    txn.commit().await?;
    tracing::info!(survey = survey.id, group = %group, rows, user = ?actor.user_id(), "roster uploaded");
    let detail = format!("{rows} rows");
    let subject = format!("survey {} {}", survey.id, group);
    audit(ctx, actor, AuditAction::RosterUploaded, &subject, &detail).await;
    Ok(UploadOutcome {
        group,
        rows,
        duplicate_count: found.count,
        duplicates: found.listed,
        ignored_columns,
        warnings,
    })
}

/// The people of a roster whose phones are in another group's roster: how many, per group, and
/// the first [`LISTED_DUPLICATES`].
#[derive(Default)]
struct Duplicates {
    count: usize,
    shared: GroupMap<usize>,
    listed: Vec<Duplicate>,
}

impl Duplicates {
    fn check(
        &mut self,
        r: &frame::RosterRow,
        others: &std::collections::HashMap<String, (RespondentGroup, String)>,
    ) {
        let Some((g, other_id)) = r.phone.as_deref().and_then(|p| others.get(p)) else {
            return;
        };
        self.count += 1;
        self.shared[*g] += 1;
        if self.listed.len() < LISTED_DUPLICATES {
            self.listed.push(Duplicate {
                line: r.line,
                external_id: r.external_id.clone(),
                other_group: g.label().into(),
                other_id: other_id.clone(),
            });
        }
    }
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
    let invitations = store::invitations::counts_by_stratum(db, survey.id, false).await?;
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
    // The export also lists the draw in force's invitations replaced by reserves (marked so,
    // without a link), so whoever hands them out knows which were withdrawn.
    let replaced_of = match purpose {
        InvitationUse::Export => store::draws::current(db, survey.id).await?.map(|d| d.id),
        InvitationUse::Print => None,
    };
    let lines: Vec<InvitationLine> = store::invitations::list_live(db, survey.id, replaced_of)
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

/// A survey the actor may see and one of its channels (by code) with its places.
pub async fn channel_state(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    code: &str,
) -> Result<(Survey, ChannelState), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let state = channel_states(ctx, &survey)
        .await?
        .0
        .into_iter()
        .find(|c| c.channel.code == code)
        .ok_or(AppError::NotFound)?;
    Ok((survey, state))
}

/// What an organiser does to a channel: stop it collecting answers, let it collect again, or
/// delete it (only one that never took an answer: the answers of a closed one are kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelChange {
    Close,
    Reopen,
    Delete,
}

/// Closes, reopens or deletes an open channel of a survey the actor organises.
pub async fn change_channel(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    code: &str,
    change: ChannelChange,
) -> Result<(), AppError> {
    let survey = organized(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let survey_now = visible_in(&txn, actor, survey.id).await?;
    let ch = store::channels::find_by_code(&txn, code)
        .await?
        .filter(|c| c.survey_id == survey.id)
        .ok_or(AppError::NotFound)?;
    let action = match change {
        ChannelChange::Close => {
            if ch.closed_at.is_some() {
                return Err(AppError::Conflict("这个二维码已经停止收集".into()));
            }
            store::channels::set_closed(&txn, ch.id, Some(Utc::now())).await?;
            AuditAction::ChannelClosed
        }
        ChannelChange::Reopen => {
            if ch.closed_at.is_none() {
                return Err(AppError::Conflict("这个二维码正在收集答卷".into()));
            }
            if survey_now.status == SurveyStatus::Closed {
                return Err(AppError::Conflict("调查已结束，不能重新启用二维码".into()));
            }
            store::channels::set_closed(&txn, ch.id, None).await?;
            AuditAction::ChannelReopened
        }
        ChannelChange::Delete => {
            let answers = store::channels::answers(&txn, ch.id).await?;
            if answers > 0 {
                return Err(AppError::Conflict(format!(
                    "这个二维码已收到 {answers} 份答卷，不能删除（答卷要保留）；可以停止收集"
                )));
            }
            store::channels::delete(&txn, ch.id).await?;
            AuditAction::ChannelDeleted
        }
    };
    txn.commit().await?;
    let detail = format!("channel {} {}", ch.id, ch.group);
    audit(
        ctx,
        actor,
        action,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(())
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
    // What interviewers noted on their calls may name people too.
    store::fieldwork::purge_notes(&txn, survey.id).await?;
    store::surveys::mark_purged(&txn, survey.id).await?;
    txn.commit().await?;
    // The data is gone from the tables; now from the files. A failure here leaves the purge
    // done (and said so in the log): the next purge or vacuum finishes it.
    if let Err(e) = store::scrub_deleted(&ctx.db).await {
        tracing::error!(error = %e, survey = survey.id, "purged rows not yet scrubbed from the database files");
    }
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
