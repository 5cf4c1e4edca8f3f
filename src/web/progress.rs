//! Progress school by school: JSON, CSV, XLSX, the progress page with the lagging schools, and
//! the leadership's daily summary page.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::CsrfToken;
use super::exports::{attachment, csv_file, xlsx_error};
use super::view::SurveyView;
use crate::app;
use crate::domain::progress::{GroupProgress, Progress, SchoolProgress};
use crate::error::AppError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use rust_xlsxwriter::{Format as CellFormat, Workbook, XlsxError};
use serde::Serialize;
use serde_json::json;

type State = web::Data<AppState>;

/// A school's (or a group's) counts with its rate and what is left.
#[derive(Serialize)]
struct RowView<'a> {
    #[serde(flatten)]
    counts: &'a SchoolProgress,
    response_rate: Option<f64>,
    outstanding: u64,
}

impl<'a> RowView<'a> {
    fn of(counts: &'a SchoolProgress) -> RowView<'a> {
        RowView {
            counts,
            response_rate: counts.response_rate(),
            outstanding: counts.outstanding(),
        }
    }
}

#[derive(Serialize)]
struct GroupView {
    group: crate::domain::group::RespondentGroup,
    group_label: &'static str,
    quota: u64,
    counted: u64,
    planned: u64,
    invited: u64,
    answered: u64,
    channel_answers: u64,
    held: u64,
    response_rate: Option<f64>,
    outstanding: u64,
}

impl GroupView {
    fn of(g: &GroupProgress) -> GroupView {
        let c = &g.counts;
        GroupView {
            group: g.group,
            group_label: g.group.label(),
            quota: g.quota,
            counted: g.counted,
            planned: c.planned,
            invited: c.invited,
            answered: c.answered,
            channel_answers: c.channel_answers,
            held: c.held,
            response_rate: c.response_rate(),
            outstanding: c.outstanding(),
        }
    }
}

fn views(p: &Progress) -> serde_json::Value {
    json!({
        "schools": p.schools.iter().map(RowView::of).collect::<Vec<_>>(),
        "groups": p.groups.iter().map(GroupView::of).collect::<Vec<_>>(),
        "strata": p.strata.iter().map(|s| json!({
            "group": s.group,
            "group_label": s.group.label(),
            "area": s.area,
            "band": s.band,
            "quota": s.quota,
            "counted": s.counted,
        })).collect::<Vec<_>>(),
        "total": RowView::of(&p.total),
        "lagging": p.lagging().into_iter().map(RowView::of).collect::<Vec<_>>(),
        "lagging_below": crate::domain::progress::LAGGING_BELOW,
    })
}

/// `GET /api/v1/surveys/{id}/progress`: one row per school with its counts, the groups, the
/// total and the lagging schools.
pub async fn api_progress(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, p) = app::progress::progress(&state.app, &user.actor(), path.into_inner()).await?;
    let mut body = views(&p);
    body["survey_id"] = json!(survey.id);
    Ok(HttpResponse::Ok().json(body))
}

const HEADER: [&str; 9] = [
    "学校",
    "乡镇（街道）",
    "计划",
    "已邀请",
    "已回复",
    "回复率",
    "未回复",
    "开放二维码答卷",
    "待审核",
];

fn line(r: &SchoolProgress) -> Vec<String> {
    vec![
        r.school.clone(),
        r.area.clone(),
        r.planned.to_string(),
        r.invited.to_string(),
        r.answered.to_string(),
        r.response_rate()
            .map_or_else(String::new, |v| format!("{:.1}%", v * 100.0)),
        r.outstanding().to_string(),
        r.channel_answers.to_string(),
        r.held.to_string(),
    ]
}

fn lines(p: &Progress) -> Vec<Vec<String>> {
    let mut out = vec![HEADER.iter().map(|s| (*s).to_owned()).collect()];
    out.extend(p.schools.iter().map(line));
    out.push(line(&p.total));
    out
}

/// `progress.csv`: one row per school, then the total (UTF-8 with BOM).
pub async fn progress_csv(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, p) = app::progress::progress(&state.app, &user.actor(), path.into_inner()).await?;
    csv_file(&format!("progress-{}.csv", survey.id), lines(&p))
}

/// `progress.xlsx`: the schools, the groups and the lagging schools, one sheet each.
pub async fn progress_xlsx(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, p) = app::progress::progress(&state.app, &user.actor(), path.into_inner()).await?;
    let build = || -> Result<Vec<u8>, XlsxError> {
        let mut book = Workbook::new();
        let bold = CellFormat::new().set_bold();
        let pct = CellFormat::new().set_num_format("0.0%");
        let mut sheet = |name: &str,
                         first: &str,
                         rows: &[(&str, &str, &SchoolProgress)]|
         -> Result<(), XlsxError> {
            let s = book.add_worksheet();
            s.set_name(name)?;
            let mut head = HEADER.to_vec();
            head[0] = first;
            for (c, h) in head.iter().enumerate() {
                s.write_string_with_format(0, c as u16, *h, &bold)?;
            }
            for (i, (label, area, r)) in rows.iter().enumerate() {
                let row = i as u32 + 1;
                s.write_string(row, 0, *label)?;
                s.write_string(row, 1, *area)?;
                for (c, v) in [(2, r.planned), (3, r.invited), (4, r.answered)] {
                    s.write_number(row, c, v as f64)?;
                }
                if let Some(rate) = r.response_rate() {
                    s.write_number_with_format(row, 5, rate, &pct)?;
                }
                for (c, v) in [(6, r.outstanding()), (7, r.channel_answers), (8, r.held)] {
                    s.write_number(row, c, v as f64)?;
                }
            }
            s.set_column_width(0, 24)?;
            s.set_column_width(1, 14)?;
            Ok(())
        };
        let mut schools: Vec<(&str, &str, &SchoolProgress)> = p
            .schools
            .iter()
            .map(|r| (r.school.as_str(), r.area.as_str(), r))
            .collect();
        schools.push(("合计", "", &p.total));
        sheet("按学校", "学校", &schools)?;
        let groups: Vec<(&str, &str, &SchoolProgress)> = p
            .groups
            .iter()
            .map(|g| (g.group.label(), "", &g.counts))
            .collect();
        sheet("按群体", "群体", &groups)?;
        let lagging: Vec<(&str, &str, &SchoolProgress)> = p
            .lagging()
            .into_iter()
            .map(|r| (r.school.as_str(), r.area.as_str(), r))
            .collect();
        sheet("进度落后的学校", "学校", &lagging)?;
        book.save_to_buffer()
    };
    let bytes = build().map_err(xlsx_error)?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header(attachment(&format!("progress-{}.xlsx", survey.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}

/// The progress page: groups, the lagging schools to push, and every school.
pub async fn page_progress(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, p) = app::progress::progress(&state.app, &user.actor(), path.into_inner()).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("p", &views(&p));
    render(&state, StatusCode::OK, "admin/progress.html", &ctx)
}

/// The leadership's daily summary: yesterday, today, so far and left, school by school.
pub async fn page_daily(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let d = app::progress::daily(&state.app, &user.actor(), path.into_inner(), Utc::now()).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&d.survey));
    ctx.insert("today", &d.today.format("%Y-%m-%d").to_string());
    ctx.insert("rows", &d.rows);
    ctx.insert("total", &d.total);
    ctx.insert(
        "groups",
        &d.progress
            .groups
            .iter()
            .map(GroupView::of)
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "lagging",
        &d.progress
            .lagging()
            .into_iter()
            .take(10)
            .map(RowView::of)
            .collect::<Vec<_>>(),
    );
    render(&state, StatusCode::OK, "admin/daily.html", &ctx)
}
