use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draw")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub survey_id: i32,
    pub seed: String,
    pub seed_source: String,
    pub seed_note: Option<String>,
    pub geography: Option<String>,
    pub frame_digest: String,
    pub algorithm: String,
    pub reserve_percent: i32,
    pub quotas: String,
    pub frame_size: i32,
    pub selected: i32,
    pub reserves: i32,
    pub superseded: bool,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i32>,
    pub created_by_name: String,
    pub frame_fingerprint: Option<String>,
    pub discarded_at: Option<DateTimeUtc>,
    pub discarded_by_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
