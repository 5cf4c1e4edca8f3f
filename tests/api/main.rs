//! Renke's integration tests: each spawns the real application on port 0 with a fresh
//! database (SQLite always; PostgreSQL too when RENKE_TEST_POSTGRES_URL is set) and talks HTTP.
mod helpers;

mod access;
mod answering;
mod auth;
mod channels;
mod cli;
mod comments;
mod disclosure;
mod draws;
mod e2e;
mod estimate;
mod faults;
mod fieldwork;
mod health_and_quota;
mod held;
mod integrity;
mod languages;
mod layers;
mod limits;
mod loadgen;
mod matrix;
mod organiser;
mod places;
mod progress;
mod readiness;
mod sampling;
mod school_results;
mod security;
mod shutdown;
mod survey_pages;
mod surveys;
mod tally;
mod writer;
