//! Answering: what an invitation link or an open channel leads to, and storing a submitted
//! questionnaire — its response, its invitation's answered mark or its channel's place, its
//! receipt and its aggregates — through the group-commit writer.
//!
//! What respondents' requests need to know about a survey (its settings and status, the
//! county's name, the questionnaires in use, the areas, the open channels' quotas) is kept in
//! memory for a second, so a questionnaire page costs one query (the invitation) instead of
//! six. Settings, questionnaires and quotas cannot change once a survey is open; only its
//! status can. An entry is forgotten at once when this server changes the survey; another
//! server's change is seen within the second, and the writer checks the status again at
//! commit, so no answer lands in a closed survey.
use super::Context;
use crate::domain::geography::{AreaScope, Geography};
use crate::domain::group::{Booklet, RespondentGroup};
use crate::domain::integrity;
use crate::domain::invitation::{Invitation, InvitationStatus};
use crate::domain::places::{self, PlaceErrors, Places, Questions};
use crate::domain::questionnaire::{AnswerErrors, Answers, Questionnaire};
use crate::domain::release::{self, OwnCells, ReleaseCell};
use crate::domain::response::{AddressLimit, Claim, NewResponse, Source, Verdict, hour_of};
use crate::domain::strata::Band;
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, submissions::Submission};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a survey's entry is reused before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// A survey as respondents' requests see it.
pub struct LiveSurvey {
    pub survey: Survey,
    pub county: String,
    booklets: Vec<(Booklet, i32)>,
    geo: Geography,
    /// The cells whose answers are released school by school.
    own: OwnCells,
    /// Set once this server has made sure the survey's places are stored (surveys opened
    /// before places were kept get theirs on first need).
    places: OnceCell<()>,
}

impl LiveSurvey {
    async fn load(db: &store::Pool, id: i32) -> Result<Option<LiveSurvey>, AppError> {
        let Some(survey) = store::surveys::find(db, id, None).await? else {
            return Ok(None);
        };
        let county = store::counties::find(db, survey.county_id)
            .await?
            .ok_or_else(|| {
                AppError::internal(format!("survey {id}: county {} missing", survey.county_id))
            })?
            .name;
        Ok(Some(LiveSurvey {
            county,
            booklets: store::questionnaires::in_use(db, id).await?,
            geo: store::geography::load(db, id).await?,
            own: store::releases::own_cells(db, id).await?,
            survey,
            places: OnceCell::new(),
        }))
    }

    /// The questionnaire version the survey uses for a booklet.
    pub fn questionnaire_id(&self, booklet: Booklet) -> Result<i32, AppError> {
        self.booklets
            .iter()
            .find(|(b, _)| *b == booklet)
            .map(|(_, id)| *id)
            .ok_or_else(|| {
                AppError::internal(format!("survey {}: {booklet:?} not in use", self.survey.id))
            })
    }

    /// The survey's areas, by id and name (what a wide channel asks its respondents to choose).
    pub fn areas(&self) -> impl Iterator<Item = (i32, &str)> {
        self.geo
            .area_ids
            .iter()
            .zip(&self.geo.areas)
            .map(|(id, a)| (*id, a.name.as_str()))
    }

    /// The survey's places; stored first if it opened before places were kept.
    async fn places(&self, ctx: &Context) -> Result<Vec<Places>, AppError> {
        let db = ctx.db.pool();
        self.places
            .get_or_try_init(|| async {
                if !store::places::exist(db, self.survey.id).await? {
                    let plan = super::sampling::load_plan(db, &self.survey).await?;
                    let invitations =
                        store::invitations::counts_by_stratum(db, self.survey.id, false).await?;
                    let places = places::at_opening(&plan, &invitations);
                    let txn = store::begin_write(&ctx.db).await?;
                    store::places::create_missing(&txn, self.survey.id, &places).await?;
                    txn.commit().await?;
                }
                Ok::<_, AppError>(())
            })
            .await?;
        Ok(store::places::load(db, self.survey.id).await?)
    }
}

/// Live surveys by id, each kept for [`FRESH_FOR`].
pub(super) struct LiveSurveys(moka::future::Cache<i32, Option<Arc<LiveSurvey>>>);

impl LiveSurveys {
    pub(super) fn new() -> LiveSurveys {
        LiveSurveys(
            moka::future::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(FRESH_FOR)
                .build(),
        )
    }

    /// The survey as respondents' requests see it; `None` if there is no such survey.
    async fn get(&self, db: &store::Pool, id: i32) -> Result<Option<Arc<LiveSurvey>>, AppError> {
        self.0
            .try_get_with(id, async {
                Ok::<_, AppError>(LiveSurvey::load(db, id).await?.map(Arc::new))
            })
            .await
            .map_err(|e| super::copy(&e))
    }

    /// Forgets a survey this server just changed, so the next request reads it afresh.
    pub(super) async fn forget(&self, id: i32) {
        self.0.invalidate(&id).await;
    }
}

/// Pending invitations whose questionnaire this server has just shown, so the submission that
/// follows need not read the invitation again: its survey, group and stratum cannot change, and
/// whether it is still pending is settled by the writer at commit. Bounded; a miss only costs
/// the read.
pub(super) struct ShownInvitations(moka::sync::Cache<i32, Arc<Invitation>>);

impl ShownInvitations {
    pub(super) fn new() -> ShownInvitations {
        ShownInvitations(
            moka::sync::Cache::builder()
                .max_capacity(20_000)
                .time_to_idle(Duration::from_secs(2 * 3_600))
                .build(),
        )
    }
}

/// Why a respondent cannot answer (each has its own page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such link, or withdrawn.
    InvalidLink,
    /// Withdrawn because a reserve was invited in its place.
    Replaced,
    /// This invitation (or this browser, for a channel) has answered.
    Answered,
    NotYetOpen,
    Closed,
    /// The strata the channel feeds have no place left (or the respondent's has none).
    QuotaFull,
    /// The organiser stopped the channel collecting answers.
    ChannelClosed,
    /// Its client address has given too many answers today.
    TooMany,
}

/// Where a respondent came from, and what their response records of it. An open channel's
/// respondent gives the rest of their stratum on the form (see [`Origin::questions`]).
#[derive(Debug, Clone)]
pub struct Origin {
    pub group: RespondentGroup,
    pub area: AreaScope,
    pub school: Option<i32>,
    pub band: Option<Band>,
    pub source: Source,
    /// What the form asks to place the answer (nothing for an invitation).
    pub questions: Questions,
    /// The invitation it answers, if it does.
    invitation: Option<i32>,
    /// The open channel it came through, if it did.
    channel: Option<i32>,
}

impl Origin {
    /// An invitation's answer, given through its link or by telephone: its stratum is the
    /// invitation's, nothing is asked to place it.
    fn of_invitation(inv: &Invitation, source: Source) -> Origin {
        Origin {
            group: inv.group,
            area: AreaScope::Area(inv.area_id),
            school: inv.school_id,
            band: inv.band,
            source,
            questions: Questions {
                area: false,
                grade: false,
            },
            invitation: Some(inv.id),
            channel: None,
        }
    }
}

/// A link that leads to a questionnaire: the survey, who answers, and on which version.
pub struct Answering {
    pub live: Arc<LiveSurvey>,
    pub origin: Origin,
    pub questionnaire: Arc<Questionnaire>,
}

/// What a link leads to.
pub enum Target {
    Ready(Answering),
    Refused(Refusal),
}

/// Whether a survey takes answers at `now`.
pub fn answering_state(survey: &Survey, now: DateTime<Utc>) -> Result<(), Refusal> {
    let w = &survey.settings.window;
    match survey.status {
        SurveyStatus::Draft => Err(Refusal::NotYetOpen),
        SurveyStatus::Closed => Err(Refusal::Closed),
        SurveyStatus::Open if w.opens_at.is_some_and(|t| now < t) => Err(Refusal::NotYetOpen),
        SurveyStatus::Open if w.closes_at.is_some_and(|t| now >= t) => Err(Refusal::Closed),
        SurveyStatus::Open => Ok(()),
    }
}

async fn ready(ctx: &Context, live: Arc<LiveSurvey>, origin: Origin) -> Result<Target, AppError> {
    let id = live.questionnaire_id(origin.group.booklet())?;
    let questionnaire = ctx.questionnaire(id).await?;
    Ok(Target::Ready(Answering {
        live,
        origin,
        questionnaire,
    }))
}

/// What an invitation's token leads to. For a submission (`submitting`), an invitation whose
/// page this server just showed is taken from memory: the writer re-checks it at commit.
pub async fn invitation(ctx: &Context, token: &str, submitting: bool) -> Result<Target, AppError> {
    let db = ctx.db.pool();
    let id = ctx
        .tokens
        .verify(token)
        .and_then(|id| i32::try_from(id).ok());
    let shown = id
        .filter(|_| submitting)
        .and_then(|id| ctx.shown.0.get(&id));
    let found = match (shown, id) {
        (Some(inv), _) => Some(inv),
        (None, Some(id)) => store::invitations::find(db, i64::from(id))
            .await?
            .map(Arc::new),
        (None, None) => None,
    };
    let Some(inv) = found else {
        return Ok(Target::Refused(Refusal::InvalidLink));
    };
    let live = match answerable(ctx, &inv).await? {
        Ok(live) => live,
        Err(r) => return Ok(Target::Refused(r)),
    };
    if !submitting {
        ctx.shown.0.insert(inv.id, inv.clone());
    }
    ready(ctx, live, Origin::of_invitation(&inv, Source::Invitation)).await
}

/// A drawn person's invitation answered on their behalf — by an interviewer on the telephone,
/// or by operators from a paper booklet printed for them: the same checks as their link
/// (pending, the survey taking answers), the answer stored as the invitation's with `source`.
pub async fn on_behalf(
    ctx: &Context,
    invitation_id: i32,
    source: Source,
) -> Result<Target, AppError> {
    let Some(inv) = store::invitations::find(ctx.db.pool(), i64::from(invitation_id)).await? else {
        return Ok(Target::Refused(Refusal::InvalidLink));
    };
    match answerable(ctx, &inv).await? {
        Ok(live) => ready(ctx, live, Origin::of_invitation(&inv, source)).await,
        Err(r) => Ok(Target::Refused(r)),
    }
}

/// An invitation's survey if the invitation may be answered now: not withdrawn (a reserve's
/// replacement, or not), not answered, and its survey taking answers.
async fn answerable(
    ctx: &Context,
    inv: &Invitation,
) -> Result<Result<Arc<LiveSurvey>, Refusal>, AppError> {
    let refused = match inv.status {
        InvitationStatus::Revoked if inv.replaced_by.is_some() => Some(Refusal::Replaced),
        InvitationStatus::Revoked => Some(Refusal::InvalidLink),
        InvitationStatus::Answered => Some(Refusal::Answered),
        InvitationStatus::Pending => None,
    };
    if let Some(r) = refused {
        return Ok(Err(r));
    }
    let live = ctx
        .live
        .get(ctx.db.pool(), inv.survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(answering_state(&live.survey, Utc::now()).map(|()| live))
}

/// A paper booklet of a print run for `group` in `area` (a school's, or the whole county):
/// its answer takes a free place in the stratum it gives, asking the area and grade as an
/// open channel of the same scope would.
pub async fn on_paper(
    ctx: &Context,
    survey_id: i32,
    group: RespondentGroup,
    area: Option<i32>,
    school: Option<i32>,
) -> Result<Target, AppError> {
    let live = ctx
        .live
        .get(ctx.db.pool(), survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(r) = answering_state(&live.survey, Utc::now()) {
        return Ok(Target::Refused(r));
    }
    let origin = paper_origin(&live.geo, group, area, school);
    ready(ctx, live, origin).await
}

fn paper_origin(
    geo: &Geography,
    group: RespondentGroup,
    area: Option<i32>,
    school: Option<i32>,
) -> Origin {
    let cell = AreaScope::of(area.or_else(|| school.and_then(|s| geo.area_of_school(s))));
    Origin {
        group,
        area: cell,
        school,
        band: None,
        source: Source::Paper,
        questions: Questions::for_channel(geo, group, cell),
        invitation: None,
        channel: None,
    }
}

/// A paper booklet printed for drawn people: their stratum is known, nothing is asked.
fn drawn_paper_origin(
    geo: &Geography,
    group: RespondentGroup,
    area: Option<i32>,
    school: Option<i32>,
) -> Origin {
    Origin {
        questions: Questions {
            area: false,
            grade: false,
        },
        ..paper_origin(geo, group, area, school)
    }
}

/// A paper booklet's questionnaire for printing, whether or not the survey takes answers yet
/// (read afresh: a draft's questionnaire choice may have just changed). Nothing is stored.
pub async fn paper_preview(
    ctx: &Context,
    survey_id: i32,
    group: RespondentGroup,
    area: Option<i32>,
    school: Option<i32>,
    drawn: bool,
) -> Result<Answering, AppError> {
    let live = Arc::new(
        LiveSurvey::load(ctx.db.pool(), survey_id)
            .await?
            .ok_or(AppError::NotFound)?,
    );
    let origin = if drawn {
        drawn_paper_origin(&live.geo, group, area, school)
    } else {
        paper_origin(&live.geo, group, area, school)
    };
    match ready(ctx, live, origin).await? {
        Target::Ready(a) => Ok(a),
        Target::Refused(_) => Err(AppError::NotFound),
    }
}

/// What an open channel's code leads to.
pub async fn channel(ctx: &Context, code: &str) -> Result<Target, AppError> {
    let db = ctx.db.pool();
    let Some(ch) = store::channels::find_by_code(db, code).await? else {
        return Ok(Target::Refused(Refusal::InvalidLink));
    };
    let live = ctx
        .live
        .get(db, ch.survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(r) = answering_state(&live.survey, Utc::now()) {
        return Ok(Target::Refused(r));
    }
    if ch.closed_at.is_some() {
        return Ok(Target::Refused(Refusal::ChannelClosed));
    }
    let cell = ch.cell(&live.geo);
    let free = live
        .places(ctx)
        .await?
        .iter()
        .any(|p| places::feeds(ch.group, cell, &p.key) && p.left() > 0);
    if !free {
        return Ok(Target::Refused(Refusal::QuotaFull));
    }
    let origin = Origin {
        group: ch.group,
        area: cell,
        school: ch.school_id,
        band: None,
        source: Source::OpenChannel,
        questions: Questions::for_channel(&live.geo, ch.group, cell),
        invitation: None,
        channel: Some(ch.id),
    };
    ready(ctx, live, origin).await
}

/// A questionnaire form as the server issued it: its one-time nonce (a retried submit of the
/// same form stores nothing new) and when it was served (the completion time). Both travel in
/// one hidden field, signed together with the link the form belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedForm {
    pub nonce: String,
    pub started: DateTime<Utc>,
}

/// Issues a form for the link `path`: `{nonce}.{served at, Unix seconds}.{signature}`.
pub fn issue_form(ctx: &Context, path: &str) -> String {
    let nonce = super::accounts::random_token()[..22].to_owned();
    let started = Utc::now().timestamp().to_string();
    let signature = ctx.forms.sign(&[path, &nonce, &started]);
    format!("{nonce}.{started}.{signature}")
}

/// The form a submission to `path` carries, if the server issued it for that link.
pub fn read_form(ctx: &Context, path: &str, token: &str) -> Option<IssuedForm> {
    let mut parts = token.splitn(3, '.');
    let (nonce, started, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if nonce.len() != 22 || !ctx.forms.signed(&[path, nonce, started], signature) {
        return None;
    }
    Some(IssuedForm {
        nonce: nonce.to_owned(),
        started: DateTime::<Utc>::from_timestamp(started.parse().ok()?, 0)?,
    })
}

/// A filled-in questionnaire as it arrived.
pub struct FilledForm<'a> {
    /// The form the server issued for it.
    pub issued: &'a IssuedForm,
    /// Every other field: item id → option code, and `comment`.
    pub fields: &'a [(String, String)],
    /// The area and grade an open channel's respondent chose, where the form asked.
    pub area: Option<i32>,
    pub grade: Option<u8>,
    /// The client's address (an open channel's answers are counted per address).
    pub from: Option<std::net::IpAddr>,
}

/// Why a form is shown again: items left out (or a comment too long), or the respondent's
/// area or grade missing.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub answers: AnswerErrors,
    pub place: PlaceErrors,
}

/// What became of a submission.
pub enum Outcome {
    Stored,
    /// Stored apart, counted nowhere until an organiser accepts it (its address had given
    /// many answers this hour).
    Held,
    /// The same submission came again (a retry): nothing new is stored.
    Repeated,
    Refused(Refusal),
    /// The stratum the respondent gave (its 乡镇/街道, grade band, or both, named) has no
    /// place left: nothing is stored.
    PlaceTaken(String),
    /// Fields or codes the form never sends: not made by our form.
    Tampered,
    /// Items left out, a comment too long, an area or grade not given: shown again with the
    /// answers kept.
    Incomplete(FormErrors),
}

/// A client address as it is counted: a keyed hash, so the address itself is never stored.
fn address_key(ctx: &Context, from: Option<std::net::IpAddr>) -> String {
    from.map_or_else(
        || "unknown".to_owned(),
        |ip| ctx.addresses.sign(&[&ip.to_string()]),
    )
}

fn nonce_hash(nonce: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(nonce.as_bytes()))
}

/// Where a checked form's answer goes: its claim and the stratum it records.
type Placed = (Claim, AreaScope, Option<Band>);

/// The answers and the place a form takes, or what to answer instead (a tampered or
/// incomplete form).
#[allow(clippy::result_large_err)]
fn checked(answering: &Answering, form: &FilledForm<'_>) -> Result<(Answers, Placed), Outcome> {
    let def = &answering.questionnaire.definition;
    let (live, origin) = (&answering.live, &answering.origin);
    let answers = def.parse_answers(form.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Err(e) = &answers
        && e.is_tampered()
    {
        return Err(Outcome::Tampered);
    }
    // An open channel's (or a paper booklet's) answer takes a place in the stratum its
    // respondent gives.
    let place = match origin.invitation {
        Some(id) => Ok((Claim::Invitation(id), origin.area, origin.band)),
        None => places::place_of(&live.geo, origin.group, origin.area, form.area, form.grade)
            .map(|key| (Claim::Place(key), key.area, key.band)),
    };
    match (answers, place) {
        (Ok(a), Ok(p)) => Ok((a, p)),
        (answers, place) => {
            let answers = match answers {
                Ok(a) => AnswerErrors {
                    partial: a.choices.iter().map(|&c| Some(c)).collect(),
                    ..Default::default()
                },
                Err(e) => e,
            };
            Err(Outcome::Incomplete(FormErrors {
                answers,
                place: place.err().unwrap_or_default(),
            }))
        }
    }
}

/// Whether the stratum a form would place its answer in is full: that stratum's name if it
/// has no free place left, `None` if it has one (or the answer takes an invitation's place, or
/// the form does not place it yet).
pub async fn place_full(
    ctx: &Context,
    answering: &Answering,
    area: Option<i32>,
    grade: Option<u8>,
) -> Result<Option<String>, AppError> {
    let (live, origin) = (&answering.live, &answering.origin);
    if origin.invitation.is_some() {
        return Ok(None);
    }
    let Ok(key) = places::place_of(&live.geo, origin.group, origin.area, area, grade) else {
        return Ok(None);
    };
    let places = live.places(ctx).await?;
    let left = places.iter().find(|p| p.key == key).map_or(0, Places::left);
    Ok((left == 0).then(|| {
        key.label(&live.geo)
            .unwrap_or_else(|| origin.group.label().into())
    }))
}

/// The free places an open channel (or a print run) of this scope could fill; `None` while the
/// survey has not opened (places are fixed at the opening).
pub async fn free_places(
    ctx: &Context,
    survey_id: i32,
    group: RespondentGroup,
    area: Option<i32>,
    school: Option<i32>,
) -> Result<Option<u64>, AppError> {
    let live = ctx
        .live
        .get(ctx.db.pool(), survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if live.survey.status == SurveyStatus::Draft {
        return Ok(None);
    }
    let cell = AreaScope::of(area.or_else(|| school.and_then(|s| live.geo.area_of_school(s))));
    Ok(Some(
        live.places(ctx)
            .await?
            .iter()
            .filter(|p| places::feeds(group, cell, &p.key))
            .map(Places::left)
            .sum(),
    ))
}

/// Checks a form as [`submit`] would, storing nothing: `None` when it would be stored (a
/// paper booklet's entry is checked when it is typed, and stored once it is entered twice).
pub fn check(answering: &Answering, form: &FilledForm<'_>) -> Option<Outcome> {
    checked(answering, form).err()
}

/// Checks the answers and, if complete, stores the response with its invitation's answered
/// mark or its channel's place, in one transaction. `at`: when it was submitted.
pub async fn submit(
    ctx: &Context,
    answering: &Answering,
    form: FilledForm<'_>,
    at: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let def = &answering.questionnaire.definition;
    let (live, origin) = (&answering.live, &answering.origin);
    let (answers, (claim, area, band)) = match checked(answering, &form) {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let seconds = (at - form.issued.started)
        .num_seconds()
        .clamp(0, i64::from(u32::MAX)) as u32;
    let pairs: Vec<(String, String)> = def
        .items
        .iter()
        .zip(&answers.choices)
        .map(|(item, &o)| (item.id.clone(), def.scale.options[o].code.clone()))
        .collect();
    let survey = &live.survey;
    let response = NewResponse {
        survey_id: survey.id,
        questionnaire_id: answering.questionnaire.id,
        booklet: origin.group.booklet(),
        group: origin.group,
        area,
        area_class: area.area().and_then(|a| live.geo.area_class(a)),
        school: origin.school,
        band,
        source: origin.source,
        channel: origin.channel,
        completion_seconds: seconds,
        // A paper booklet's time is not known (its entry's is the operator's).
        too_fast: origin.source != Source::Paper && def.too_fast(u64::from(seconds)),
        straight_lined: answers.straight_lined(),
        answers: pairs,
        comment: answers.comment.clone(),
        submitted_hour: hour_of(at),
    };
    let facts = response.facts();
    let cell = ReleaseCell::of(&facts, &live.own);
    let pattern = ctx
        .patterns
        .sign(&[&integrity::pattern_of(&response.answers)]);
    let tally = release::waiting_piece(&facts, def, &cell, Some(&pattern));
    let verdict = ctx
        .writer
        .submit(Submission {
            nonce_hash: nonce_hash(&form.issued.nonce),
            claim,
            response,
            cell: cell.key(),
            tally,
            closes_at: survey.settings.window.closes_at,
            limit: origin.channel.map(|_| AddressLimit {
                address: address_key(ctx, form.from),
                hold_after: ctx.hold_after,
                refuse_after: ctx.refuse_after,
            }),
        })
        .await?;
    if let Some(id) = origin.invitation {
        ctx.shown.0.invalidate(&id);
    }
    Ok(match verdict {
        Verdict::Stored => Outcome::Stored,
        Verdict::Repeated => Outcome::Repeated,
        Verdict::Answered => Outcome::Refused(Refusal::Answered),
        Verdict::Withdrawn => Outcome::Refused(Refusal::InvalidLink),
        Verdict::QuotaFull => match claim {
            Claim::Place(key) => key
                .label(&live.geo)
                .map_or(Outcome::Refused(Refusal::QuotaFull), Outcome::PlaceTaken),
            Claim::Invitation(_) => Outcome::Refused(Refusal::QuotaFull),
        },
        Verdict::Closed => Outcome::Refused(Refusal::Closed),
        Verdict::Held => Outcome::Held,
        Verdict::TooMany => Outcome::Refused(Refusal::TooMany),
    })
}

/// Whether a submission with this nonce was stored (so a retry of it is thanked again).
pub async fn was_stored(ctx: &Context, nonce: &str) -> Result<bool, AppError> {
    Ok(store::submissions::receipt_exists(ctx.db.pool(), &nonce_hash(nonce)).await?)
}

/// A booklet as a group's respondent would see it on an open channel of the whole county (the
/// area and grade asked), for an organiser's preview: nothing is issued or stored.
pub async fn preview(
    ctx: &Context,
    actor: &super::Actor<'_>,
    id: i32,
    group: RespondentGroup,
) -> Result<Answering, AppError> {
    let survey = super::surveys::organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    // Read afresh: a draft's questionnaire choice may have just changed.
    let live = Arc::new(
        LiveSurvey::load(db, survey.id)
            .await?
            .ok_or(AppError::NotFound)?,
    );
    let origin = Origin {
        group,
        area: AreaScope::WholeCounty,
        school: None,
        band: None,
        source: Source::OpenChannel,
        questions: Questions::for_channel(&live.geo, group, AreaScope::WholeCounty),
        invitation: None,
        channel: None,
    };
    match ready(ctx, live, origin).await? {
        Target::Ready(a) => Ok(a),
        Target::Refused(_) => Err(AppError::NotFound),
    }
}
