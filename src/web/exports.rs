//! Exports: the anonymous answers as CSV and XLSX (streamed: bounded memory whatever the
//! number of responses) and the tally's tables as XLSX.
use super::AppState;
use super::auth::CurrentUser;
use super::sampling::spreadsheet_safe;
use super::tally::TallyQuery;
use crate::app::{self, exports::Format};
use crate::domain::breakdown::Row;
use crate::error::AppError;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use rust_xlsxwriter::{Format as CellFormat, Workbook, XlsxError};

type State = web::Data<AppState>;

pub(super) fn csv_bytes(
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r.iter().map(|v| spreadsheet_safe(v)))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A whole CSV file as a download: UTF-8 with a BOM (Excel opens it in Chinese), never cached.
pub(super) fn csv_file(
    name: &str,
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<HttpResponse, AppError> {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend(csv_bytes(rows).map_err(AppError::internal)?);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(attachment(name))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub(super) fn attachment(name: &str) -> (header::HeaderName, String) {
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
    let export =
        app::exports::responses(&state.app, &user.actor(), path.into_inner(), Format::Csv).await?;
    let mut first = b"\xEF\xBB\xBF".to_vec();
    first.extend(csv_bytes([export.columns.header()]).map_err(AppError::internal)?);
    let head = futures_util::stream::once(async move { Ok(web::Bytes::from(first)) });
    let rows = export.pages.map(|page| match page {
        Ok(rows) => csv_bytes(rows)
            .map(web::Bytes::from)
            .map_err(actix_web::error::ErrorInternalServerError),
        Err(e) => {
            tracing::error!(error = %e, "CSV export failed");
            Err(actix_web::error::ErrorInternalServerError("export failed"))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(attachment(&format!("responses-{}.csv", export.survey_id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(head.chain(rows)))
}

pub(super) fn xlsx_error(e: XlsxError) -> AppError {
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
    let mut export =
        app::exports::responses(&state.app, &user.actor(), path.into_inner(), Format::Xlsx).await?;
    let file = tempfile::NamedTempFile::new().map_err(AppError::internal)?;
    let path_buf = file.path().to_owned();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<String>>>(4);
    let header = export.columns.header();
    let writer = web::block(move || -> Result<(), XlsxError> {
        let mut book = Workbook::new();
        // The fastest compression: a million rows save in half the time, for a file a
        // little larger.
        book.set_zip_compression_level(1);
        let bold = CellFormat::new().set_bold();
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("答卷")?;
        for (c, h) in header.iter().enumerate() {
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
    while let Some(page) = export.pages.next().await {
        if tx.send(page?).await.is_err() {
            break;
        }
    }
    drop(tx);
    writer
        .await
        .map_err(AppError::internal)?
        .map_err(xlsx_error)?;
    let reader = tokio::fs::File::open(file.path())
        .await
        .map_err(AppError::internal)?;
    // The temporary file's name is gone once it is open; the open handle keeps the data.
    drop(file);
    let body = tokio_util_stream(reader);
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header(attachment(&format!("responses-{}.xlsx", export.survey_id)))
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
    let bold = CellFormat::new().set_bold();
    let pct = CellFormat::new().set_num_format("0.0%");
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
        // A suppressed cell shows no count of any kind.
        if r.estimate.suppressed {
            s.write_string(row, 1, "人数不足 5，暂不显示")?;
            continue;
        }
        s.write_number(row, 1, r.estimate.respondents as f64)?;
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
    let (survey, t) = app::tally::view(
        &state.app,
        &user.actor(),
        path.into_inner(),
        query.exclude(),
    )
    .await?;
    let build = || -> Result<Vec<u8>, XlsxError> {
        let mut book = Workbook::new();
        let bold = CellFormat::new().set_bold();
        let m = book.add_worksheet();
        m.set_name("方法")?;
        let pct_format = CellFormat::new().set_num_format("0.0%");
        let pct = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{:.1}%", v * 100.0));
        let o = &t.official_estimate;
        let chance = |p: Option<f64>| p.map_or("—".to_owned(), crate::domain::estimate::chance);
        let interval = |i: Option<(f64, f64)>| {
            i.map_or("—".into(), |(a, b)| {
                format!("{} – {}", pct(Some(a)), pct(Some(b)))
            })
        };
        let mut lines = vec![
            ("调查", survey.settings.name.clone()),
            ("正式测评预测", pct(o.rate)),
            ("本次估计的 95% 置信区间", interval(o.interval)),
            (
                "正式测评结果的预测范围（95%）",
                interval(o.prediction_interval),
            ),
            ("达到目标的概率", chance(o.probability_reaching_target)),
            ("判断", format!("{}：{}", o.status_label, o.meaning)),
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
                "认可率 R 的方差 V(R) = Σ(yᵢ − R·xᵢ)² / (n(n−1)x̄²)，区间 R ± 1.96·√V(R)，截取在 [0, 1]".to_owned(),
            ),
            (
                "匿名保护",
                "答卷按格（群体、乡镇、年级段、作答途径、是否疑似无效，抽样人数多的学校单独一格）攒满 5 份才一起计入；人数不足 5 的格子不显示人数和认可率，只藏一格时连同最小的另一格一起不显示".to_owned(),
            ),
            (
                "待计入 / 未计入",
                format!("{} 份正等同格凑满 5 份；{} 份因调查结束时所在格不足 5 份而未计入", t.waiting, t.withheld),
            ),
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
        lines.extend(
            crate::domain::estimate::METHOD
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned())),
        );
        for (i, (k, v)) in lines.iter().enumerate() {
            m.write_string_with_format(i as u32, 0, *k, &bold)?;
            m.write_string(i as u32, 1, v)?;
        }
        m.set_column_width(0, 18)?;
        m.set_column_width(1, 70)?;
        let e = book.add_worksheet();
        e.set_name("正式测评预测")?;
        for (c, h) in [
            "算法",
            "人数",
            "认可率",
            "区间下限",
            "区间上限",
            "达标概率",
            "判断",
        ]
        .iter()
        .enumerate()
        {
            e.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        let head = crate::domain::estimate::SensitivityLine {
            code: "official_estimate",
            label: "按计划构成加权",
            respondents: o.respondents,
            rate: o.rate,
            interval: o.interval,
            probability_reaching_target: o.probability_reaching_target,
            status: o.status,
            status_label: o.status_label,
            change: None,
        };
        for (i, l) in std::iter::once(&head)
            .chain(&o.sensitivity_lines)
            .enumerate()
        {
            let row = i as u32 + 1;
            e.write_string(row, 0, l.label)?;
            e.write_number(row, 1, l.respondents as f64)?;
            if let Some(v) = l.rate {
                e.write_number_with_format(row, 2, v, &pct_format)?;
            }
            if let Some((lo, hi)) = l.interval {
                e.write_number_with_format(row, 3, lo, &pct_format)?;
                e.write_number_with_format(row, 4, hi, &pct_format)?;
            }
            if let Some(p) = l.probability_reaching_target {
                e.write_number_with_format(row, 5, p, &pct_format)?;
            }
            e.write_string(row, 6, l.status_label)?;
        }
        let base = o.sensitivity_lines.len() as u32 + 3;
        for (c, h) in ["加权格子", "计划占比", "答卷", "相对权重"]
            .iter()
            .enumerate()
        {
            e.write_string_with_format(base, c as u16, *h, &bold)?;
        }
        for (i, c) in o.cells.iter().enumerate() {
            let row = base + 1 + i as u32;
            e.write_string(row, 0, &c.label)?;
            e.write_number_with_format(row, 1, c.target_share, &pct_format)?;
            e.write_number(row, 2, c.respondents as f64)?;
            if let Some(w) = c.relative_weight {
                e.write_number(row, 3, w)?;
            }
        }
        let row = base + o.cells.len() as u32 + 2;
        for (i, (k, v)) in [
            ("标准误", o.standard_error),
            ("设计效应", o.design_effect),
            ("有效样本", o.effective_n),
            ("计划中无答卷的占比", Some(o.uncovered_share)),
            ("正式测评样本", Some(o.official_sample as f64)),
        ]
        .iter()
        .enumerate()
        {
            e.write_string_with_format(row + i as u32, 0, *k, &bold)?;
            if let Some(v) = v {
                e.write_number(row + i as u32, 1, *v)?;
            }
        }
        e.set_column_width(0, 34)?;
        write_rows(&mut book, "群体", "群体", &t.groups)?;
        write_rows(&mut book, "问卷", "问卷", &t.booklets)?;
        write_rows(&mut book, "作答方式", "作答方式", &t.modes)?;
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
            "发出邀请",
            "已答",
            "回复率",
            "作废",
            "其中由备选替换",
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
            inv.write_number(row, 6, r.revoked as f64)?;
            inv.write_number(row, 7, r.reserves_released as f64)?;
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
