//! `renke demo`: a demo county with every page populated.
use crate::config::Settings;

pub async fn run(_settings: &Settings) -> Result<(), String> {
    Err("demo: not yet".into())
}
