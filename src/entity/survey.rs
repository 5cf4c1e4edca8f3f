use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "survey")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub population: i64,
    pub rate_ppm: i32,
    pub parent_share_bp: i32,
    pub floor: i64,
    pub target_bp: i32,
    pub status: String,
    pub opens_at: Option<DateTimeUtc>,
    pub closes_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub purged_at: Option<DateTimeUtc>,
    pub estimator: String,
    pub tally_version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub own_cells: Option<String>,
    pub languages: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
