//! What respondents' requests need to know about a survey — its settings and status, the
//! county's name, the questionnaires in use, the areas' classes, the open channels' quotas —
//! kept in memory so a questionnaire page costs one query (the invitation) instead of six.
//!
//! Settings, questionnaires and quotas cannot change once a survey is open; only its status
//! can. An entry is therefore reused for at most [`FRESH_FOR`] and forgotten at once when this
//! server changes the survey. Another server's change is seen within that second, and the
//! submission writer checks the status again at commit, so no answer lands in a closed survey.
use super::sampling::FullPlan;
use super::templates::Spliced;
use crate::domain::group::{Booklet, RespondentGroup};
use crate::domain::survey::Survey;
use crate::error::AppError;
use crate::store;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long an entry is reused before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

pub struct LiveSurvey {
    pub survey: Survey,
    pub county: String,
    booklets: Vec<(Booklet, i32)>,
    geo: store::geography::Geography,
    /// The full plan, for open channels' quota cells; computed on first need.
    plan: OnceCell<FullPlan>,
    /// Blank questionnaire pages by group.
    forms: Mutex<HashMap<RespondentGroup, Arc<Spliced>>>,
    loaded: Instant,
    reloading: AtomicBool,
}

impl LiveSurvey {
    async fn load(db: &DatabaseConnection, id: i32) -> Result<Option<LiveSurvey>, AppError> {
        let Some(survey) = store::surveys::find(db, id, None).await? else {
            return Ok(None);
        };
        let county = store::counties::find(db, survey.county_id)
            .await?
            .map_or_else(String::new, |c| c.name);
        Ok(Some(LiveSurvey {
            county,
            booklets: store::questionnaires::in_use(db, id).await?,
            geo: store::geography::load(db, id).await?,
            survey,
            plan: OnceCell::new(),
            forms: Mutex::default(),
            loaded: Instant::now(),
            reloading: AtomicBool::new(false),
        }))
    }

    /// The questionnaire version the survey uses for a booklet.
    pub fn questionnaire_id(&self, booklet: Booklet) -> Result<i32, AppError> {
        self.booklets
            .iter()
            .find(|(b, _)| *b == booklet)
            .map(|(_, id)| *id)
            .ok_or_else(|| AppError::Internal("booklet not in use".into()))
    }

    /// The class (urban, town, rural…) of one of the survey's areas, as responses record it.
    pub fn area_class(&self, area_id: i32) -> Option<String> {
        self.geo
            .area_index(area_id)
            .map(|i| self.geo.areas[i].class.code().to_owned())
    }

    /// The blank questionnaire page of a group, rendered by `render` the first time.
    pub fn form(
        &self,
        group: RespondentGroup,
        render: impl FnOnce() -> Result<Spliced, tera::Error>,
    ) -> Result<Arc<Spliced>, AppError> {
        if let Some(page) = self.forms.lock().ok().and_then(|f| f.get(&group).cloned()) {
            return Ok(page);
        }
        let page = Arc::new(render()?);
        if let Ok(mut f) = self.forms.lock() {
            f.insert(group, page.clone());
        }
        Ok(page)
    }

    /// An open channel's quota cell (its area, 0 for the whole county) and that cell's quota.
    pub async fn channel_cell(
        &self,
        db: &DatabaseConnection,
        channel: &store::channels::ChannelRow,
    ) -> Result<(i32, u64), AppError> {
        let full = self
            .plan
            .get_or_try_init(|| FullPlan::load(db, &self.survey))
            .await?;
        let cell = super::sampling::channel_cell(&full.geo, channel);
        let group: RespondentGroup = channel
            .grp
            .parse()
            .map_err(|_| AppError::Internal(format!("channel {}: group", channel.id)))?;
        Ok((cell, full.cell_quota(group, (cell != 0).then_some(cell))))
    }
}

/// Pending invitations whose questionnaire this server has just shown, so the submission that
/// follows need not read the invitation again: its survey, group and stratum cannot change, and
/// whether it is still pending is settled by the writer at commit. Bounded; a miss only costs
/// the read.
#[derive(Default)]
pub struct ShownInvitations(Mutex<HashMap<i32, Arc<store::invitations::InvitationRow>>>);

impl ShownInvitations {
    const CAPACITY: usize = 20_000;

    pub fn remember(&self, invitation: &store::invitations::InvitationRow) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::CAPACITY {
                m.clear();
            }
            m.insert(invitation.id, Arc::new(invitation.clone()));
        }
    }

    pub fn get(&self, id: i32) -> Option<Arc<store::invitations::InvitationRow>> {
        self.0.lock().ok().and_then(|m| m.get(&id).cloned())
    }

    pub fn forget(&self, id: i32) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&id);
        }
    }
}

/// Live surveys by id.
#[derive(Default)]
pub struct SurveyCache(RwLock<HashMap<i32, Arc<LiveSurvey>>>);

impl SurveyCache {
    /// The survey as respondents' requests see it; `None` if there is no such survey.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        id: i32,
    ) -> Result<Option<Arc<LiveSurvey>>, AppError> {
        let cached = self.0.read().ok().and_then(|m| m.get(&id).cloned());
        if let Some(live) = &cached
            && (live.loaded.elapsed() < FRESH_FOR
                // Someone else is reading it again: the copy a moment old will do meanwhile.
                || live.reloading.swap(true, Ordering::AcqRel))
        {
            return Ok(cached);
        }
        let loaded = match LiveSurvey::load(db, id).await {
            Ok(l) => l.map(Arc::new),
            Err(e) => {
                if let Some(live) = &cached {
                    live.reloading.store(false, Ordering::Release);
                }
                return Err(e);
            }
        };
        if let Ok(mut m) = self.0.write() {
            match &loaded {
                Some(live) => m.insert(id, live.clone()),
                None => m.remove(&id),
            };
            // Surveys nobody has opened for a while are dropped.
            if m.len() > 1_000 {
                m.retain(|_, l| l.loaded.elapsed() < FRESH_FOR * 60);
            }
        }
        Ok(loaded)
    }

    /// Forgets a survey this server just changed, so the next request reads it afresh.
    pub fn forget(&self, id: i32) {
        if let Ok(mut m) = self.0.write() {
            m.remove(&id);
        }
    }
}
