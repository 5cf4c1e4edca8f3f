//! The draw: drawing a draft survey's sample, its certificate, its verification, and the list
//! of frame lines an auditor re-runs it from. New draws use `renke-draw-v2`; `renke-draw-v1`
//! draws stay verifiable. The frame is read page by page and hashed off the async workers, so a
//! million-person frame costs about a hundred bytes a person, never the rows themselves.
use super::sampling::{draft, draft_in, load_plan};
use super::surveys::visible;
use super::{Actor, Context, audit, blocking};
use crate::domain::audit::{AuditAction, Entry as AuditEntry};
use crate::domain::draw::v2::{self, FrameLine, Hash, Outcome, Placement};
use crate::domain::draw::{
    self, Algorithm, Draw, NewDraw, Pick, PickKind, RecordedQuota, Seed, Staleness, v1,
};
use crate::domain::frame::Person;
use crate::domain::geography::Geography;
use crate::domain::group::RespondentGroup;
use crate::domain::strata::{self, Band, Stratum};
use crate::domain::survey::Survey;
use crate::error::AppError;
use crate::store;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// People read and hashed at a time.
const PAGE: u64 = 5_000;

/// The recorded quotas as the draw reads them (strata by area index), in the plan's order.
fn stratum_quotas(recorded: &[RecordedQuota], geo: &Geography) -> Vec<(Stratum, u64)> {
    let mut quotas: Vec<(Stratum, u64)> = recorded
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
    quotas.sort_by_key(|(s, _)| *s);
    quotas
}

/// What a v2 run needs to know of the county to write frame lines.
struct Lines {
    geo: Geography,
    areas: HashMap<i32, usize>,
    schools: HashMap<i32, usize>,
    /// Stratum → position in the plan's order.
    strata: HashMap<Stratum, u32>,
    seed: String,
}

impl Lines {
    fn new(geo: Geography, quotas: &[(Stratum, u64)], seed: &str) -> Lines {
        Lines {
            areas: geo
                .area_ids
                .iter()
                .enumerate()
                .map(|(i, &id)| (id, i))
                .collect(),
            schools: (geo.school_ids.iter().enumerate())
                .map(|(i, &id)| (id, i))
                .collect(),
            strata: (quotas.iter().enumerate())
                .map(|(i, (s, _))| (*s, i as u32))
                .collect(),
            geo,
            seed: seed.to_owned(),
        }
    }

    fn stratum(&self, p: &Person) -> Result<Stratum, AppError> {
        let area = *self.areas.get(&p.area_id).ok_or_else(|| {
            AppError::Conflict(
                "名册中有人所在的乡镇（街道）已不是抽样时的乡镇（街道），无法按这次抽样重算".into(),
            )
        })?;
        Ok(Stratum {
            group: p.group,
            area,
            band: p.grade.and_then(|g| strata::band_of(p.group, g)),
        })
    }

    /// A person's frame line.
    fn line<'a>(&'a self, p: &'a Person, stratum: Stratum) -> FrameLine<'a> {
        FrameLine {
            group: p.group,
            area: &self.geo.areas[stratum.area].name,
            band: stratum.band.and_then(|b| b.grades(p.group)),
            school: (p.school_id)
                .and_then(|s| self.schools.get(&s))
                .map(|&i| self.geo.schools[i].name.as_str()),
            grade: p.grade,
            external_id: &p.external_id,
            phone: p.phone.as_deref(),
        }
    }

    /// The run's index of a stratum: its place in the plan. The plan has every stratum of a
    /// group with a roster, so only a frame changed since the draw has people outside it: they
    /// are put after the plan, drawn by no one (the digest already differs).
    fn stratum_index(&self, s: Stratum) -> u32 {
        self.strata.get(&s).copied().unwrap_or(u32::MAX)
    }
}

/// Where a read of the frame has got to: groups in canonical order, each roster in id order
/// (the order of its file).
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    group: usize,
    after: i32,
}

impl Cursor {
    /// The next page of the frame; `None` at its end.
    async fn next(
        &mut self,
        db: &store::Pool,
        survey_id: i32,
    ) -> Result<Option<Vec<Person>>, AppError> {
        while let Some(&group) = RespondentGroup::ALL.get(self.group) {
            let page = store::frames::page(db, survey_id, group, self.after, PAGE).await?;
            match page.last() {
                Some(last) => {
                    self.after = last.id;
                    return Ok(Some(page));
                }
                None => {
                    *self = Cursor {
                        group: self.group + 1,
                        after: 0,
                    }
                }
            }
        }
        Ok(None)
    }
}

/// One pass over a survey's frame in [`Cursor`] order: each person's id, run entry and line
/// hash.
struct FrameRead {
    ids: Vec<i32>,
    entries: Vec<v2::Entry>,
    hashes: Vec<Hash>,
}

/// Reads the frame page by page, hashing each page on the blocking pool.
async fn read_frame(
    db: &store::Pool,
    survey_id: i32,
    lines: &Arc<Lines>,
) -> Result<FrameRead, AppError> {
    let mut read = FrameRead {
        ids: Vec::new(),
        entries: Vec::new(),
        hashes: Vec::new(),
    };
    let mut cursor = Cursor::default();
    while let Some(page) = cursor.next(db, survey_id).await? {
        let lines = lines.clone();
        let hashed = blocking(move || -> Result<Vec<(i32, v2::Entry, Hash)>, AppError> {
            page.iter()
                .map(|p| {
                    let stratum = lines.stratum(p)?;
                    let line = lines.line(p, stratum);
                    let hash = line.hash();
                    let entry = v2::Entry {
                        stratum: lines.stratum_index(stratum),
                        rank_key: v2::rank_key(&lines.seed, &hash),
                        phone: line.phone_key(),
                    };
                    Ok((p.id, entry, hash))
                })
                .collect()
        })
        .await??;
        for (id, entry, hash) in hashed {
            read.ids.push(id);
            read.entries.push(entry);
            read.hashes.push(hash);
        }
    }
    Ok(read)
}

/// A v2 run over the frame as stored now: the frame digest and everyone's placement (and, when
/// asked, who shares a phone).
struct Run {
    ids: Vec<i32>,
    entries: Vec<v2::Entry>,
    placements: Vec<Placement>,
    digest: String,
    shared: HashMap<v2::PhoneKey, Hash>,
}

/// Runs the draw over the stored frame. One such run at a time per server (each holds about a
/// hundred bytes per person of the frame): others wait their turn.
async fn run_v2(
    ctx: &Context,
    survey_id: i32,
    lines: &Arc<Lines>,
    quotas: Vec<u64>,
    reserve_percent: u64,
    with_shared: bool,
) -> Result<Run, AppError> {
    let turn = ctx
        .heavy
        .clone()
        .acquire_owned()
        .await
        .map_err(AppError::internal)?;
    let frame = read_frame(ctx.db.pool(), survey_id, lines).await?;
    blocking(move || {
        let _turn = turn;
        let FrameRead {
            ids,
            entries,
            mut hashes,
        } = frame;
        let placements = v2::run(&entries, &quotas, reserve_percent);
        let shared = if with_shared {
            let phones: Vec<_> = entries.iter().map(|e| e.phone).collect();
            v2::same_phone(&phones, &hashes)
        } else {
            HashMap::new()
        };
        let digest = v2::frame_digest(&mut hashes);
        Run {
            ids,
            entries,
            placements,
            digest,
            shared,
        }
    })
    .await
}

/// A pick to compare: group, area, band, kind, place in its list, frame person.
type PickKey = (RespondentGroup, i32, Option<Band>, PickKind, usize, i32);

fn pick_kind(outcome: Outcome) -> Option<PickKind> {
    match outcome {
        Outcome::Selected => Some(PickKind::Selected),
        Outcome::Reserve => Some(PickKind::Reserve),
        Outcome::Skipped | Outcome::NotDrawn => None,
    }
}

/// The run's picks: (stratum index, kind, place, frame person id), in stratum, kind and place
/// order.
fn run_picks(run: &Run) -> Vec<(u32, PickKind, u32, i32)> {
    let mut picks: Vec<(u32, PickKind, u32, i32)> = (run.placements.iter().enumerate())
        .filter_map(|(i, p)| {
            pick_kind(p.outcome).map(|k| (run.entries[i].stratum, k, p.place, run.ids[i]))
        })
        .collect();
    picks.sort_unstable();
    picks
}

/// How a draw is to be made.
#[derive(Debug, Clone)]
pub enum SeedChoice {
    /// Renke draws a random 64-bit number.
    Random,
    Given(Seed),
}

/// Draws a draft survey's sample from its rosters with `renke-draw-v2` and records it; earlier
/// draws are superseded.
pub async fn draw(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    seed: SeedChoice,
) -> Result<Draw, AppError> {
    draw_with(ctx, actor, id, seed, Algorithm::V2).await
}

/// Draws with a given version of the algorithm (v1 only to reproduce how earlier draws were
/// made; a v1 seed must be a 64-bit number).
pub async fn draw_with(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    seed: SeedChoice,
    algorithm: Algorithm,
) -> Result<Draw, AppError> {
    let survey = draft(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let full = load_plan(db, &survey).await?;
    if full.geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let fingerprint = store::frames::fingerprint(db, survey.id).await?;
    let frame_size = store::frames::group_sizes(db, survey.id)
        .await?
        .values()
        .flatten()
        .sum::<u64>();
    if frame_size == 0 {
        return Err(AppError::Conflict("还没有上传任何名册".into()));
    }
    let recorded = full.recorded_quotas();
    let quotas = stratum_quotas(&recorded, &full.geo);
    let seed = match seed {
        SeedChoice::Random => Seed::random(rand::rng().random()),
        SeedChoice::Given(s) => s,
    };
    let percent = draw::DEFAULT_RESERVE_PERCENT;
    let (frame_digest, picks) = match algorithm {
        Algorithm::V2 => {
            let lines = Arc::new(Lines::new(full.geo.clone(), &quotas, &seed.text));
            let counts = quotas.iter().map(|(_, q)| *q).collect();
            let run = run_v2(ctx, survey.id, &lines, counts, percent, false).await?;
            let picked = run_picks(&run);
            let ids: Vec<i32> = picked.iter().map(|p| p.3).collect();
            let people: HashMap<i32, Person> = store::frames::by_ids(db, survey.id, &ids)
                .await?
                .into_iter()
                .map(|p| (p.id, p))
                .collect();
            let mut picks = Vec::with_capacity(picked.len());
            for (stratum, kind, place, person) in picked {
                let p = people
                    .get(&person)
                    .ok_or_else(|| AppError::Conflict("名册刚被修改，请重新抽样".into()))?;
                let stratum = quotas[stratum as usize].0;
                picks.push(pick(p, stratum, kind, place as usize));
            }
            (run.digest, picks)
        }
        Algorithm::V1 => {
            let number = seed
                .number()
                .ok_or_else(|| AppError::invalid("seed", "renke-draw-v1 的种子须为整数"))?;
            run_v1(db, survey.id, &full.geo, quotas, number, percent).await?
        }
    };
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
            frame_digest,
            algorithm,
            reserve_percent: percent,
            quotas: recorded,
            frame_size: frame_size as usize,
            frame_fingerprint: fingerprint,
            geography: full.geo.clone(),
            created_by: actor.user_id(),
            created_by_name: actor.name().to_owned(),
            picks,
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, draw = stored.id, user = ?actor.user_id(), "sample drawn");
    audit(
        ctx,
        actor,
        AuditAction::Drew,
        &format!("survey {}", survey.id),
        &audit_detail(&stored),
    )
    .await;
    Ok(stored)
}

/// The audit entry's detail for a draw; the certificate finds the entry by its start.
fn audit_detail(d: &Draw) -> String {
    format!(
        "{}seed {:?} ({}) frame {} {}",
        audit_prefix(d.id),
        d.seed.text,
        d.seed.source.code(),
        d.frame_digest,
        d.version.name()
    )
}

fn audit_prefix(draw_id: i32) -> String {
    format!("draw {draw_id} ")
}

fn pick(p: &Person, stratum: Stratum, kind: PickKind, rank: usize) -> Pick {
    Pick {
        frame_person_id: p.id,
        external_id: p.external_id.clone(),
        group: stratum.group,
        area_id: p.area_id,
        school_id: p.school_id,
        band: stratum.band,
        grade: p.grade,
        kind,
        rank,
    }
}

/// A `renke-draw-v1` run over the stored frame: its digest and picks.
async fn run_v1(
    db: &store::Pool,
    survey_id: i32,
    geo: &Geography,
    quotas: Vec<(Stratum, u64)>,
    seed: u64,
    percent: u64,
) -> Result<(String, Vec<Pick>), AppError> {
    let people = store::frames::all(db, survey_id).await?;
    let (entries, persons) = v1_entries(&people, geo)?;
    let outcome = blocking(move || v1::draw(&entries, &quotas, seed, percent)).await?;
    let mut picks = Vec::new();
    for s in &outcome.strata {
        for (kind, list) in [
            (PickKind::Selected, &s.selected),
            (PickKind::Reserve, &s.reserves),
        ] {
            for (rank, &i) in list.iter().enumerate() {
                picks.push(pick(persons[i], s.stratum, kind, rank));
            }
        }
    }
    Ok((outcome.frame_digest, picks))
}

/// The v1 draw's view of the rosters, with each entry's person.
fn v1_entries<'a>(
    people: &'a [Person],
    geo: &Geography,
) -> Result<(Vec<v1::FrameEntry>, Vec<&'a Person>), AppError> {
    let mut entries = Vec::with_capacity(people.len());
    let mut persons = Vec::with_capacity(people.len());
    for p in people {
        let area = geo.area_index(p.area_id).ok_or_else(|| {
            AppError::internal(format!(
                "frame_person {}: area {} is not the survey's",
                p.id, p.area_id
            ))
        })?;
        entries.push(v1::FrameEntry {
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

/// Discards a draft survey's draw in force: it stops being in force, its invitations stop
/// working, its certificate stays (marked discarded); the rosters can be replaced and the sample
/// drawn again.
pub async fn discard(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    draw_id: i32,
) -> Result<Draw, AppError> {
    let survey = draft(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    draft_in(&txn, actor, id).await?;
    let found = store::draws::find(&txn, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if found.superseded {
        return Err(AppError::Conflict(
            "这次抽样已被取代或撤销，不能再撤销".into(),
        ));
    }
    if !store::draws::discard(&txn, survey.id, draw_id, actor.name()).await? {
        return Err(AppError::Conflict("抽样刚被修改，请刷新后重试".into()));
    }
    let discarded = store::draws::find(&txn, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, draw = draw_id, user = ?actor.user_id(), "draw discarded");
    audit(
        ctx,
        actor,
        AuditAction::DrawDiscarded,
        &format!("survey {}", survey.id),
        &format!("{}discarded", audit_prefix(draw_id)),
    )
    .await;
    Ok(discarded)
}

/// What changed since `draw` was made, read from the survey as it is now (empty: current).
pub(crate) async fn staleness_in(
    db: &impl store::Connection,
    survey: &Survey,
    draw: &Draw,
) -> Result<Vec<Staleness>, AppError> {
    let full = load_plan(db, survey).await?;
    let frame = store::frames::fingerprint(db, survey.id).await?;
    Ok(draw.staleness(frame, &full.geo, &full.recorded_quotas()))
}

/// The draw in force and what changed since it was made.
pub async fn current_with_staleness(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Option<(Draw, Vec<Staleness>)>, AppError> {
    let survey = visible(ctx, actor, id).await?;
    let db = ctx.db.pool();
    match store::draws::current(db, survey.id).await? {
        Some(d) => {
            let stale = staleness_in(db, &survey, &d).await?;
            Ok(Some((d, stale)))
        }
        None => Ok(None),
    }
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

/// What a draw certificate shows per stratum, in the plan's order.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateRow {
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub area: String,
    /// `1-3` as the frame line writes it; none for groups without bands.
    pub band: Option<String>,
    pub band_label: Option<String>,
    pub quota: u64,
    /// The reserves the rule asks for: ⌈quota × reserve percent / 100⌉.
    pub reserve_quota: u64,
    pub drawn: u64,
    pub reserves: u64,
}

/// A roster upload, as the audit trail recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct RosterUpload {
    pub at: DateTime<Utc>,
    pub group: RespondentGroup,
    pub group_label: &'static str,
    /// `N rows`.
    pub detail: String,
    pub by: String,
}

/// A draw with everything a re-run needs: its strata, the survey's other draws, and its place in
/// the audit trail.
pub struct Certificate {
    pub survey: Survey,
    pub draw: Draw,
    pub geo: Geography,
    pub rows: Vec<CertificateRow>,
    /// This draw's number among the survey's draws (1: the first).
    pub number: usize,
    /// Every draw of the survey, oldest first.
    pub all: Vec<Draw>,
    /// The roster uploads before the draw, oldest first: when each group's frame was fixed (a
    /// public seed published after them cannot have been chosen knowing the frame's hashes).
    pub roster_uploads: Vec<RosterUpload>,
    /// Groups with no roster when it was drawn: nobody of theirs was drawn.
    pub missing_groups: Vec<RespondentGroup>,
    /// The audit entry that recorded this draw (none for a draw whose entry could not be
    /// written), and the newest entry of the trail.
    pub audit_entry: Option<AuditEntry>,
    pub audit_head: Option<AuditEntry>,
    /// How many entries the trail's anchor records (none: pending or missing).
    pub audit_entries: Option<i64>,
    /// For the draw in force: what changed since it was made (empty: it is current).
    pub stale: Vec<Staleness>,
}

impl Certificate {
    /// The survey's draws before this one, oldest first.
    pub fn earlier(&self) -> &[Draw] {
        &self.all[..self.number - 1]
    }

    /// The draw that replaced this one, if any (a discarded draw was replaced by none).
    pub fn superseded_by(&self) -> Option<&Draw> {
        if self.draw.discarded.is_some() {
            return None;
        }
        self.all.get(self.number)
    }
}

/// A survey the actor may see, one of its draws, and its areas and schools as they were when it
/// was drawn (as they are now for a draw made before they were recorded).
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
    let geo = match &stored.geography {
        Some(geo) => geo.clone(),
        None => store::geography::load(db, survey.id).await?,
    };
    Ok((survey, stored, geo))
}

/// A draw of a survey the actor may see, with its certificate.
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
    let mut quotas = stored.quotas.clone();
    quotas.sort_by_key(|q| (q.group, geo.area_index(q.area_id), q.band));
    let rows = quotas
        .iter()
        .map(|q| {
            let (drawn, reserves) = counts
                .get(&(q.group, q.area_id, q.band))
                .copied()
                .unwrap_or_default();
            let grades = q.band.and_then(|b| b.grades(q.group));
            CertificateRow {
                group: q.group,
                group_label: q.group.label(),
                area: geo.area_name(q.area_id).to_owned(),
                band: grades.map(v2::band_text),
                band_label: grades.map(|g| g.label()),
                quota: q.quota,
                reserve_quota: v2::reserve_quota(q.quota, stored.reserve_percent),
                drawn,
                reserves,
            }
        })
        .collect();
    let mut all = store::draws::list(db, survey.id).await?;
    all.sort_by_key(|d| d.id);
    let number = all.iter().filter(|d| d.id < stored.id).count() + 1;
    let uploads = store::audit::with_subject_prefix(
        db,
        AuditAction::RosterUploaded,
        &format!("survey {} ", survey.id),
        1_000,
    )
    .await?;
    let roster_uploads = uploads
        .into_iter()
        .filter_map(|e| {
            let at = DateTime::parse_from_rfc3339(&e.at)
                .ok()?
                .with_timezone(&Utc);
            let group = e.subject.rsplit(' ').next()?.parse().ok()?;
            (at <= stored.created_at).then(|| RosterUpload {
                at,
                group,
                group_label: RespondentGroup::label(group),
                detail: e.detail,
                by: e.actor,
            })
        })
        .collect();
    let missing_groups = RespondentGroup::ALL
        .into_iter()
        .filter(|g| stored.quotas.iter().all(|q| q.group != *g))
        .collect();
    let subject = format!("survey {}", survey.id);
    let audit_entry =
        store::audit::find(db, AuditAction::Drew, &subject, &audit_prefix(stored.id)).await?;
    let audit_head = store::audit::recent(db, 1).await?.into_iter().next();
    let audit_entries = store::audit::anchor(db).await?.map(|(n, _)| n);
    let stale = if stored.superseded {
        Vec::new()
    } else {
        staleness_in(db, &survey, &stored).await?
    };
    Ok(Certificate {
        stale,
        survey,
        draw: stored,
        geo,
        rows,
        number,
        all,
        roster_uploads,
        missing_groups,
        audit_entry,
        audit_head,
        audit_entries,
    })
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub identical: bool,
    pub frame_digest_matches: bool,
    pub recorded_digest: String,
    pub current_digest: String,
    pub algorithm: &'static str,
}

/// Re-runs a draw from the stored frame with its recorded algorithm and seed and compares it
/// with what was recorded.
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
    let quotas = stratum_quotas(&stored.quotas, &geo);
    let percent = stored.reserve_percent;
    let (digest, rerun): (String, HashSet<PickKey>) = match stored.version {
        Algorithm::V2 => {
            let lines = Arc::new(Lines::new(geo.clone(), &quotas, &stored.seed.text));
            let counts = quotas.iter().map(|(_, q)| *q).collect();
            let run = run_v2(ctx, survey.id, &lines, counts, percent, false).await?;
            let mut rerun = HashSet::new();
            for (stratum, kind, place, person) in run_picks(&run) {
                let s = quotas[stratum as usize].0;
                let key = (
                    s.group,
                    geo.area_ids[s.area],
                    s.band,
                    kind,
                    place as usize,
                    person,
                );
                rerun.insert(key);
            }
            (run.digest, rerun)
        }
        Algorithm::V1 => {
            let seed = stored.seed.number().ok_or_else(|| {
                AppError::internal(format!("draw {}: v1 seed is not a number", stored.id))
            })?;
            let (digest, picks) = run_v1(db, survey.id, &geo, quotas, seed, percent).await?;
            let rerun = (picks.into_iter())
                .map(|p| {
                    (
                        p.group,
                        p.area_id,
                        p.band,
                        p.kind,
                        p.rank,
                        p.frame_person_id,
                    )
                })
                .collect();
            (digest, rerun)
        }
    };
    let mut recorded = HashSet::new();
    for p in store::draws::picks(db, stored.id).await? {
        let person = p.frame_person_id.unwrap_or(-1);
        recorded.insert((p.group, p.area_id, p.band, p.kind, p.rank, person));
    }
    let digest_ok = digest == stored.frame_digest;
    Ok(Verification {
        identical: digest_ok && rerun == recorded,
        frame_digest_matches: digest_ok,
        recorded_digest: stored.frame_digest.clone(),
        current_digest: digest,
        algorithm: stored.version.name(),
    })
}

/// Rows of `lines.csv`, a page at a time.
pub type LinePages =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Vec<v2::LineRow>, AppError>> + Send>>;

/// A v2 draw's frame lines, as an auditor gets them: no names, no phones.
pub struct DrawLines {
    pub survey_id: i32,
    pub draw_id: i32,
    pub pages: LinePages,
}

/// Every person of a v2 draw's frame with their line hash, rank key, outcome and rank: the
/// frame is run again (its digest must still be the recorded one) and then read a second time
/// to write the lines, group by group (parents first), each roster in its file's order.
pub async fn lines(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    draw_id: i32,
) -> Result<DrawLines, AppError> {
    let (survey, stored, geo) = draw_of(ctx, actor, id, draw_id).await?;
    actor.require_organizer()?;
    if stored.version != Algorithm::V2 {
        return Err(AppError::Conflict(format!(
            "这次抽样用的是 {}，没有逐行清单；请用“复核”重新抽样比对",
            stored.version.name()
        )));
    }
    if survey.purged_at.is_some() {
        return Err(AppError::Conflict("名册已清除，无法导出抽样清单".into()));
    }
    let db = ctx.db.pool().clone();
    let quotas = stratum_quotas(&stored.quotas, &geo);
    let lines = Arc::new(Lines::new(geo, &quotas, &stored.seed.text));
    let counts = quotas.iter().map(|(_, q)| *q).collect();
    let run = run_v2(ctx, survey.id, &lines, counts, stored.reserve_percent, true).await?;
    if run.digest != stored.frame_digest {
        return Err(AppError::Conflict(
            "名册已不是抽样时的名册（摘要不同），无法导出抽样清单".into(),
        ));
    }
    let state = Arc::new(LineState {
        lines,
        ids: run.ids,
        phones: run.entries.iter().map(|e| e.phone).collect(),
        shared: run.shared,
        placements: run.placements,
    });
    audit(
        ctx,
        actor,
        AuditAction::DrawLinesExported,
        &format!("survey {}", survey.id),
        &format!("draw {}", stored.id),
    )
    .await;
    let survey_id = survey.id;
    let pages = futures_util::stream::try_unfold(
        (0usize, Cursor::default(), db, state),
        move |(done, mut cursor, db, state)| async move {
            let Some(page) = cursor.next(&db, survey_id).await? else {
                if done != state.ids.len() {
                    return Err(changed());
                }
                return Ok(None);
            };
            let s = state.clone();
            let rows = blocking(move || s.rows(done, &page)).await??;
            let n = rows.len();
            Ok(Some((rows, (done + n, cursor, db, state))))
        },
    );
    Ok(DrawLines {
        survey_id,
        draw_id: stored.id,
        pages: Box::pin(pages),
    })
}

fn changed() -> AppError {
    AppError::Conflict("名册在导出时被修改".into())
}

/// What writing the lines needs after the run.
struct LineState {
    lines: Arc<Lines>,
    ids: Vec<i32>,
    phones: Vec<v2::PhoneKey>,
    shared: HashMap<v2::PhoneKey, Hash>,
    placements: Vec<Placement>,
}

impl LineState {
    /// The rows of a page whose first person is the run's `from`-th.
    fn rows(&self, from: usize, page: &[Person]) -> Result<Vec<v2::LineRow>, AppError> {
        let mut rows = Vec::with_capacity(page.len());
        for (i, p) in (from..).zip(page) {
            if self.ids.get(i) != Some(&p.id) {
                return Err(changed());
            }
            let stratum = self.lines.stratum(p)?;
            let line = self.lines.line(p, stratum);
            let hash = line.hash();
            let placement = self.placements[i];
            rows.push(v2::LineRow {
                group: p.group.code().to_owned(),
                area: line.area.to_owned(),
                band: line.band.map(v2::band_text).unwrap_or_default(),
                external_id: p.external_id.clone(),
                line_hash: hex::encode(hash),
                rank_key: hex::encode(v2::rank_key(&self.lines.seed, &hash)),
                same_phone: (self.shared.get(&self.phones[i]))
                    .map(hex::encode)
                    .unwrap_or_default(),
                outcome: placement.outcome.label().to_owned(),
                rank: placement.rank.to_string(),
            });
        }
        Ok(rows)
    }
}

/// Re-runs a v2 draw offline, as `docs/verify_draw.py` does, from the certificate's JSON, the
/// bytes of `lines.csv` and, optionally, rosters as they were uploaded (each person's line hash
/// is then recomputed). `Ok(Ok(n))`: identical, `n` lines; `Ok(Err(difference))`: the first
/// difference; `Err`: a file that cannot be read as what it should be.
pub fn check_files(
    certificate: &[u8],
    lines: &[u8],
    rosters: &[(RespondentGroup, Vec<u8>)],
) -> Result<Result<usize, String>, String> {
    let facts: v2::CertificateFacts =
        serde_json::from_slice(certificate).map_err(|e| format!("certificate: {e}"))?;
    // As the script reads it: UTF-8 with or without a BOM, else GBK (a file Excel saved again).
    let text = crate::domain::frame::decode(lines).map_err(|_| "lines: not text".to_owned())?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<v2::LineRow> = reader
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("lines: {e}"))?;
    if let Err(difference) = v2::check(&facts, &rows) {
        return Ok(Err(difference));
    }
    if rosters.is_empty() {
        return Ok(Ok(rows.len()));
    }
    // Class and population do not matter to reading a roster: only names do.
    let areas: Vec<strata::Area> = (facts.areas.iter())
        .map(|a| strata::Area {
            name: a.name.clone(),
            class: strata::AreaClass::Urban,
            population: 1,
        })
        .collect();
    let mut schools = Vec::with_capacity(facts.schools.len());
    for s in &facts.schools {
        let area = (areas.iter())
            .position(|a| a.name == s.area)
            .ok_or_else(|| format!("certificate: school {} in no area", s.name))?;
        schools.push(crate::domain::frame::School {
            name: s.name.clone(),
            area,
        });
    }
    let mut parsed = Vec::with_capacity(rosters.len());
    for (group, bytes) in rosters {
        let refused = |e: crate::domain::frame::RosterErrors| {
            let first = e.errors.first();
            format!(
                "{} roster: {} error(s), line {}: {}",
                group.code(),
                e.total,
                first.map_or(0, |r| r.line),
                first.map_or("", |r| r.message.as_str())
            )
        };
        let text = crate::domain::frame::decode(bytes).map_err(refused)?;
        let people = crate::domain::frame::parse_roster(*group, &text, &areas, &schools)
            .map_err(refused)?
            .rows;
        parsed.push((*group, people));
    }
    let frame_lines: Vec<(RespondentGroup, Vec<FrameLine>)> = parsed
        .iter()
        .map(|(group, people)| {
            let lines = people
                .iter()
                .map(|p| FrameLine {
                    group: *group,
                    area: &areas[p.area].name,
                    band: (p.grade)
                        .and_then(|g| strata::band_of(*group, g))
                        .and_then(|b| b.grades(*group)),
                    school: p.school.map(|s| schools[s].name.as_str()),
                    grade: p.grade,
                    external_id: &p.external_id,
                    phone: p.phone.as_deref(),
                })
                .collect();
            (*group, lines)
        })
        .collect();
    if let Err(difference) = v2::check_rosters(&frame_lines, &rows) {
        return Ok(Err(difference));
    }
    Ok(Ok(rows.len()))
}
