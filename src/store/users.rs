use crate::domain::account::{Role, User, Username};
use crate::entity::user;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

impl TryFrom<user::Model> for User {
    type Error = DbErr;

    fn try_from(m: user::Model) -> Result<Self, DbErr> {
        Ok(User {
            role: m
                .role
                .parse()
                .map_err(|_| super::corrupt("user", m.id, format!("unknown role `{}`", m.role)))?,
            id: m.id,
            username: m.username,
            county_id: m.county_id,
            active: m.active,
            school: m.school,
        })
    }
}

/// A user to create, with the password already hashed.
pub struct NewUser<'a> {
    pub username: &'a Username,
    pub password_hash: String,
    pub role: Role,
    pub county_id: Option<i32>,
    /// A school user's school.
    pub school: Option<String>,
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
            school: Set(match new.role {
                Role::School => new.school,
                _ => None,
            }),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        },
    )
    .await?;
    model.try_into()
}

/// The user and their password hash, for checking a login.
pub async fn find_for_login(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<(User, String)>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username.trim()))
        .one(db)
        .await?
        .map(with_hash)
        .transpose()
}

fn with_hash(m: user::Model) -> Result<(User, String), DbErr> {
    let hash = m.password_hash.clone();
    Ok((User::try_from(m)?, hash))
}

/// Users of one county, or every user when `county` is `None`.
pub async fn list(db: &impl ConnectionTrait, county: Option<i32>) -> Result<Vec<User>, DbErr> {
    let mut query = user::Entity::find().order_by_asc(user::Column::Username);
    if let Some(c) = county {
        query = query.filter(user::Column::CountyId.eq(c));
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(User::try_from)
        .collect()
}

pub async fn admin_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin.code()))
        .count(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<(User, String)>, DbErr> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(with_hash)
        .transpose()
}

/// Sets a user's role, county and whether they may log in.
pub async fn update(db: &impl ConnectionTrait, changed: &User) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(changed.role.code()))
        .col_expr(
            user::Column::CountyId,
            Expr::value(match changed.role {
                Role::Admin => None,
                _ => changed.county_id,
            }),
        )
        .col_expr(user::Column::Active, Expr::value(changed.active))
        .filter(user::Column::Id.eq(changed.id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_password(db: &impl ConnectionTrait, id: i32, hash: String) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Active platform admins.
pub async fn active_admin_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin.code()))
        .filter(user::Column::Active.eq(true))
        .count(db)
        .await
}
