//! A small smoke run of the load generator: a few hundred submissions, nothing lost.
use crate::helpers::{Backend, spawn_app};

#[path = "../../examples/loadgen/driver.rs"]
#[allow(dead_code)]
pub mod driver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_submissions_is_stored_exactly_once_each() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (survey, paths) = driver::prepare(&app.settings, 300).await.unwrap();
    assert_eq!(paths.len(), 300);
    let report = driver::drive(&app.address, paths, 16).await;
    assert_eq!(report.errors, 0);
    assert_eq!(report.acknowledged, 300);
    let stored = renke::store::responses::count(&app.db, survey)
        .await
        .unwrap();
    assert_eq!(stored, 300);
}
