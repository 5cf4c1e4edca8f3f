use crate::domain::account::{Role, User, Username};
use crate::entity::user;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User {
            id: m.id,
            username: m.username,
            // An unknown role in the table reads as the least privileged one.
            role: m.role.parse().unwrap_or(Role::Viewer),
            county_id: m.county_id,
            active: m.active,
        }
    }
}

/// A user to create, with the password already hashed.
pub struct NewUser<'a> {
    pub username: &'a Username,
    pub password_hash: String,
    pub role: Role,
    pub county_id: Option<i32>,
}

pub async fn create(db: &impl ConnectionTrait, new: NewUser<'_>) -> Result<User, DbErr> {
    let model = super::insert_row(
        db,
        user::ActiveModel {
            username: Set(new.username.as_str().to_owned()),
            password_hash: Set(new.password_hash),
            role: Set(new.role.code().to_owned()),
            county_id: Set(match new.role {
                Role::Admin => None,
                _ => new.county_id,
            }),
            active: Set(true),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        },
    )
    .await?;
    Ok(model.into())
}

/// The user and their password hash, for checking a login.
pub async fn find_for_login(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<(User, String)>, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username.trim()))
        .one(db)
        .await?
        .map(|m| {
            let hash = m.password_hash.clone();
            (User::from(m), hash)
        }))
}

/// Users of one county, or every user when `county` is `None`.
pub async fn list(db: &impl ConnectionTrait, county: Option<i32>) -> Result<Vec<User>, DbErr> {
    let mut query = user::Entity::find().order_by_asc(user::Column::Username);
    if let Some(c) = county {
        query = query.filter(user::Column::CountyId.eq(c));
    }
    Ok(query.all(db).await?.into_iter().map(User::from).collect())
}

pub async fn admin_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin.code()))
        .count(db)
        .await
}
