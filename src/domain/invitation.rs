//! Invitation tokens: the invitation's id plus a truncated HMAC of it under the server's key.
//!
//! The database holds nothing that could answer in someone's place, and the links can be
//! exported again at any time. 16 base64url characters carry 96 bits of authentication.
//!
//! Also what an invitation is: one drawn person's link, answered once, or revoked when a
//! reserve replaces it or a new draw supersedes its draw.
use super::group::RespondentGroup;
use super::strata::Band;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const MAC_CHARS: usize = 16;

/// The key that signs tokens, derived from the server's secret.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// Derives the token key for one purpose from the server secret.
    pub fn derive(secret: &[u8], purpose: &str) -> TokenKey {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"renke key derivation: ");
        mac.update(purpose.as_bytes());
        TokenKey(mac.finalize().into_bytes().to_vec())
    }

    fn mac(&self, id: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&id.to_be_bytes());
        let bytes = mac.finalize().into_bytes();
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        text[..MAC_CHARS].to_owned()
    }

    /// 16 characters of HMAC over `parts` (each part ends with a NUL byte, so where one ends
    /// and the next begins is part of what is signed).
    pub fn sign(&self, parts: &[&str]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(&[0]);
        }
        let text =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        text[..MAC_CHARS].to_owned()
    }

    /// Whether `signature` is [`TokenKey::sign`] of `parts` (compared in constant time).
    pub fn signed(&self, parts: &[&str], signature: &str) -> bool {
        signature.len() == MAC_CHARS
            && bool::from(self.sign(parts).as_bytes().ct_eq(signature.as_bytes()))
    }

    /// The token for invitation `id`: `{id in base 36}.{16 characters of HMAC}`.
    pub fn token(&self, id: i64) -> String {
        format!("{}.{}", to_base36(id as u64), self.mac(id))
    }

    /// The invitation id a token names, if its HMAC is right.
    pub fn verify(&self, token: &str) -> Option<i64> {
        let (id, mac) = token.split_once('.')?;
        if id.is_empty() || id.len() > 13 || mac.len() != MAC_CHARS {
            return None;
        }
        let id = i64::try_from(u64::from_str_radix(id, 36).ok()?).ok()?;
        let expected = self.mac(id);
        bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then_some(id)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Where an invitation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Sent (or to be sent), not yet answered.
    Pending,
    Answered,
    /// Replaced by a reserve, or superseded by a new draw: the link no longer works.
    Revoked,
}

impl InvitationStatus {
    /// The status county users see: an answered invitation whose answer still waits in its
    /// release cell reads pending (`domain::release`).
    pub fn shown(self, waiting: bool) -> InvitationStatus {
        match self {
            InvitationStatus::Answered if waiting => InvitationStatus::Pending,
            s => s,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Answered => "answered",
            InvitationStatus::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "待回复",
            InvitationStatus::Answered => "已回复",
            InvitationStatus::Revoked => "已撤销",
        }
    }
}

impl FromStr for InvitationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(InvitationStatus::Pending),
            "answered" => Ok(InvitationStatus::Answered),
            "revoked" => Ok(InvitationStatus::Revoked),
            other => Err(format!("unknown invitation status `{other}`")),
        }
    }
}

/// One drawn person's invitation, with the stratum their answer will count in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: i32,
    pub survey_id: i32,
    pub draw_id: i32,
    pub group: RespondentGroup,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub band: Option<Band>,
    pub grade: Option<u8>,
    pub status: InvitationStatus,
    pub created_at: DateTime<Utc>,
    /// The reserve's invitation that replaced this one.
    pub replaced_by: Option<i32>,
}

/// An invitation with the contact data it is sent to (while the rosters are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    pub invitation: Invitation,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    /// The class as the roster wrote it.
    pub class: Option<String>,
    /// Issued to a reserve who replaced someone who did not answer.
    pub reserve: bool,
}

/// A name as a printed slip shows it: the family name and a mask (张**), never the whole.
pub fn masked_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

/// How many invitations of one stratum are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub group: RespondentGroup,
    pub area_id: i32,
    pub band: Option<Band>,
    pub status: InvitationStatus,
    /// Revoked because a reserve replaced it (not because the draw was superseded).
    pub replaced: bool,
    pub count: u64,
}

/// Which invitations a release of reserves replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFilter {
    pub group: RespondentGroup,
    pub area_id: Option<i32>,
    pub band: Option<Band>,
    /// Only invitations issued at or before this time (non-responders after a chosen wait).
    pub issued_before: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseOutcome {
    /// Non-responders replaced by a reserve.
    pub replaced: u64,
    /// Non-responders left as they were: their stratum's reserves are used up.
    pub without_reserve: u64,
}

/// A sort key that orders text as people count: the runs of digits by their value, so 2班
/// comes before 10班 and P9 before P10.
pub fn natural_key(text: &str) -> Vec<(u8, u128, String)> {
    let mut key = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        let digits = c.is_ascii_digit();
        let mut run = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() != digits {
                break;
            }
            run.push(d);
            chars.next();
        }
        key.push(match run.parse::<u128>() {
            Ok(n) if digits => (0, n, run),
            _ => (1, 0, run),
        });
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_text_sort_by_value() {
        let mut classes = vec!["10班", "2班", "1班", "（3）班", "P10", "P9", ""];
        classes.sort_by_key(|c| super::natural_key(c));
        assert_eq!(classes, ["", "1班", "2班", "10班", "P9", "P10", "（3）班"]);
    }

    #[test]
    fn a_token_verifies_to_its_id_and_any_change_breaks_it() {
        let key = TokenKey::derive(b"0123456789abcdef0123456789abcdef", "invitation");
        for id in [1i64, 35, 36, 123_456_789, i64::MAX] {
            let token = key.token(id);
            assert_eq!(key.verify(&token), Some(id), "{token}");
            assert!(token.len() <= 30);
        }
        let token = key.token(42);
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.verify(std::str::from_utf8(&tampered).unwrap()), None);
        // Another id with this id's MAC.
        let (_, mac) = token.split_once('.').unwrap();
        assert_eq!(key.verify(&format!("{}.{mac}", to_base36(43))), None);
        let other = TokenKey::derive(b"another secret, also 32 bytes long!", "invitation");
        assert_eq!(other.verify(&token), None);
        // Signed parts: any change of a part, or of where one ends, breaks the signature.
        let sig = key.sign(&["/o/abc", "nonce", "17"]);
        assert!(key.signed(&["/o/abc", "nonce", "17"], &sig));
        assert!(!key.signed(&["/o/abd", "nonce", "17"], &sig));
        assert!(!key.signed(&["/o/abc", "nonc", "e17"], &sig));
        assert!(!other.signed(&["/o/abc", "nonce", "17"], &sig));
        for junk in [
            "",
            ".",
            "abc",
            "zzzzzzzzzzzzzzzzzzzz.abcdefghijklmnop",
            "1.short",
        ] {
            assert_eq!(key.verify(junk), None, "{junk}");
        }
    }
}
