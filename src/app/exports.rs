//! The anonymous answers as rows (for CSV and XLSX): streamed page by page, so memory stays
//! bounded whatever the number of responses; coarsened so that no combination of what could
//! identify a respondent covers fewer than five (organisers only). How each was answered
//! (网络 / 电话 / 纸质) is shown only where every way covers five in the row's cell as shown.
use super::surveys::visible;
use super::{Actor, Context, audit};
use crate::domain::audit::AuditAction;
use crate::domain::disclosure::{self, Cell, Shown};
use crate::domain::geography::Geography;
use crate::domain::response::{Release, Response};
use crate::error::AppError;
use crate::store;
use futures_util::Stream;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What turns a stored response into a row: names of areas and schools, every item's column,
/// each questionnaire's option labels, and how much of each cell a row may show (every
/// combination of group, area, area class, school and band in the file covers at least
/// [`disclosure::K`] responses; when someone answered is not in the file at all, how only
/// where every way covers K).
pub struct Columns {
    geo: Geography,
    items: Vec<String>,
    labels: HashMap<(i32, String), String>,
    shown: BTreeMap<Cell, Shown>,
    /// The shown keys whose rows say how they were answered.
    modes: std::collections::BTreeSet<disclosure::ShownKey>,
}

impl Columns {
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = [
            "答卷编号",
            "群体",
            "问卷",
            "乡镇",
            "城乡类别",
            "学校",
            "年级段",
            "作答过快",
            "全部同一答案",
            "作答方式",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        h.extend(self.items.iter().cloned());
        h.push("意见和建议".into());
        h
    }

    /// The row of a response, or none where its cell is withheld (its group has fewer than K
    /// responses as the file would show them, or it came after the file's counts were taken).
    pub fn row(&self, r: &Response) -> Option<Vec<String>> {
        // Only answers whose cell has been released: the file moves in batches as the tally
        // does (`domain::release`).
        if r.release != Release::Counted {
            return None;
        }
        let a = &r.answered;
        let cell = Cell {
            group: a.group,
            area: a.area,
            school: a.school,
            band: a.band,
        };
        let shown = *self.shown.get(&cell).unwrap_or(&Shown::Withheld);
        if shown == Shown::Withheld {
            return None;
        }
        let yes = |b: bool| if b { "是".to_owned() } else { String::new() };
        let blank_unless = |show: bool, text: String| if show { text } else { String::new() };
        let mut out = vec![
            r.id.to_string(),
            a.group.label().into(),
            a.booklet.label().into(),
            blank_unless(
                shown.area(),
                a.area
                    .area()
                    .map_or(String::new(), |id| self.geo.area_name(id).to_owned()),
            ),
            blank_unless(
                shown.class(),
                a.area_class.map_or(String::new(), |c| c.label().into()),
            ),
            blank_unless(shown.school(), self.geo.school_name(a.school).to_owned()),
            blank_unless(
                shown.band(),
                a.band.map(|b| b.label(a.group)).unwrap_or_default(),
            ),
            yes(a.too_fast),
            yes(a.straight_lined),
            blank_unless(
                self.modes.contains(
                    &shown.key(&cell, a.area.area().and_then(|id| self.geo.area_class(id))),
                ),
                a.source.mode().label().to_owned(),
            ),
        ];
        for id in &self.items {
            let code = a
                .answers
                .iter()
                .find(|(item, _)| item == id)
                .map(|(_, c)| c);
            out.push(code.map_or(String::new(), |c| {
                self.labels
                    .get(&(a.questionnaire_id, c.clone()))
                    .cloned()
                    .unwrap_or_else(|| c.clone())
            }));
        }
        out.push(a.comment.clone().unwrap_or_default());
        Some(out)
    }
}

/// Rows of answers, a page at a time.
pub type RowPages =
    std::pin::Pin<Box<dyn Stream<Item = Result<Vec<Vec<String>>, AppError>> + Send>>;

/// A survey's answers as rows, and its columns.
pub struct ResponseExport {
    pub survey_id: i32,
    pub columns: Arc<Columns>,
    pub pages: RowPages,
}

/// Which file the answers are exported as (the audit trail records it).
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Csv,
    Xlsx,
}

/// The anonymous answers of a survey the actor organises.
pub async fn responses(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    format: Format,
) -> Result<ResponseExport, AppError> {
    let survey = visible(ctx, actor, id).await?;
    actor.require_organizer()?;
    let db = ctx.db.pool().clone();
    let geo = store::geography::load(&db, survey.id).await?;
    let mut ids: Vec<i32> = store::questionnaires::in_use(&db, survey.id)
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    // Responses may also come from versions in use before (a draft test, say).
    for q in store::responses::questionnaire_ids(&db, survey.id).await? {
        if !ids.contains(&q) {
            ids.push(q);
        }
    }
    let mut items: Vec<String> = Vec::new();
    let mut labels = HashMap::new();
    for qid in ids {
        let q = ctx.questionnaire(qid).await?;
        for item in &q.definition.items {
            if !items.contains(&item.id) {
                items.push(item.id.clone());
            }
        }
        for o in &q.definition.scale.options {
            labels.insert((qid, o.code.clone()), o.label.clone());
        }
    }
    // The counts the file's coarsening rests on, taken before its rows are read.
    let mut counts: BTreeMap<Cell, i64> = BTreeMap::new();
    for (k, v) in store::tally::load(&db, survey.id).await?.strata {
        let cell = Cell {
            group: k.group,
            area: k.area,
            school: k.school,
            band: k.band,
        };
        *counts.entry(cell).or_default() += v.sums.n;
    }
    let class_of =
        |a: crate::domain::geography::AreaScope| a.area().and_then(|id| geo.area_class(id));
    let shown = disclosure::coarsen(&counts, class_of);
    let mut by_mode: BTreeMap<(Cell, crate::domain::response::Mode), i64> = BTreeMap::new();
    for (cell, source, n) in store::responses::counted_by_cell_and_source(&db, survey.id).await? {
        *by_mode.entry((cell, source.mode())).or_default() += n;
    }
    let modes = disclosure::modes_shown(&by_mode, &shown, class_of);
    let columns = Arc::new(Columns {
        geo,
        items,
        labels,
        shown,
        modes,
    });
    let (kind, label) = match format {
        Format::Csv => ("csv", "CSV"),
        Format::Xlsx => ("xlsx", "XLSX"),
    };
    tracing::info!(survey = survey.id, user = ?actor.user_id(), "responses exported as {label}");
    audit(
        ctx,
        actor,
        AuditAction::ResponsesExported,
        &format!("survey {}", survey.id),
        kind,
    )
    .await;
    let row_columns = columns.clone();
    let pages = futures_util::stream::try_unfold(
        (store::responses::Pages::new(survey.id), db, row_columns),
        |(mut pages, db, columns)| async move {
            Ok(pages.next(&db).await?.map(|page| {
                let rows = page.iter().filter_map(|r| columns.row(r)).collect();
                (rows, (pages, db, columns))
            }))
        },
    );
    Ok(ResponseExport {
        survey_id: survey.id,
        columns,
        pages: Box::pin(pages),
    })
}
