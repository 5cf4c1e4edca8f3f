//! Exports: the anonymous answers as CSV and XLSX (streamed: bounded memory whatever the
//! number of responses) and the tally's tables as XLSX.
use super::AppState;
use super::api::survey_for;
use super::auth::CurrentUser;
use super::sampling::spreadsheet_safe;
use super::tally::{self, Row, TallyQuery};
use crate::domain::group::RespondentGroup;
use crate::domain::survey::Survey;
use crate::entity::response;
use crate::error::AppError;
use crate::store::{self, geography::Geography};
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use std::sync::Arc;

type State = web::Data<AppState>;

const PAGE: u64 = 2_000;

/// What turns a stored response into a row: names of areas and schools, every item's column,
/// and each questionnaire's option labels.
struct Columns {
    geo: Geography,
    items: Vec<(String, String)>,
    labels: HashMap<(i32, String), String>,
    survey_id: i32,
}

impl Columns {
    async fn load(state: &AppState, survey: &Survey) -> Result<Columns, AppError> {
        let geo = store::geography::load(&state.db, survey.id).await?;
        let mut items = Vec::new();
        let mut labels = HashMap::new();
        let mut ids: Vec<i32> = store::questionnaires::in_use(&state.db, survey.id)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        // Responses may also come from versions in use before (a draft test, say).
        use sea_orm::FromQueryResult;
        #[derive(FromQueryResult)]
        struct Q {
            questionnaire_id: i32,
        }
        for q in response::Entity::find()
            .select_only()
            .column(response::Column::QuestionnaireId)
            .distinct()
            .filter(response::Column::SurveyId.eq(survey.id))
            .into_model::<Q>()
            .all(&state.db)
            .await?
        {
            if !ids.contains(&q.questionnaire_id) {
                ids.push(q.questionnaire_id);
            }
        }
        for id in ids {
            let q = state.questionnaires.get(&state.db, id).await?;
            for item in &q.definition.items {
                if !items.iter().any(|(i, _)| i == &item.id) {
                    items.push((item.id.clone(), item.text.clone()));
                }
            }
            for o in &q.definition.scale.options {
                labels.insert((id, o.code.clone()), o.label.clone());
            }
        }
        Ok(Columns {
            geo,
            items,
            labels,
            survey_id: survey.id,
        })
    }

    fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = [
            "response",
            "group",
            "booklet",
            "area",
            "area_class",
            "school",
            "grade_band",
            "source",
            "submitted_hour",
            "completion_seconds",
            "too_fast",
            "straight_lined",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        h.extend(self.items.iter().map(|(id, _)| id.clone()));
        h.push("comment".into());
        h
    }

    fn row(&self, r: &response::Model) -> Vec<String> {
        let group = r.grp.parse::<RespondentGroup>().ok();
        let answers: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.answers).unwrap_or_default();
        let band = group.zip(r.band).and_then(|(g, b)| {
            crate::domain::strata::bands(g)
                .get(usize::try_from(b).ok()?)
                .map(|b| b.label())
        });
        let mut out = vec![
            r.id.to_string(),
            group.map_or(r.grp.clone(), |g| g.label().into()),
            r.booklet.clone(),
            r.area_id
                .map_or(String::new(), |a| self.geo.area_name(a).to_owned()),
            r.area_class
                .as_deref()
                .and_then(|c| c.parse::<crate::domain::strata::AreaClass>().ok())
                .map_or(String::new(), |c| c.label().into()),
            self.geo.school_name(r.school_id).to_owned(),
            band.unwrap_or_default(),
            if r.source == "invitation" {
                "邀请".into()
            } else {
                "开放二维码".into()
            },
            r.submitted_hour
                .with_timezone(&super::input::beijing())
                .format("%Y-%m-%d %H:00")
                .to_string(),
            r.completion_seconds.to_string(),
            if r.too_fast {
                "是".into()
            } else {
                String::new()
            },
            if r.straight_lined {
                "是".into()
            } else {
                String::new()
            },
        ];
        for (id, _) in &self.items {
            let code = answers.get(id).and_then(|v| v.as_str());
            out.push(code.map_or(String::new(), |c| {
                self.labels
                    .get(&(r.questionnaire_id, c.to_owned()))
                    .cloned()
                    .unwrap_or_else(|| c.to_owned())
            }));
        }
        out.push(r.comment.clone().unwrap_or_default());
        out
    }
}

async fn page(
    db: &DatabaseConnection,
    survey_id: i32,
    after: i64,
) -> Result<Vec<response::Model>, sea_orm::DbErr> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .filter(response::Column::Id.gt(after))
        // In the order of the (survey_id, id) index, so each page is a range scan.
        .order_by_asc(response::Column::SurveyId)
        .order_by_asc(response::Column::Id)
        .limit(PAGE)
        .all(db)
        .await
}

fn csv_bytes(rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r.iter().map(|v| spreadsheet_safe(v)))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn attachment(name: &str) -> (header::HeaderName, String) {
    (
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{name}\""),
    )
}

/// `responses.csv`: UTF-8 with BOM (Excel opens it in Chinese), one row per response, streamed
/// page by page.
pub async fn responses_csv(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let cols = Arc::new(Columns::load(&state, &survey).await?);
    let mut first = b"\xEF\xBB\xBF".to_vec();
    first.extend(csv_bytes([cols.header()]).map_err(|e| AppError::Internal(e.to_string()))?);
    tracing::info!(
        survey = survey.id,
        user = user.id,
        "responses exported as CSV"
    );
    super::audit(
        &state,
        &user.username,
        "export_responses",
        &format!("survey {}", survey.id),
        "csv",
    )
    .await;
    let db = state.db.clone();
    let body = futures_util::stream::unfold(
        (Some(first), i64::MIN, false),
        move |(head, after, done)| {
            let (db, cols) = (db.clone(), cols.clone());
            async move {
                if let Some(h) = head {
                    return Some((
                        Ok::<_, actix_web::Error>(web::Bytes::from(h)),
                        (None, after, false),
                    ));
                }
                if done {
                    return None;
                }
                match page(&db, cols.survey_id, after).await {
                    Ok(rows) if rows.is_empty() => None,
                    Ok(rows) => {
                        let last = rows.last().map_or(after, |r| r.id);
                        let done = (rows.len() as u64) < PAGE;
                        let bytes = csv_bytes(rows.iter().map(|r| cols.row(r)))
                            .map_err(actix_web::error::ErrorInternalServerError);
                        Some((bytes.map(web::Bytes::from), (None, last, done)))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "CSV export failed");
                        Some((
                            Err(actix_web::error::ErrorInternalServerError("export failed")),
                            (None, after, true),
                        ))
                    }
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(attachment(&format!("responses-{}.csv", survey.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

fn xlsx_error(e: XlsxError) -> AppError {
    AppError::Internal(format!("XLSX: {e}"))
}

/// `responses.xlsx`: the same rows in a constant-memory worksheet. Pages are read here and
/// written on a blocking thread through a bounded channel; the file is built in a temporary
/// file and streamed back.
pub async fn responses_xlsx(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let cols = Arc::new(Columns::load(&state, &survey).await?);
    let file = tempfile::NamedTempFile::new().map_err(|e| AppError::Internal(e.to_string()))?;
    let path_buf = file.path().to_owned();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<String>>>(4);
    let writer_cols = cols.clone();
    let writer = web::block(move || -> Result<(), XlsxError> {
        let mut book = Workbook::new();
        // The fastest compression: a million rows save in half the time, for a file a
        // little larger.
        book.set_zip_compression_level(1);
        let bold = Format::new().set_bold();
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("答卷")?;
        for (c, h) in writer_cols.header().iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
        }
        let mut r = 1u32;
        while let Some(batch) = rx.blocking_recv() {
            for row in batch {
                for (c, v) in row.iter().enumerate() {
                    if !v.is_empty() {
                        sheet.write_string(r, c as u16, v)?;
                    }
                }
                r += 1;
            }
        }
        book.save(&path_buf)
    });
    let mut after = i64::MIN;
    loop {
        let rows = page(&state.db, survey.id, after).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let batch = rows.iter().map(|r| cols.row(r)).collect();
        if tx.send(batch).await.is_err() {
            break;
        }
        if (rows.len() as u64) < PAGE {
            break;
        }
    }
    drop(tx);
    writer
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(xlsx_error)?;
    tracing::info!(
        survey = survey.id,
        user = user.id,
        "responses exported as XLSX"
    );
    super::audit(
        &state,
        &user.username,
        "export_responses",
        &format!("survey {}", survey.id),
        "xlsx",
    )
    .await;
    let reader = tokio::fs::File::open(file.path())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    // The temporary file's name is gone once it is open; the open handle keeps the data.
    drop(file);
    let body = tokio_util_stream(reader);
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header(attachment(&format!("responses-{}.xlsx", survey.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// Streams a file in 64 KiB chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(web::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    })
}

fn write_rows(book: &mut Workbook, name: &str, title: &str, rows: &[Row]) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    let s = book.add_worksheet();
    s.set_name(name)?;
    for (c, h) in [title, "人数", "认可率", "区间下限", "区间上限", "状态"]
        .iter()
        .enumerate()
    {
        s.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        s.write_string(row, 0, &r.label)?;
        s.write_number(row, 1, r.estimate.respondents as f64)?;
        if r.estimate.suppressed {
            s.write_string(row, 2, "不足 5 人，不显示")?;
            continue;
        }
        if let Some(v) = r.estimate.rate {
            s.write_number_with_format(row, 2, v, &pct)?;
        }
        if let Some((lo, hi)) = r.estimate.interval {
            s.write_number_with_format(row, 3, lo, &pct)?;
            s.write_number_with_format(row, 4, hi, &pct)?;
        }
        s.write_string(row, 5, r.status_label)?;
    }
    s.set_column_width(0, 28)?;
    Ok(())
}

/// `tally.xlsx`: the dashboard's tables, one sheet each, after a sheet that states the method.
pub async fn tally_xlsx(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    let t = tally::view(&state, &survey, query.exclude()).await?;
    let build = || -> Result<Vec<u8>, XlsxError> {
        let mut book = Workbook::new();
        let bold = Format::new().set_bold();
        let m = book.add_worksheet();
        m.set_name("方法")?;
        let pct = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{:.1}%", v * 100.0));
        let lines = [
            ("调查", survey.settings.name.clone()),
            ("估计方法", t.estimator_label.to_owned()),
            ("认可率", pct(t.rate)),
            (
                "95% 置信区间",
                t.interval.map_or("—".into(), |(a, b)| {
                    format!("{} – {}", pct(Some(a)), pct(Some(b)))
                }),
            ),
            ("目标", pct(Some(t.target))),
            ("状态", t.status_label.to_owned()),
            (
                "已回收 / 计划",
                format!("{} / {}", t.respondents, t.planned),
            ),
            (
                "认可",
                "满意、比较满意计为认可；不了解不计入分母".to_owned(),
            ),
            (
                "区间公式",
                "var(R) = Σ(yᵢ − R·xᵢ)² / (n(n−1)x̄²)，R ± 1.96·√var(R)，截取在 [0, 1]".to_owned(),
            ),
            ("小格子", "不足 5 人的格子不显示认可率".to_owned()),
            (
                "疑似无效答卷",
                if t.exclude_flagged {
                    "已排除"
                } else {
                    "已包含（标记而未删除）"
                }
                .to_owned(),
            ),
        ];
        for (i, (k, v)) in lines.iter().enumerate() {
            m.write_string_with_format(i as u32, 0, *k, &bold)?;
            m.write_string(i as u32, 1, v)?;
        }
        m.set_column_width(0, 18)?;
        m.set_column_width(1, 70)?;
        write_rows(&mut book, "群体", "群体", &t.groups)?;
        write_rows(&mut book, "问卷", "问卷", &t.booklets)?;
        write_rows(&mut book, "维度", "维度", &t.dimensions)?;
        write_rows(&mut book, "乡镇", "乡镇", &t.areas)?;
        write_rows(&mut book, "城乡类别", "城乡类别", &t.area_classes)?;
        write_rows(&mut book, "学校", "学校", &t.schools)?;
        write_rows(&mut book, "年级段", "年级段", &t.bands)?;
        let items: Vec<Row> = t
            .items
            .iter()
            .map(|i| Row {
                key: i.id.clone(),
                label: format!("{} {}", i.id, i.text),
                estimate: i.estimate,
                status_label: i.estimate.status.label(),
            })
            .collect();
        write_rows(&mut book, "题目", "题目", &items)?;
        let inv = book.add_worksheet();
        inv.set_name("邀请回复")?;
        for (c, h) in [
            "群体",
            "乡镇",
            "年级段",
            "邀请",
            "已答",
            "回复率",
            "启用备选",
        ]
        .iter()
        .enumerate()
        {
            inv.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, r) in t.invitations.iter().enumerate() {
            let row = i as u32 + 1;
            inv.write_string(row, 0, &r.group)?;
            inv.write_string(row, 1, &r.area)?;
            inv.write_string(row, 2, r.band.as_deref().unwrap_or(""))?;
            inv.write_number(row, 3, r.invited as f64)?;
            inv.write_number(row, 4, r.answered as f64)?;
            if let Some(v) = r.response_rate {
                inv.write_number(row, 5, v)?;
            }
            inv.write_number(row, 6, r.reserves_released as f64)?;
        }
        book.save_to_buffer()
    };
    let bytes = build().map_err(xlsx_error)?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header(attachment(&format!("tally-{}.xlsx", survey.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}
