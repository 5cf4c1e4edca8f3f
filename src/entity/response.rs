use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "response")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub survey_id: i32,
    pub questionnaire_id: i32,
    pub booklet: String,
    pub grp: String,
    pub area_id: Option<i32>,
    pub area_class: Option<String>,
    pub school_id: Option<i32>,
    pub band: Option<i16>,
    pub source: String,
    pub submitted_hour: DateTimeUtc,
    pub completion_seconds: i32,
    pub too_fast: bool,
    pub straight_lined: bool,
    pub answers: String,
    pub comment: Option<String>,
    pub channel_id: Option<i32>,
    pub release_cell: Option<String>,
    pub released: i16,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
