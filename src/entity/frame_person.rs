use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "frame_person")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub survey_id: i32,
    pub grp: String,
    pub external_id: String,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub grade: Option<i16>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub line: i32,
    pub class_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
