use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub survey_id: i32,
    pub draw_id: i32,
    pub frame_person_id: Option<i32>,
    pub grp: String,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub band: Option<i16>,
    pub grade: Option<i16>,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub replaced_by: Option<i32>,
    pub release_cell: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
