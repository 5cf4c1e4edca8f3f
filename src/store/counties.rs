use crate::domain::account::{County, CountyName};
use crate::entity::county;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set};

impl From<county::Model> for County {
    fn from(m: county::Model) -> Self {
        County {
            id: m.id,
            name: m.name,
        }
    }
}

pub async fn create(db: &impl ConnectionTrait, name: &CountyName) -> Result<County, DbErr> {
    let model = super::insert_row(
        db,
        county::ActiveModel {
            name: Set(name.as_str().to_owned()),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        },
    )
    .await?;
    Ok(model.into())
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<County>, DbErr> {
    Ok(county::Entity::find()
        .order_by_asc(county::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(County::from)
        .collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<County>, DbErr> {
    Ok(county::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(County::from))
}

/// Finds a county by its id (all digits) or its exact name.
pub async fn find_by_id_or_name(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<County>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    if let Ok(id) = key.parse::<i32>() {
        return find(db, id).await;
    }
    Ok(county::Entity::find()
        .filter(county::Column::Name.eq(key.trim()))
        .one(db)
        .await?
        .map(County::from))
}

/// The county's rule for small schools in the coefficients of variation (none: every school).
pub async fn set_aside_below(db: &impl ConnectionTrait, id: i32) -> Result<Option<i32>, DbErr> {
    Ok(county::Entity::find_by_id(id)
        .one(db)
        .await?
        .and_then(|c| c.set_aside_below))
}

pub async fn set_set_aside_below(
    db: &impl ConnectionTrait,
    id: i32,
    below: Option<i32>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    county::Entity::update_many()
        .col_expr(county::Column::SetAsideBelow, Expr::value(below))
        .filter(county::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
