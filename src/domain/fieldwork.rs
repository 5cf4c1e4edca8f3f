//! Answers that do not come from the respondent's own screen (2.9): telephone interviews of
//! drawn people, and paper booklets entered twice by two operators. Both are stored as
//! responses like any other — a telephone answer as its invitation's, a paper answer in its
//! stratum's free place — and kept apart by their source (`response::Mode`).
use super::questionnaire::Definition;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// What came of one telephone call to a drawn person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// 未接通: nobody answered, busy, switched off.
    NoAnswer,
    /// 拒访: reached, declined.
    Refused,
    /// 约定回访: reached, asked to be called again at a time.
    Callback,
    /// 完成: interviewed; the answers are stored (recorded by storing them, never by hand).
    Completed,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 4] = [
        CallOutcome::NoAnswer,
        CallOutcome::Refused,
        CallOutcome::Callback,
        CallOutcome::Completed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Refused => "refused",
            CallOutcome::Callback => "callback",
            CallOutcome::Completed => "completed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::NoAnswer => "未接通",
            CallOutcome::Refused => "拒访",
            CallOutcome::Callback => "约定回访",
            CallOutcome::Completed => "完成",
        }
    }

    pub fn parse(code: &str) -> Option<CallOutcome> {
        CallOutcome::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// The longest note kept with a call.
pub const MAX_CALL_NOTE_CHARS: usize = 200;

/// A call outcome as an interviewer records it (never 完成: that is the stored answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub outcome: CallOutcome,
    pub callback_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl CallRecord {
    /// Checks a recorded outcome: a call-back needs a time to come, the rest none; a note is
    /// short and plain. Errors name the field.
    pub fn new(
        outcome: CallOutcome,
        callback_at: Option<DateTime<Utc>>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CallRecord, (&'static str, String)> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note {
            if n.chars().count() > MAX_CALL_NOTE_CHARS {
                return Err(("note", format!("备注最多 {MAX_CALL_NOTE_CHARS} 个字")));
            }
            if n.chars().any(char::is_control) {
                return Err(("note", "备注不能含控制字符".into()));
            }
        }
        let callback_at = match (outcome, callback_at) {
            (CallOutcome::Completed, _) => {
                return Err((
                    "outcome",
                    "“完成”在录入并提交答案时自动记下，不能单独登记".into(),
                ));
            }
            (CallOutcome::Callback, None) => {
                return Err(("callback_at", "约定回访须填写回访时间".into()));
            }
            (CallOutcome::Callback, Some(t)) if t <= now => {
                return Err(("callback_at", "回访时间须晚于现在".into()));
            }
            (CallOutcome::Callback, Some(t)) => Some(t),
            (_, _) => None,
        };
        Ok(CallRecord {
            outcome,
            callback_at,
            note: note.map(str::to_owned),
        })
    }
}

impl CallRecord {
    /// 完成: recorded when the interview's answers are stored, never typed.
    pub fn completed() -> CallRecord {
        CallRecord {
            outcome: CallOutcome::Completed,
            callback_at: None,
            note: None,
        }
    }
}

/// One call as it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub invitation_id: i32,
    pub user_id: i32,
    pub outcome: CallOutcome,
    pub callback_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// Each called person's state (by invitation) and the note of their last call, from the calls
/// in the order they were made.
pub fn call_states(calls: &[Call]) -> HashMap<i32, (CallState, Option<String>)> {
    let mut out: HashMap<i32, (CallState, Option<String>)> = HashMap::new();
    for c in calls {
        let (s, note) = out.entry(c.invitation_id).or_default();
        s.attempts += 1;
        s.last = Some(c.outcome);
        s.last_at = Some(c.at);
        s.callback_at = c.callback_at;
        note.clone_from(&c.note);
    }
    out
}

/// Where a drawn person stands on the call list, from their calls so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallState {
    pub attempts: u32,
    pub last: Option<CallOutcome>,
    pub last_at: Option<DateTime<Utc>>,
    /// The call-back asked for by the last call, if it asked for one.
    pub callback_at: Option<DateTime<Utc>>,
}

/// The order of a call list: what to call now first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPriority {
    /// A call-back whose time has come.
    CallbackDue,
    /// Never called.
    NotCalled,
    /// Called, not reached: try again.
    TryAgain,
    /// A call-back for later.
    CallbackLater,
    /// Declined: called again only on purpose.
    Refused,
    /// Answered (by telephone or by their link): nothing to do.
    Answered,
}

impl CallPriority {
    pub fn label(self) -> &'static str {
        match self {
            CallPriority::CallbackDue => "到时回访",
            CallPriority::NotCalled => "未拨打",
            CallPriority::TryAgain => "再拨",
            CallPriority::CallbackLater => "待回访",
            CallPriority::Refused => "已拒访",
            CallPriority::Answered => "已作答",
        }
    }
}

impl CallState {
    pub fn priority(&self, answered: bool, now: DateTime<Utc>) -> CallPriority {
        if answered {
            return CallPriority::Answered;
        }
        match self.last {
            None => CallPriority::NotCalled,
            // Interviewed: answered, even while the answer waits to be released (`release`).
            Some(CallOutcome::Completed) => CallPriority::Answered,
            Some(CallOutcome::Callback) if self.callback_at.is_some_and(|t| t <= now) => {
                CallPriority::CallbackDue
            }
            Some(CallOutcome::Callback) => CallPriority::CallbackLater,
            Some(CallOutcome::Refused) => CallPriority::Refused,
            Some(CallOutcome::NoAnswer) => CallPriority::TryAgain,
        }
    }
}

/// What an interviewer reads aloud: the introduction, each item with its options, and the
/// closing question. Built from the booklet, so it is the same text the link would show.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub opening: String,
    pub items: Vec<ScriptItem>,
    /// The scale as read after each item.
    pub scale: String,
    pub closing: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptItem {
    pub number: usize,
    pub id: String,
    pub text: String,
}

impl Script {
    pub fn of(def: &Definition, county: &str) -> Script {
        let scale = def
            .scale
            .options
            .iter()
            .map(|o| o.label.as_str())
            .collect::<Vec<_>>()
            .join("、");
        Script {
            opening: format!(
                "您好！这里是{county}教育局的电话访问。我们正在开展义务教育优质均衡发展社会认可度调查，\
                 想耽误您几分钟。调查不记姓名，您的回答只用于统计，任何学校和个人都看不到您的答案。{}",
                def.intro
            ),
            items: def
                .items
                .iter()
                .enumerate()
                .map(|(i, it)| ScriptItem {
                    number: i + 1,
                    id: it.id.clone(),
                    text: it.text.clone(),
                })
                .collect(),
            scale: format!("您的回答是：{scale}？"),
            closing: format!(
                "最后，{}可以不说。谢谢您的支持！",
                spoken(&def.comment_prompt)
            ),
        }
    }
}

/// A prompt as said aloud: without its written asides in brackets (（选填，500 字以内）).
pub fn spoken(prompt: &str) -> String {
    let mut out = String::new();
    let mut depth = 0u32;
    for c in prompt.chars() {
        match c {
            '（' | '(' => depth += 1,
            '）' | ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The most booklets one print run makes.
pub const MAX_BATCH_COPIES: u32 = 2_000;

/// A paper booklet's serial number: its print run and its number in the run, with a check
/// digit that catches a mistyped digit or two digits swapped (Luhn). Written `0012-0345-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial {
    pub batch: u32,
    pub number: u32,
}

fn luhn(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

impl Serial {
    fn digits(&self) -> String {
        format!("{:04}{:04}", self.batch, self.number)
    }

    pub fn check_digit(&self) -> u32 {
        luhn(&self.digits())
    }

    /// Reads a serial as an operator types it: spaces and any kind of dash between the parts
    /// are taken as the dash; full-width digits as digits.
    pub fn parse(text: &str) -> Result<Serial, String> {
        let normal: String = text
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                '－' | '—' | '–' | ' ' | '　' | '_' => '-',
                c => c,
            })
            .collect();
        let shown: String = text.trim().chars().take(24).collect();
        let bad = || format!("编号“{shown}”的格式不对，应像 0012-0345-6");
        // Digits alone (a phone's number pad has no dash): the last is the check digit, the
        // four before it the number, the rest the run.
        let dashed =
            if normal.bytes().all(|b| b.is_ascii_digit()) && (9..=11).contains(&normal.len()) {
                let n = normal.len();
                format!(
                    "{}-{}-{}",
                    &normal[..n - 5],
                    &normal[n - 5..n - 1],
                    &normal[n - 1..]
                )
            } else {
                normal
            };
        let parts: Vec<&str> = dashed.split('-').filter(|p| !p.is_empty()).collect();
        let [batch, number, check] = parts.as_slice() else {
            return Err(bad());
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        let batch_ok = (4..=6).any(|n| digits(batch, n));
        if !batch_ok || !digits(number, 4) || !digits(check, 1) {
            return Err(bad());
        }
        let serial = Serial {
            batch: batch.parse().map_err(|_| bad())?,
            number: number.parse().map_err(|_| bad())?,
        };
        if serial.check_digit().to_string() != *check {
            return Err(format!(
                "编号“{shown}”的校验位不对：请对照问卷上的编号重新输入"
            ));
        }
        Ok(serial)
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:04}-{}",
            self.batch,
            self.number,
            self.check_digit()
        )
    }
}

/// Where a paper booklet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookletStatus {
    /// Printed; not entered yet.
    Blank,
    /// Entered once: waiting for the second operator.
    FirstEntered,
    /// Entered twice, with fields that differ: waiting to be resolved.
    Mismatched,
    /// Stored as a response.
    Entered,
    /// Set aside (unanswered items, unreadable, spoiled): never counted.
    Void,
}

impl BookletStatus {
    pub const ALL: [BookletStatus; 5] = [
        BookletStatus::Blank,
        BookletStatus::FirstEntered,
        BookletStatus::Mismatched,
        BookletStatus::Entered,
        BookletStatus::Void,
    ];

    pub fn code(self) -> &'static str {
        match self {
            BookletStatus::Blank => "blank",
            BookletStatus::FirstEntered => "first",
            BookletStatus::Mismatched => "mismatch",
            BookletStatus::Entered => "entered",
            BookletStatus::Void => "void",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BookletStatus::Blank => "未录入",
            BookletStatus::FirstEntered => "已录一遍",
            BookletStatus::Mismatched => "两遍不一致",
            BookletStatus::Entered => "已录入",
            BookletStatus::Void => "作废",
        }
    }

    pub fn parse(code: &str) -> Option<BookletStatus> {
        BookletStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// One operator's entry of a paper booklet: each field as typed (item id → option code, the
/// area id and grade where the booklet asks them, the comment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PaperEntry {
    pub answers: Vec<(String, String)>,
    pub area: Option<i32>,
    pub grade: Option<u8>,
    pub comment: Option<String>,
}

/// One field two entries disagree on: its name (an item id, `area`, `grade` or `comment`)
/// and the two values as entered (empty where nothing was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub field: String,
    pub first: String,
    pub second: String,
}

impl PaperEntry {
    /// The comment as compared: trimmed, runs of white space as one space.
    fn comment_text(&self) -> String {
        self.comment
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn answer(&self, item: &str) -> &str {
        self.answers
            .iter()
            .find(|(k, _)| k == item)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The fields where two entries differ, in the booklet's order.
    pub fn compare(&self, other: &PaperEntry, def: &Definition) -> Vec<Mismatch> {
        let show = |v: Option<String>| v.unwrap_or_default();
        let mut out = Vec::new();
        if self.area != other.area {
            out.push(Mismatch {
                field: "area".into(),
                first: show(self.area.map(|a| a.to_string())),
                second: show(other.area.map(|a| a.to_string())),
            });
        }
        if self.grade != other.grade {
            out.push(Mismatch {
                field: "grade".into(),
                first: show(self.grade.map(|g| g.to_string())),
                second: show(other.grade.map(|g| g.to_string())),
            });
        }
        for item in &def.items {
            let (a, b) = (self.answer(&item.id), other.answer(&item.id));
            if a != b {
                out.push(Mismatch {
                    field: item.id.clone(),
                    first: a.to_owned(),
                    second: b.to_owned(),
                });
            }
        }
        let (a, b) = (self.comment_text(), other.comment_text());
        if a != b {
            out.push(Mismatch {
                field: "comment".into(),
                first: a,
                second: b,
            });
        }
        out
    }

    /// The fields as the answer form posts them (item id → code, and `comment`).
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut out = self.answers.clone();
        if let Some(c) = &self.comment {
            out.push(("comment".into(), c.clone()));
        }
        out
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_text(text: &str) -> Option<PaperEntry> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_serial_catches_a_mistyped_or_swapped_digit() {
        let s = Serial {
            batch: 12,
            number: 345,
        };
        let text = s.to_string();
        assert_eq!(Serial::parse(&text), Ok(s));
        assert_eq!(
            Serial::parse(&format!(" {} ", text.replace('-', " "))),
            Ok(s)
        );
        assert_eq!(Serial::parse(&text.replace('-', "－")), Ok(s));
        assert!(Serial::parse("００１２-０３４５-").is_err());
        let wide: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(Serial::parse(&wide), Ok(s));
        // Every single-digit slip and every swap of neighbours in the number is caught.
        let digits: Vec<char> = text.chars().collect();
        for i in 0..digits.len() {
            if !digits[i].is_ascii_digit() {
                continue;
            }
            for d in '0'..='9' {
                if d == digits[i] {
                    continue;
                }
                let mut typo = digits.clone();
                typo[i] = d;
                let typo: String = typo.into_iter().collect();
                assert!(Serial::parse(&typo).is_err(), "{typo}");
            }
        }
        for i in 5..8 {
            let mut typo = digits.clone();
            if typo[i] != typo[i + 1] {
                typo.swap(i, i + 1);
                let typo: String = typo.into_iter().collect();
                assert!(Serial::parse(&typo).is_err(), "{typo}");
            }
        }
        assert!(Serial::parse("12-345-6").is_err());
        assert_eq!(Serial::parse(&text.replace('-', "")), Ok(s));
        assert!(
            Serial::parse(&"1".repeat(100_000))
                .unwrap_err()
                .chars()
                .count()
                < 60
        );
        assert!(Serial::parse("").is_err());
    }

    #[test]
    fn a_prompt_is_said_without_its_written_asides() {
        assert_eq!(
            spoken("您对本县义务教育还有什么意见和建议？（选填，500 字以内）"),
            "您对本县义务教育还有什么意见和建议？"
        );
    }

    #[test]
    fn a_call_back_needs_a_time_to_come_and_completion_is_never_typed() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        let later = now + chrono::Duration::hours(3);
        assert!(CallRecord::new(CallOutcome::Callback, None, None, now).is_err());
        assert!(CallRecord::new(CallOutcome::Callback, Some(now), None, now).is_err());
        let r = CallRecord::new(
            CallOutcome::Callback,
            Some(later),
            Some(" 下午三点后 "),
            now,
        )
        .unwrap();
        assert_eq!(r.note.as_deref(), Some("下午三点后"));
        assert!(CallRecord::new(CallOutcome::Completed, None, None, now).is_err());
        let r = CallRecord::new(CallOutcome::NoAnswer, Some(later), None, now).unwrap();
        assert_eq!(r.callback_at, None);
        let long = "长".repeat(MAX_CALL_NOTE_CHARS + 1);
        assert_eq!(
            CallRecord::new(CallOutcome::Refused, None, Some(&long), now)
                .unwrap_err()
                .0,
            "note"
        );
        let state = CallState {
            attempts: 2,
            last: Some(CallOutcome::Callback),
            last_at: Some(now),
            callback_at: Some(later),
        };
        assert_eq!(state.priority(false, now), CallPriority::CallbackLater);
        assert_eq!(state.priority(false, later), CallPriority::CallbackDue);
        assert_eq!(state.priority(true, later), CallPriority::Answered);
        assert!(CallPriority::CallbackDue < CallPriority::NotCalled);
    }
}
