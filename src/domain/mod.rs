//! Pure logic in the survey's own words: no I/O, no database, no HTTP.
pub mod account;
pub mod group;
pub mod quota;
pub mod survey;
