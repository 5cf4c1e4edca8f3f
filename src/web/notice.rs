//! What a page says after a form's action succeeded. The action answers 303 to its page with
//! `?done=<code>` (and a count where the message has one), so a reload repeats nothing and the
//! address bar never shows a path that only takes POST. The codes are a fixed set: the page
//! never echoes text from the address.
use serde::Deserialize;

/// A finished action, as its page's address carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    CountyCreated,
    SurveyCreated,
    UserCreated,
    UserSaved,
    PasswordReset,
    PasswordChanged,
    SurveyDeleted,
    SurveyOpened,
    SurveyClosed,
    WindowChanged,
    Archived,
    Restored,
    Copied,
    AreasSaved,
    SchoolsSaved,
    DrawDiscarded,
    ChannelCreated,
    ChannelClosed,
    ChannelReopened,
    ChannelDeleted,
    /// Reserves released: how many invitations were replaced, and how many found no reserve.
    Released(u64, u64),
    /// Personal data purged from the rosters: how many rows.
    Purged(u64),
    InterviewersAssigned,
    CallRecorded,
    Interviewed,
    PaperPrinted,
    PaperFirst,
    PaperStored,
    PaperVoided,
}

impl Done {
    const CODES: [(&'static str, Done); 27] = [
        ("county", Done::CountyCreated),
        ("created", Done::SurveyCreated),
        ("user", Done::UserCreated),
        ("user-saved", Done::UserSaved),
        ("password-reset", Done::PasswordReset),
        ("password", Done::PasswordChanged),
        ("deleted", Done::SurveyDeleted),
        ("opened", Done::SurveyOpened),
        ("closed", Done::SurveyClosed),
        ("window", Done::WindowChanged),
        ("archived", Done::Archived),
        ("restored", Done::Restored),
        ("copied", Done::Copied),
        ("areas", Done::AreasSaved),
        ("schools", Done::SchoolsSaved),
        ("discarded", Done::DrawDiscarded),
        ("channel", Done::ChannelCreated),
        ("channel-closed", Done::ChannelClosed),
        ("channel-reopened", Done::ChannelReopened),
        ("channel-deleted", Done::ChannelDeleted),
        ("assigned", Done::InterviewersAssigned),
        ("call", Done::CallRecorded),
        ("interviewed", Done::Interviewed),
        ("paper", Done::PaperPrinted),
        ("paper-first", Done::PaperFirst),
        ("paper-stored", Done::PaperStored),
        ("paper-void", Done::PaperVoided),
    ];

    fn code(self) -> &'static str {
        match self {
            Done::Released(..) => "released",
            Done::Purged(_) => "purged",
            other => Self::CODES
                .iter()
                .find(|(_, d)| *d == other)
                .map_or("", |(c, _)| c),
        }
    }

    /// The query that carries it: `done=…`, and its counts.
    pub fn query(self) -> String {
        match self {
            Done::Released(n, m) => format!("done={}&n={n}&m={m}", self.code()),
            Done::Purged(n) => format!("done={}&n={n}", self.code()),
            _ => format!("done={}", self.code()),
        }
    }

    /// `page` with this notice on it; a fragment (`#channels`) stays last.
    pub fn on(self, page: &str) -> String {
        let (path, fragment) = page.split_once('#').map_or((page, ""), |(p, f)| (p, f));
        let sep = if path.contains('?') { '&' } else { '?' };
        let hash = if fragment.is_empty() { "" } else { "#" };
        format!("{path}{sep}{}{hash}{fragment}", self.query())
    }

    /// What the page says (Chinese).
    pub fn message(self) -> String {
        match self {
            Done::CountyCreated => "县（区）已添加".into(),
            Done::SurveyCreated => {
                "调查已创建（草稿）：下一步在“抽样”页面填写乡镇、学校并上传名册".into()
            }
            Done::UserCreated => "用户已添加，可以用设定的密码登录".into(),
            Done::UserSaved => "用户设置已保存".into(),
            Done::PasswordReset => "密码已重设；该用户的登录已全部退出".into(),
            Done::PasswordChanged => "密码已修改；你在其他设备上的登录已退出".into(),
            Done::SurveyDeleted => "草稿已删除".into(),
            Done::SurveyOpened => "调查已开放".into(),
            Done::SurveyClosed => "调查已结束，不再接受回答".into(),
            Done::WindowChanged => "结束时间已修改".into(),
            Done::Archived => "调查已归档".into(),
            Done::Restored => "调查已恢复到列表".into(),
            Done::Copied => "已复制为新一轮调查（草稿）：请上传名册、抽样后再开放".into(),
            Done::AreasSaved => "乡镇（街道）已保存".into(),
            Done::SchoolsSaved => "学校已保存".into(),
            Done::DrawDiscarded => {
                "已撤销这次抽样：它的邀请链接已失效，证书保留备查。现在可以修改名册后重新抽样。"
                    .into()
            }
            Done::ChannelCreated => "开放二维码已生成".into(),
            Done::ChannelClosed => "二维码已停止收集，已收到的答卷都保留".into(),
            Done::ChannelReopened => "二维码已重新开始收集".into(),
            Done::ChannelDeleted => "二维码已删除".into(),
            Done::Released(n, m) => {
                format!("已用备选名单替换 {n} 份未回复的邀请；{m} 份因备选用尽未替换")
            }
            Done::Purged(n) => format!("已清除名册中的 {n} 条个人信息"),
            Done::InterviewersAssigned => "电话访问的分工已保存".into(),
            Done::CallRecorded => "通话结果已登记".into(),
            Done::Interviewed => "电话访问的答案已保存，此人的链接随之失效".into(),
            Done::PaperPrinted => "纸质问卷已生成编号，可以打印".into(),
            Done::PaperFirst => "第一遍已录入：请另一位录入员录入第二遍".into(),
            Done::PaperStored => "两遍一致，这份纸质问卷已计入".into(),
            Done::PaperVoided => "这份纸质问卷已作废，不计入".into(),
        }
    }
}

/// The page's query: which action just finished, if any.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    done: Option<String>,
    n: Option<u64>,
    m: Option<u64>,
}

impl DoneQuery {
    pub fn done(&self) -> Option<Done> {
        let code = self.done.as_deref()?;
        match code {
            "released" => Some(Done::Released(self.n?, self.m.unwrap_or(0))),
            "purged" => Some(Done::Purged(self.n?)),
            _ => Done::CODES
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, d)| *d),
        }
    }

    /// The notice to show, if the address names a known action.
    pub fn message(&self) -> Option<String> {
        self.done().map(Done::message)
    }
}

/// Where a page form's path sends a GET (a reload or a copied address after an error shown in
/// place): the page that holds the form. `None` for paths that are not page forms.
pub fn form_page(pattern: &str) -> Option<&'static str> {
    Some(match pattern {
        "/login" | "/logout" => "/admin",
        "/admin/users/{user}" | "/admin/users/{user}/password" => "/admin/users",
        "/admin/surveys" => "/admin",
        "/admin/surveys/{id}/close"
        | "/admin/surveys/{id}/window"
        | "/admin/surveys/{id}/delete"
        | "/admin/surveys/{id}/archive"
        | "/admin/surveys/{id}/copy" => "/admin/surveys/{id}",
        "/admin/surveys/{id}/areas"
        | "/admin/surveys/{id}/schools"
        | "/admin/surveys/{id}/frames/{group}"
        | "/admin/surveys/{id}/draws"
        | "/admin/surveys/{id}/draws/{draw}/discard" => "/admin/surveys/{id}/sample",
        "/admin/surveys/{id}/channels"
        | "/admin/surveys/{id}/reserves"
        | "/admin/surveys/{id}/purge"
        | "/admin/surveys/{id}/held" => "/admin/surveys/{id}/invitations",
        "/admin/surveys/{id}/interviewers" | "/admin/surveys/{id}/paper" => {
            "/admin/surveys/{id}/fieldwork"
        }
        "/admin/surveys/{id}/calls/{invitation}/interview" => {
            "/admin/surveys/{id}/calls/{invitation}"
        }
        "/admin/surveys/{id}/paper/resolve" | "/admin/surveys/{id}/paper/void" => {
            "/admin/surveys/{id}/paper/entry"
        }
        "/admin/counties/{county}/readiness/schools"
        | "/admin/counties/{county}/readiness/checklist"
        | "/admin/counties/{county}/readiness/rule" => "/admin/counties/{county}/readiness",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Option<Done> {
        actix_web::web::Query::<DoneQuery>::from_query(query)
            .unwrap()
            .done()
    }

    #[test]
    fn every_notice_survives_its_address() {
        let all = Done::CODES
            .iter()
            .map(|(_, d)| *d)
            .chain([Done::Released(3, 1), Done::Purged(120)]);
        for d in all {
            assert_eq!(parse(&d.query()), Some(d), "{d:?}");
        }
        assert_eq!(parse("done=nonsense"), None);
        assert_eq!(parse("done=purged"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn the_fragment_stays_last() {
        assert_eq!(
            Done::ChannelCreated.on("/admin/surveys/3/invitations#channels"),
            "/admin/surveys/3/invitations?done=channel#channels"
        );
        assert_eq!(
            Done::UserSaved.on("/admin/users"),
            "/admin/users?done=user-saved"
        );
    }
}
