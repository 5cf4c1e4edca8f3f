//! Renke's schema, one file per change. Run at start-up and by `renke migrate`.
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261129_000002_frames_and_draws;
mod m20261129_000003_questionnaires_and_responses;
mod m20261129_000004_tally;
mod m20261129_000005_readiness;
mod m20261129_000006_audit;
mod m20261129_000007_response_pages;
mod m20261201_000008_stratum_places;
mod m20261201_000009_held_answers;
mod m20261201_000010_integrity;
mod m20261202_000011_estimate;
mod m20261202_000012_draw_v2;
mod m20261202_000013_organiser_path;
mod m20261202_000014_session_notice;
mod m20261202_000015_audit_anchor;
mod m20261203_000016_release_batches;
mod m20261203_000017_school_reach;
mod m20261203_000018_survey_languages;
mod m20261203_000019_phone_and_paper;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_foundation::Migration),
            Box::new(m20261129_000002_frames_and_draws::Migration),
            Box::new(m20261129_000003_questionnaires_and_responses::Migration),
            Box::new(m20261129_000004_tally::Migration),
            Box::new(m20261129_000005_readiness::Migration),
            Box::new(m20261129_000006_audit::Migration),
            Box::new(m20261129_000007_response_pages::Migration),
            Box::new(m20261201_000008_stratum_places::Migration),
            Box::new(m20261201_000009_held_answers::Migration),
            Box::new(m20261201_000010_integrity::Migration),
            Box::new(m20261202_000011_estimate::Migration),
            Box::new(m20261202_000012_draw_v2::Migration),
            Box::new(m20261202_000013_organiser_path::Migration),
            Box::new(m20261202_000014_session_notice::Migration),
            Box::new(m20261202_000015_audit_anchor::Migration),
            Box::new(m20261203_000016_release_batches::Migration),
            Box::new(m20261203_000017_school_reach::Migration),
            Box::new(m20261203_000018_survey_languages::Migration),
            Box::new(m20261203_000019_phone_and_paper::Migration),
        ]
    }
}
