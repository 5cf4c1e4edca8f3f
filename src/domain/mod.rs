//! Pure logic in the survey's own words: no I/O, no database, no HTTP.
pub mod account;
pub mod audit;
pub mod breakdown;
pub mod channel;
pub mod draw;
pub mod frame;
pub mod geography;
pub mod group;
pub mod invitation;
pub mod places;
pub mod questionnaire;
pub mod quota;
pub mod readiness;
pub mod response;
pub mod strata;
pub mod survey;
pub mod tally;
