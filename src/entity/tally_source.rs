use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tally_source")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub survey_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grp: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub area_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub flagged: bool,
    pub n: i64,
    pub sx: i64,
    pub sy: i64,
    pub sxx: i64,
    pub syy: i64,
    pub sxy: i64,
    pub ax: i64,
    pub axx: i64,
    pub axy: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
