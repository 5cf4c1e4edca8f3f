use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stratum_place")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub survey_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grp: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub area_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub band: i16,
    pub quota: i32,
    pub claimed: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
