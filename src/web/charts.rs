//! Server-rendered SVG charts: the geometry is computed here, the templates draw it.
use crate::domain::breakdown::{HourPoint, ItemRow, Progress, Row};
use crate::domain::tally::Status;
use serde::Serialize;

// A bar's label stands on its own line above it, so labels are never cut and the picture is
// narrow: at a phone's width it is drawn close to its own size, and its 15–16-unit text stays at
// 12 px or more (on a laptop the picture is at most 480 px wide, see `renke.css`).
const WIDTH: f64 = 360.0;
const LABEL: f64 = 4.0;
const RIGHT: f64 = 66.0;
const ROW: f64 = 44.0;
const TOP: f64 = 22.0;

#[derive(Debug, Serialize)]
pub struct Bar {
    pub y: f64,
    pub label: String,
    pub width: f64,
    /// The interval's ends, as x positions.
    pub whisker: Option<(f64, f64)>,
    pub text: String,
    pub class: &'static str,
}

#[derive(Debug, Serialize)]
pub struct BarChart {
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub span: f64,
    pub bars: Vec<Bar>,
    pub target_x: Option<f64>,
    pub target_label: String,
    pub ticks: Vec<(f64, String)>,
}

fn x(value: f64) -> f64 {
    LABEL + value.clamp(0.0, 1.0) * (WIDTH - LABEL - RIGHT)
}

fn class(status: Status) -> &'static str {
    match status {
        Status::Passing => "passing",
        Status::AtRisk => "at-risk",
        Status::Failing => "failing",
        Status::NoData => "none",
    }
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn chart(title: &str, bars: Vec<Bar>, target: Option<f64>, axis: bool) -> BarChart {
    let n = bars.len() as f64;
    BarChart {
        title: title.to_owned(),
        width: WIDTH,
        height: TOP + n * ROW + if axis { 24.0 } else { 8.0 },
        left: LABEL,
        span: WIDTH - LABEL - RIGHT,
        bars,
        target_x: target.map(x),
        target_label: target.map(percent).unwrap_or_default(),
        ticks: if axis {
            [0.0, 0.25, 0.5, 0.75, 1.0]
                .iter()
                .map(|t| (x(*t), format!("{}%", (t * 100.0) as u32)))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// Rates with their intervals against the target (groups, dimensions, items).
pub fn rates(title: &str, rows: &[Row], target: f64) -> BarChart {
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Bar {
            y: TOP + i as f64 * ROW,
            label: r.label.clone(),
            width: r.estimate.rate.map_or(0.0, |v| x(v) - LABEL),
            whisker: r.estimate.interval.map(|(lo, hi)| (x(lo), x(hi))),
            text: match (r.estimate.suppressed, r.estimate.rate) {
                (true, _) => "不足 5 人".to_owned(),
                (_, Some(v)) => percent(v),
                _ => "—".into(),
            },
            class: class(r.estimate.status),
        })
        .collect();
    chart(title, bars, Some(target), true)
}

pub fn items(title: &str, items: &[ItemRow], target: f64) -> BarChart {
    let rows: Vec<Row> = items
        .iter()
        .map(|i| Row {
            key: i.id.clone(),
            label: format!("{} {}", i.id, i.dimension_label),
            estimate: i.estimate,
            status_label: i.estimate.status.label(),
        })
        .collect();
    rates(title, &rows, target)
}

/// Respondents against the plan.
pub fn progress(title: &str, rows: &[Progress]) -> BarChart {
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let share = if p.planned == 0 {
                0.0
            } else {
                p.responded as f64 / p.planned as f64
            };
            Bar {
                y: TOP + i as f64 * ROW,
                label: p.label.clone(),
                width: x(share) - LABEL,
                whisker: None,
                text: format!("{}/{}", p.responded, p.planned),
                class: if share >= 1.0 { "passing" } else { "progress" },
            }
        })
        .collect();
    chart(title, bars, None, false)
}

#[derive(Debug, Serialize)]
pub struct LineChart {
    pub width: f64,
    pub height: f64,
    pub points: String,
    pub target_y: f64,
    pub first: String,
    pub last: String,
    pub ticks: Vec<(f64, String)>,
    pub empty: bool,
}

/// The cumulative rate hour by hour.
pub fn over_time(points: &[HourPoint], target: f64) -> LineChart {
    let (w, h, left, top, bottom) = (WIDTH, 220.0, 48.0, 14.0, 30.0);
    let y = |v: f64| top + (1.0 - v.clamp(0.0, 1.0)) * (h - top - bottom);
    let rated: Vec<&HourPoint> = points.iter().filter(|p| p.rate.is_some()).collect();
    let n = rated.len().max(2) as f64 - 1.0;
    let coords: Vec<String> = rated
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                left + i as f64 / n * (w - left - 12.0),
                y(p.rate.unwrap_or(0.0))
            )
        })
        .collect();
    let beijing = super::input::beijing();
    let label = |p: Option<&&HourPoint>| {
        p.map(|p| {
            p.hour
                .with_timezone(&beijing)
                .format("%m-%d %H时")
                .to_string()
        })
        .unwrap_or_default()
    };
    LineChart {
        width: w,
        height: h,
        points: coords.join(" "),
        target_y: y(target),
        first: label(rated.first()),
        last: label(rated.last()),
        ticks: [0.0, 0.5, 1.0]
            .iter()
            .map(|t| (y(*t), format!("{}%", (t * 100.0) as u32)))
            .collect(),
        empty: rated.is_empty(),
    }
}
