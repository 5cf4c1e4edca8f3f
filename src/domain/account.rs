//! Who may do what: roles, usernames and passwords.
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A user's role. Every role but `Admin` belongs to one county.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Platform admin: hosts counties and manages users.
    Admin,
    /// County education bureau staff who run surveys.
    Organizer,
    /// Bureau leadership or supervision office: reads results.
    Viewer,
    /// A school's principal: reads only their own school's results, after the survey closes.
    School,
    /// Telephones the drawn people of the groups an organiser assigns, reads them the
    /// questionnaire and enters their answers; sees no one else's answers and no results.
    Interviewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Organizer,
        Role::Viewer,
        Role::School,
        Role::Interviewer,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Organizer => "organizer",
            Role::Viewer => "viewer",
            Role::School => "school",
            Role::Interviewer => "interviewer",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "平台管理员",
            Role::Organizer => "组织者",
            Role::Viewer => "查看者",
            Role::School => "学校",
            Role::Interviewer => "访问员",
        }
    }

    /// May change surveys (create, edit, open, close).
    pub fn can_organize(self) -> bool {
        matches!(self, Role::Admin | Role::Organizer)
    }

    /// May read the county's surveys, results and readiness (a school user reads only its own
    /// school's results; an interviewer only their call lists).
    pub fn reads_county(self) -> bool {
        !matches!(self, Role::School | Role::Interviewer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Role {
    type Err = AccountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| {
                AccountError::new("role", "角色必须是 admin、organizer、viewer 或 school")
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AccountError {
    pub field: &'static str,
    pub message: String,
}

impl AccountError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        AccountError {
            field,
            message: message.into(),
        }
    }
}

/// A login name: 3–64 characters of ASCII letters, digits, `.`, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let s = raw.trim();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !(3..=64).contains(&s.len()) || !ok_chars {
            return Err(AccountError::new(
                "username",
                "用户名须为 3–64 个字母、数字或 . _ -",
            ));
        }
        Ok(Username(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least 10 characters, at most 256.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(AccountError::new("password", "密码至少 10 个字符"));
        }
        if n > 256 {
            return Err(AccountError::new("password", "密码不能超过 256 个字符"));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A school's name for a school user: 1–100 characters.
pub fn school_name(raw: &str) -> Result<String, AccountError> {
    let s = raw.trim();
    let n = s.chars().count();
    if !(1..=100).contains(&n) || s.chars().any(char::is_control) {
        return Err(AccountError::new(
            "school",
            "学校账号须填写学校名称（1–100 个字符）",
        ));
    }
    Ok(s.to_owned())
}

/// A county's name (县/区/市), 2–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountyName(String);

impl CountyName {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let s = raw.trim();
        let n = s.chars().count();
        if !(2..=100).contains(&n) || s.chars().any(char::is_control) {
            return Err(AccountError::new("name", "县（区）名称须为 2–100 个字符"));
        }
        Ok(CountyName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A county (tenant): every user but a platform admin belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct County {
    pub id: i32,
    pub name: String,
}

/// A user account as the rest of the program sees it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub active: bool,
    /// A school user's school (its name, the same in every survey of the county).
    pub school: Option<String>,
}

impl User {
    /// The county whose surveys this user may see; `None` for a platform admin (all of them).
    pub fn county_scope(&self) -> Option<i32> {
        match self.role {
            Role::Admin => None,
            // A county user without a county (never created so) sees nothing, not everything.
            _ => Some(self.county_id.unwrap_or(0)),
        }
    }

    /// May see the given county's data.
    pub fn can_see_county(&self, county_id: i32) -> bool {
        self.county_scope().is_none_or(|c| c == county_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_limited_to_safe_characters() {
        assert_eq!(
            Username::parse(" zhang.san ").unwrap().as_str(),
            "zhang.san"
        );
        for bad in ["ab", "张三", "a b c", "x;drop", &"a".repeat(65)] {
            assert_eq!(Username::parse(bad).unwrap_err().field, "username", "{bad}");
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("十个汉字的密码也可以吧").is_ok());
    }

    #[test]
    fn roles_parse_from_their_codes() {
        assert_eq!("viewer".parse::<Role>().unwrap(), Role::Viewer);
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Organizer.can_organize() && !Role::Viewer.can_organize());
    }
}
