use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draw_pick")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub draw_id: i32,
    pub frame_person_id: Option<i32>,
    pub external_id: String,
    pub grp: String,
    pub area_id: i32,
    pub band: Option<i16>,
    pub kind: String,
    pub rank: i32,
    pub invitation_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
