//! The audit trail: an append-only chain where each entry carries the hash of the one before,
//! so a changed or deleted entry breaks every hash after it.
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and the entry's fields, each on a line of its own.
pub fn entry_hash(
    prev: &str,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [prev, at, actor, action, subject, detail] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

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
