use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "questionnaire")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub county_id: Option<i32>,
    pub booklet: String,
    pub version: String,
    pub definition: String,
    pub created_at: DateTimeUtc,
    pub created_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
