//! Login sessions. The table keeps only the SHA-256 of each cookie token.
use crate::domain::account::User;
use crate::entity::{session, user};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i32,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    super::insert_row(
        db,
        session::ActiveModel {
            token_hash: Set(token_hash),
            user_id: Set(user_id),
            created_at: Set(Utc::now()),
            expires_at: Set(expires_at),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// The active user behind a live session, if any.
pub async fn find_user(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbErr> {
    let Some(s) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .filter(session::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(user::Entity::find_by_id(s.user_id)
        .one(db)
        .await?
        .map(User::try_from)
        .transpose()?
        .filter(|u| u.active))
}

pub async fn delete(db: &impl ConnectionTrait, token_hash: &str) -> Result<(), DbErr> {
    session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// Ends a user's sessions, but the one whose token hash is `keep`.
pub async fn delete_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    keep: Option<&str>,
) -> Result<u64, DbErr> {
    let mut query = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    if let Some(k) = keep {
        query = query.filter(session::Column::TokenHash.ne(k));
    }
    Ok(query.exec(db).await?.rows_affected)
}

/// Leaves a notice on a session for the next page it opens (`None` clears it).
pub async fn set_notice(
    db: &impl ConnectionTrait,
    token_hash: &str,
    notice: Option<String>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    session::Entity::update_many()
        .col_expr(session::Column::Notice, Expr::value(notice))
        .filter(session::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// The notice a session carries, taken off it (shown once).
pub async fn take_notice(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<String>, DbErr> {
    let notice = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .filter(session::Column::Notice.is_not_null())
        .one(db)
        .await?
        .and_then(|s| s.notice);
    if notice.is_some() {
        set_notice(db, token_hash, None).await?;
    }
    Ok(notice)
}
