//! What is checked before a survey opens. Opening locks the plan, the rosters and the draw, so
//! the organiser sees every gap first: a stale draw refuses the opening, anything else missing
//! must be confirmed explicitly.
use super::draw::Staleness;
use super::group::RespondentGroup;
use super::quota::thousands;
use super::survey::Window;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::net::IpAddr;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    /// Missing or doubtful: opening anyway needs an explicit confirmation.
    Warning,
    /// Opening is refused until it is fixed.
    Blocking,
}

impl CheckStatus {
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Ok => "已就绪",
            CheckStatus::Warning => "需确认",
            CheckStatus::Blocking => "必须先处理",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub code: &'static str,
    pub title: &'static str,
    pub status: CheckStatus,
    pub status_label: &'static str,
    pub detail: String,
}

fn check(code: &'static str, title: &'static str, status: CheckStatus, detail: String) -> Check {
    Check {
        code,
        title,
        status,
        status_label: status.label(),
        detail,
    }
}

/// A group's readiness: its quota, its roster's size, its open channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupReach {
    pub group: RespondentGroup,
    pub quota: u64,
    pub roster: Option<u64>,
    pub channels: usize,
}

/// The draw in force, as the checklist sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawState {
    /// Its number among the survey's draws (1: the first).
    pub number: usize,
    pub selected: u64,
    pub stale: Vec<Staleness>,
}

/// Where respondents' links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAddress {
    /// `RENKE_PUBLIC_URL` is set to this.
    Configured(String),
    /// Not set: links follow the address the organiser is browsing from (this one).
    FromRequest(String),
}

/// Everything the checklist reads.
#[derive(Debug, Clone)]
pub struct OpeningFacts {
    pub population: u64,
    /// Each area's population (empty: no areas yet).
    pub area_populations: Vec<u64>,
    pub groups: Vec<GroupReach>,
    pub draw: Option<DrawState>,
    pub window: Window,
    pub links: LinkAddress,
    pub now: DateTime<Utc>,
}

/// The host of an absolute URL (`scheme://host[:port]/…`), lower-cased, brackets removed.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// Whether respondents on the public internet could not reach this host: a loopback, private,
/// link-local or unspecified address, `localhost`, or a name without a dot or under a local
/// suffix.
pub fn is_local_host(url: &str) -> bool {
    let host = host_of(url).to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    // 100.64.0.0/10: carrier-grade NAT, not reachable from outside either.
                    || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
            }
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
    }
    host.is_empty()
        || host == "localhost"
        || !host.contains('.')
        || [
            ".localhost",
            ".local",
            ".lan",
            ".internal",
            ".home",
            ".test",
        ]
        .iter()
        .any(|s| host.ends_with(s))
}

/// Whether the areas' populations add up to the county's (and by how much they differ): shown
/// before opening and on the sampling page as soon as the areas are saved.
pub fn areas_check(area_populations: &[u64], population: u64) -> Check {
    let sum: u64 = area_populations.iter().sum();
    if area_populations.is_empty() {
        check(
            "areas",
            "乡镇（街道）",
            CheckStatus::Warning,
            "还没有填写乡镇（街道）：配额不能分到各乡镇，抽样和按乡镇的统计都做不了".into(),
        )
    } else if sum == population {
        check(
            "areas",
            "乡镇（街道）",
            CheckStatus::Ok,
            format!(
                "{} 个乡镇（街道），人口合计 {}，与全县常住人口一致",
                area_populations.len(),
                thousands(sum)
            ),
        )
    } else {
        let (word, diff) = if sum < population {
            ("少", population - sum)
        } else {
            ("多", sum - population)
        };
        check(
            "areas",
            "乡镇（街道）",
            CheckStatus::Warning,
            format!(
                "{} 个乡镇（街道）人口合计 {}，比全县常住人口 {} {word} {}",
                area_populations.len(),
                thousands(sum),
                thousands(population),
                thousands(diff)
            ),
        )
    }
}

/// The checklist, in the order an organiser works through the set-up.
pub fn checklist(f: &OpeningFacts) -> Vec<Check> {
    let mut out = Vec::new();
    // Areas and their populations.
    out.push(areas_check(&f.area_populations, f.population));
    // Every group can be reached: by its roster (through the draw) or an open channel.
    let unreached: Vec<&str> = f
        .groups
        .iter()
        .filter(|g| g.quota > 0 && g.roster.is_none() && g.channels == 0)
        .map(|g| g.group.label())
        .collect();
    out.push(if unreached.is_empty() {
        check(
            "groups",
            "各群体的名册或开放二维码",
            CheckStatus::Ok,
            "每个有配额的群体都有名册或开放二维码".into(),
        )
    } else {
        check(
            "groups",
            "各群体的名册或开放二维码",
            CheckStatus::Warning,
            format!(
                "{}既没有名册也没有开放二维码：开放后这些群体没有人能作答",
                unreached.join("、")
            ),
        )
    });
    // The draw.
    let with_roster = f.groups.iter().any(|g| g.roster.is_some());
    out.push(match &f.draw {
        Some(d) if !d.stale.is_empty() => check(
            "draw",
            "抽样",
            CheckStatus::Blocking,
            format!(
                "第 {} 次抽样已过期：{}。请重新抽样，或撤销这次抽样",
                d.number,
                d.stale
                    .iter()
                    .map(|s| s.label())
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        ),
        Some(d) => check(
            "draw",
            "抽样",
            CheckStatus::Ok,
            format!(
                "第 {} 次抽样有效，抽中 {} 人",
                d.number,
                thousands(d.selected)
            ),
        ),
        None if with_roster => check(
            "draw",
            "抽样",
            CheckStatus::Warning,
            "已上传名册但还没有抽样：开放后没有一次性邀请链接，只能通过开放二维码作答".into(),
        ),
        None => check(
            "draw",
            "抽样",
            CheckStatus::Warning,
            "没有抽样：只能通过开放二维码作答".into(),
        ),
    });
    // The window.
    let beijing = |t: DateTime<Utc>| {
        t.with_timezone(&super::survey::beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    out.push(match f.window.closes_at {
        None => check(
            "window",
            "作答时间",
            CheckStatus::Warning,
            "没有设置结束时间：调查会一直开放，直到手动结束".into(),
        ),
        Some(c) if c <= f.now => check(
            "window",
            "作答时间",
            CheckStatus::Warning,
            format!(
                "结束时间 {} 已经过去：开放后受访者无法作答，请先修改结束时间",
                beijing(c)
            ),
        ),
        Some(c) => check(
            "window",
            "作答时间",
            CheckStatus::Ok,
            match f.window.opens_at {
                Some(o) if o > f.now => {
                    format!("{} 开始，{} 结束（北京时间）", beijing(o), beijing(c))
                }
                _ => format!("开放后即可作答，{} 结束（北京时间）", beijing(c)),
            },
        ),
    });
    // Where the links point.
    out.push(match &f.links {
        LinkAddress::Configured(url) if is_local_host(url) => check(
            "links",
            "受访者链接的地址",
            CheckStatus::Warning,
            format!(
                "受访者公开地址（服务器配置项 RENKE_PUBLIC_URL）设为 {url}，这是本机或内网地址：受访者在自己手机上打不开链接和二维码"
            ),
        ),
        LinkAddress::Configured(url) => check(
            "links",
            "受访者链接的地址",
            CheckStatus::Ok,
            format!("链接和二维码使用公开地址 {url}"),
        ),
        LinkAddress::FromRequest(url) => check(
            "links",
            "受访者链接的地址",
            CheckStatus::Warning,
            format!(
                "没有设置受访者公开地址（服务器配置项 RENKE_PUBLIC_URL）：链接和二维码将使用你现在访问的地址 {url}{}。请让管理员设置受访者能打开的地址",
                if is_local_host(url) {
                    "（本机或内网地址，受访者打不开）"
                } else {
                    "，换一个地址访问时链接也会变"
                }
            ),
        ),
    });
    out
}

/// The checks that need an explicit confirmation, and whether any refuses the opening.
pub fn warnings(checks: &[Check]) -> impl Iterator<Item = &Check> {
    checks.iter().filter(|c| c.status == CheckStatus::Warning)
}

pub fn blocking(checks: &[Check]) -> impl Iterator<Item = &Check> {
    checks.iter().filter(|c| c.status == CheckStatus::Blocking)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn facts() -> OpeningFacts {
        let now = Utc::now();
        OpeningFacts {
            population: 1000,
            area_populations: vec![600, 400],
            groups: RespondentGroup::ALL
                .iter()
                .map(|&group| GroupReach {
                    group,
                    quota: 5,
                    roster: Some(100),
                    channels: 0,
                })
                .collect(),
            draw: Some(DrawState {
                number: 1,
                selected: 40,
                stale: vec![],
            }),
            window: Window {
                opens_at: None,
                closes_at: Some(now + Duration::days(7)),
            },
            links: LinkAddress::Configured("https://renke.example.cn".into()),
            now,
        }
    }

    fn status(f: &OpeningFacts, code: &str) -> (CheckStatus, String) {
        let c = checklist(f).into_iter().find(|c| c.code == code).unwrap();
        (c.status, c.detail)
    }

    #[test]
    fn a_complete_set_up_has_nothing_to_confirm() {
        let f = facts();
        assert!(checklist(&f).iter().all(|c| c.status == CheckStatus::Ok));
    }

    #[test]
    fn each_gap_is_named() {
        let mut f = facts();
        f.area_populations = vec![600, 300];
        assert_eq!(
            status(&f, "areas"),
            (
                CheckStatus::Warning,
                "2 个乡镇（街道）人口合计 900，比全县常住人口 1,000 少 100".into()
            )
        );
        f.area_populations.clear();
        assert_eq!(status(&f, "areas").0, CheckStatus::Warning);
        f.groups[2].roster = None;
        let (s, d) = status(&f, "groups");
        assert_eq!(s, CheckStatus::Warning);
        assert!(d.starts_with("教师"), "{d}");
        f.groups[2].channels = 1;
        assert_eq!(status(&f, "groups").0, CheckStatus::Ok);
        f.draw = None;
        assert_eq!(status(&f, "draw").0, CheckStatus::Warning);
        f.window.closes_at = None;
        assert_eq!(status(&f, "window").0, CheckStatus::Warning);
        f.window.closes_at = Some(f.now - Duration::hours(1));
        assert_eq!(status(&f, "window").0, CheckStatus::Warning);
        f.links = LinkAddress::FromRequest("http://127.0.0.1:8080".into());
        assert_eq!(status(&f, "links").0, CheckStatus::Warning);
    }

    #[test]
    fn a_stale_draw_blocks_the_opening() {
        let mut f = facts();
        f.draw.as_mut().unwrap().stale = vec![Staleness::Rosters, Staleness::Quotas];
        let checks = checklist(&f);
        assert_eq!(blocking(&checks).count(), 1);
        let (_, d) = status(&f, "draw");
        assert!(d.contains("名册") && d.contains("配额"), "{d}");
    }

    #[test]
    fn local_hosts_are_recognised() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://10.1.2.3/x",
            "http://192.168.1.5:80",
            "http://172.20.0.1",
            "http://[::1]:8080",
            "http://[fd00::1]",
            "http://renke",
            "http://renke.lan",
            "http://100.100.1.1",
        ] {
            assert!(is_local_host(url), "{url}");
        }
        for url in [
            "https://renke.example.cn",
            "https://8.8.8.8",
            "https://user@survey.jyj.gov.cn:8443/x",
            "http://[2001:db8::1]",
        ] {
            assert!(!is_local_host(url), "{url}");
        }
    }
}
