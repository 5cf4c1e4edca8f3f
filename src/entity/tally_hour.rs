use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tally_hour")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub survey_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: DateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false)]
    pub flagged: bool,
    pub n: i64,
    pub sx: i64,
    pub sy: i64,
    pub sxx: i64,
    pub syy: i64,
    pub sxy: i64,
    pub n_ratio: i64,
    pub ratio: f64,
    pub ratio_sq: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
