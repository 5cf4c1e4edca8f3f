use sea_orm::entity::prelude::*;

/// The audit trail's anchor: one row, how many entries the trail holds and the last one's
/// hash, signed with the chain key. `entries` is -1 until a trail from before the chain was
/// keyed has been keyed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_anchor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub entries: i64,
    pub head_hash: String,
    pub mac: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
