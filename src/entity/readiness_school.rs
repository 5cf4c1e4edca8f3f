use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "readiness_school")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub county_id: i32,
    pub position: i32,
    pub name: String,
    pub kind: String,
    pub pupils: f64,
    pub primary_pupils: f64,
    pub junior_pupils: f64,
    pub qualified_teachers: f64,
    pub backbone_teachers: f64,
    pub pe_arts_teachers: f64,
    pub teaching_space_m2: f64,
    pub sports_space_m2: f64,
    pub equipment_value_yuan: f64,
    pub multimedia_rooms: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
