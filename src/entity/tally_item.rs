use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tally_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub survey_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grp: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub area_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub school_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub band: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub flagged: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub option_code: String,
    pub answers: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
