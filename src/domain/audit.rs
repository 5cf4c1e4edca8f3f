//! The audit trail: an append-only chain where each entry carries the hash of the one before,
//! so a changed or deleted entry breaks every hash after it. The hashes are keyed with the
//! server secret (HMAC-SHA256): whoever can write the table but does not hold the secret cannot
//! re-hash a changed chain. An anchor kept beside it, signed the same way, records how many
//! entries there are and the last one's hash, so cutting entries off the end shows too.
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The key the trail is signed with, derived from the server secret.
#[derive(Clone)]
pub struct ChainKey(Vec<u8>);

impl ChainKey {
    pub fn derive(secret: &[u8]) -> ChainKey {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"renke key derivation: audit chain");
        ChainKey(mac.finalize().into_bytes().to_vec())
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        feed_lines(&mut mac, parts);
        hex::encode(mac.finalize().into_bytes())
    }

    /// An entry's keyed hash: over the previous hash and the entry's fields, each on a line.
    pub fn entry(
        &self,
        prev: &str,
        at: &str,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> String {
        self.mac(&[prev, at, actor, action, subject, detail])
    }

    /// The anchor's signature over the number of entries and the last one's hash.
    pub fn anchor(&self, entries: i64, head: &str) -> String {
        self.mac(&["anchor", &entries.to_string(), head])
    }
}

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records. The code is what the trail stores and shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Login,
    LoginFailed,
    CountyCreated,
    UserCreated,
    SurveyCreated,
    SettingsChanged,
    Opened,
    Closed,
    AreasSet,
    SchoolsSet,
    RosterUploaded,
    Drew,
    ReservesReleased,
    ChannelCreated,
    ChannelClosed,
    ChannelReopened,
    ChannelDeleted,
    Purged,
    QuestionnaireUploaded,
    InvitationsExported,
    InvitationsPrinted,
    ResponsesExported,
    TallyRebuilt,
    ReadinessUploaded,
    ChecklistSaved,
    ReadinessRuleSet,
    HeldAccepted,
    HeldRejected,
    DrawLinesExported,
    DrawDiscarded,
    WindowChanged,
    SurveyDeleted,
    SurveyArchived,
    LanguagesSet,
    SurveyCopied,
    UserChanged,
    PasswordReset,
    PasswordChanged,
    InterviewersAssigned,
    CallRecorded,
    PhoneInterviewed,
    PaperPrinted,
    PaperEntered,
    PaperResolved,
    PaperVoided,
}

impl AuditAction {
    pub const ALL: [AuditAction; 45] = [
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::CountyCreated,
        AuditAction::UserCreated,
        AuditAction::SurveyCreated,
        AuditAction::SettingsChanged,
        AuditAction::Opened,
        AuditAction::Closed,
        AuditAction::AreasSet,
        AuditAction::SchoolsSet,
        AuditAction::RosterUploaded,
        AuditAction::Drew,
        AuditAction::ReservesReleased,
        AuditAction::ChannelCreated,
        AuditAction::ChannelClosed,
        AuditAction::ChannelReopened,
        AuditAction::ChannelDeleted,
        AuditAction::Purged,
        AuditAction::QuestionnaireUploaded,
        AuditAction::InvitationsExported,
        AuditAction::InvitationsPrinted,
        AuditAction::ResponsesExported,
        AuditAction::TallyRebuilt,
        AuditAction::ReadinessUploaded,
        AuditAction::ChecklistSaved,
        AuditAction::ReadinessRuleSet,
        AuditAction::HeldAccepted,
        AuditAction::HeldRejected,
        AuditAction::DrawLinesExported,
        AuditAction::DrawDiscarded,
        AuditAction::WindowChanged,
        AuditAction::SurveyDeleted,
        AuditAction::SurveyArchived,
        AuditAction::LanguagesSet,
        AuditAction::SurveyCopied,
        AuditAction::UserChanged,
        AuditAction::PasswordReset,
        AuditAction::PasswordChanged,
        AuditAction::InterviewersAssigned,
        AuditAction::CallRecorded,
        AuditAction::PhoneInterviewed,
        AuditAction::PaperPrinted,
        AuditAction::PaperEntered,
        AuditAction::PaperResolved,
        AuditAction::PaperVoided,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::CountyCreated => "county_created",
            AuditAction::UserCreated => "user_created",
            AuditAction::SurveyCreated => "survey_created",
            AuditAction::SettingsChanged => "settings_changed",
            AuditAction::Opened => "open",
            AuditAction::Closed => "closed",
            AuditAction::AreasSet => "areas_set",
            AuditAction::SchoolsSet => "schools_set",
            AuditAction::RosterUploaded => "roster_upload",
            AuditAction::Drew => "draw",
            AuditAction::ReservesReleased => "release_reserves",
            AuditAction::ChannelCreated => "channel_created",
            AuditAction::ChannelClosed => "channel_closed",
            AuditAction::ChannelReopened => "channel_reopened",
            AuditAction::ChannelDeleted => "channel_deleted",
            AuditAction::Purged => "purge",
            AuditAction::QuestionnaireUploaded => "questionnaire_uploaded",
            AuditAction::InvitationsExported => "export_invitations",
            AuditAction::InvitationsPrinted => "print_invitations",
            AuditAction::ResponsesExported => "export_responses",
            AuditAction::TallyRebuilt => "tally_rebuilt",
            AuditAction::ReadinessUploaded => "readiness_upload",
            AuditAction::ChecklistSaved => "checklist_saved",
            AuditAction::ReadinessRuleSet => "readiness_rule_set",
            AuditAction::HeldAccepted => "held_accepted",
            AuditAction::HeldRejected => "held_rejected",
            AuditAction::DrawLinesExported => "export_draw_lines",
            AuditAction::DrawDiscarded => "draw_discarded",
            AuditAction::WindowChanged => "window_changed",
            AuditAction::SurveyDeleted => "survey_deleted",
            AuditAction::SurveyArchived => "survey_archived",
            AuditAction::LanguagesSet => "languages_set",
            AuditAction::SurveyCopied => "survey_copied",
            AuditAction::UserChanged => "user_changed",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::PasswordChanged => "password_changed",
            AuditAction::InterviewersAssigned => "interviewers_assigned",
            AuditAction::CallRecorded => "call_recorded",
            AuditAction::PhoneInterviewed => "phone_interviewed",
            AuditAction::PaperPrinted => "paper_printed",
            AuditAction::PaperEntered => "paper_entered",
            AuditAction::PaperResolved => "paper_resolved",
            AuditAction::PaperVoided => "paper_voided",
        }
    }

    pub fn parse(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// One entry of the trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i32,
    /// RFC 3339 with microseconds, as hashed.
    pub at: String,
    pub actor: String,
    /// The action's code (older entries may carry codes no longer written).
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Where a trail chained with plain SHA-256 (before the key) first breaks; `None`: intact.
pub fn plain_break(entries: &[Entry]) -> Option<i32> {
    let mut prev = GENESIS;
    for e in entries {
        let plain = entry_hash(
            &e.prev_hash,
            &e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
        );
        if e.prev_hash != prev || e.hash != plain {
            return Some(e.id);
        }
        prev = &e.hash;
    }
    None
}

/// The trail chained again with the key: each entry's id with its new previous hash and hash.
pub fn rechained(entries: &[Entry], key: &ChainKey) -> Vec<(i32, String, String)> {
    let mut prev = GENESIS.to_owned();
    entries
        .iter()
        .map(|e| {
            let hash = key.entry(&prev, &e.at, &e.actor, &e.action, &e.subject, &e.detail);
            (e.id, std::mem::replace(&mut prev, hash.clone()), hash)
        })
        .collect()
}

/// Each part, then a line break: what both the keyed and the plain hash take in.
fn feed_lines(h: &mut impl sha2::digest::Update, parts: &[&str]) {
    for part in parts {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
}

/// SHA-256 over the previous hash and the entry's fields, each on a line of its own: how entries
/// were chained before the chain was keyed (a trail written so is keyed once, when found intact).
pub fn entry_hash(
    prev: &str,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    feed_lines(&mut h, &[prev, at, actor, action, subject, detail]);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_code_of_its_own() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.code()), Some(a));
        }
    }

    #[test]
    fn any_change_to_an_entry_changes_its_hash() {
        let a = entry_hash(GENESIS, "t", "admin", "draw", "survey 1", "seed 7");
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            entry_hash(GENESIS, "t", "admin", "draw", "survey 1", "seed 8")
        );
        assert_ne!(
            a,
            entry_hash(&a, "t", "admin", "draw", "survey 1", "seed 7")
        );
        // Field boundaries matter: moving text from one field to the next changes the hash.
        assert_ne!(
            entry_hash(GENESIS, "t", "ab", "c", "", ""),
            entry_hash(GENESIS, "t", "a", "bc", "", "")
        );
    }
}
