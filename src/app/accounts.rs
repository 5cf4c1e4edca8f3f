//! Counties, users, logging in and sessions, and the audit trail.
//!
//! A session is a random 256-bit token the browser keeps (in a signed cookie); the database
//! keeps its SHA-256 only, so several servers share sessions and logging out really ends one.
use super::{Actor, Context, audit, blocking, conflict_if};
use crate::config::Settings;
use crate::domain::account::{County, CountyName, NewPassword, Role, User, Username};
use crate::domain::audit::{AuditAction, ChainKey, Entry};
use crate::error::AppError;
use crate::password;
use crate::store::{self, DbFailure};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A new random token, URL-safe base64 of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks a username and password (the caller applies its rate limits first). `from` is the
/// client's address, for the audit trail.
pub async fn authenticate(
    ctx: &Context,
    from: &str,
    username: &str,
    password_text: &str,
) -> Result<User, AppError> {
    let found = store::users::find_for_login(ctx.db.pool(), username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, password::dummy_hash().to_owned()),
    };
    // Hashing is slow on purpose: keep it off the async workers.
    let password_text = password_text.to_owned();
    let ok = blocking(move || password::verify(&password_text, &hash)).await?;
    match user {
        Some(user) if ok && user.active => {
            audit(ctx, &Actor::User(&user), AuditAction::Login, "", from).await;
            Ok(user)
        }
        // Told only to whoever knows the password: a guesser learns nothing of the account.
        Some(user) if ok => {
            audit(
                ctx,
                &Actor::User(&user),
                AuditAction::LoginFailed,
                "disabled",
                from,
            )
            .await;
            Err(AppError::Forbidden(
                "该账号已停用：请联系平台管理员重新启用".into(),
            ))
        }
        _ => {
            let who: String = username.trim().chars().take(64).collect();
            audit(
                ctx,
                &Actor::Operator(&who),
                AuditAction::LoginFailed,
                "",
                from,
            )
            .await;
            Err(AppError::BadCredentials)
        }
    }
}

/// Whether `username` has logged in from `address` before (the audit trail keeps every login
/// with its address): such an address is not locked out by guesses from elsewhere.
pub async fn logged_in_from(
    ctx: &Context,
    username: &str,
    address: &str,
) -> Result<bool, AppError> {
    let username = username.trim();
    Ok(store::audit::has(ctx.db.pool(), AuditAction::Login, username, address).await?)
}

/// Starts a session for `user` and returns its token. The session the browser had before (if
/// any) ends, so a session id planted before login is worthless after it.
pub async fn start_session(
    ctx: &Context,
    previous: Option<&str>,
    user: &User,
) -> Result<String, AppError> {
    let db = ctx.db.pool();
    if let Some(old) = previous {
        store::sessions::delete(db, &token_hash(old)).await?;
    }
    // Logins are rare: a good moment to forget sessions that have run out.
    let now = chrono::Utc::now();
    store::sessions::delete_expired(db, now).await?;
    let token = random_token();
    let expires = now + chrono::Duration::hours(SESSION_HOURS);
    store::sessions::create(db, user.id, token_hash(&token), expires).await?;
    Ok(token)
}

pub async fn end_session(ctx: &Context, token: &str) -> Result<(), AppError> {
    Ok(store::sessions::delete(ctx.db.pool(), &token_hash(token)).await?)
}

/// Leaves the outcome of a form on the session that posted it, for the page it is sent back to.
pub async fn leave_notice(ctx: &Context, token: &str, notice: String) -> Result<(), AppError> {
    Ok(store::sessions::set_notice(ctx.db.pool(), &token_hash(token), Some(notice)).await?)
}

/// The outcome a session carries, taken off it: a page shows it once.
pub async fn take_notice(ctx: &Context, token: &str) -> Result<Option<String>, AppError> {
    Ok(store::sessions::take_notice(ctx.db.pool(), &token_hash(token)).await?)
}

/// The active user behind a live session, if any.
pub async fn session_user(ctx: &Context, token: &str) -> Result<Option<User>, AppError> {
    Ok(store::sessions::find_user(ctx.db.pool(), &token_hash(token), chrono::Utc::now()).await?)
}

// ---- counties ---------------------------------------------------------------------------------

/// Adds a county (platform admins); a duplicate name is a 409.
pub async fn create_county(
    ctx: &Context,
    actor: &Actor<'_>,
    name: &str,
) -> Result<County, AppError> {
    actor.require_admin()?;
    let name = CountyName::parse(name)?;
    let county = store::counties::create(ctx.db.pool(), &name)
        .await
        .map_err(conflict_if(
            DbFailure::UniqueViolation,
            "已有同名的县（区）",
        ))?;
    let subject = format!("county {}", county.id);
    audit(
        ctx,
        actor,
        AuditAction::CountyCreated,
        &subject,
        &county.name,
    )
    .await;
    Ok(county)
}

/// The counties the actor may see, by name.
pub async fn counties(ctx: &Context, actor: &Actor<'_>) -> Result<Vec<County>, AppError> {
    Ok(store::counties::list(ctx.db.pool())
        .await?
        .into_iter()
        .filter(|c| actor.can_see_county(c.id))
        .collect())
}

/// A county the actor may see, else 404 (another county does not exist for them).
pub async fn county(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<County, AppError> {
    if !actor.can_see_county(id) {
        return Err(AppError::NotFound);
    }
    actor.require_county_reader()?;
    store::counties::find(ctx.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A county by its id (all digits) or its exact name, for the command line.
pub async fn county_by_id_or_name(ctx: &Context, key: &str) -> Result<Option<County>, AppError> {
    Ok(store::counties::find_by_id_or_name(ctx.db.pool(), key).await?)
}

// ---- users ----------------------------------------------------------------------------------

/// A user to add, as typed.
pub struct NewUserInput<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: &'a str,
    /// Required for every role but `admin`.
    pub county_id: Option<i32>,
    /// Required for `school`: the school's name.
    pub school: Option<&'a str>,
}

/// Adds a user (platform admins) after checking every field; a taken username is a 409.
pub async fn create_user(
    ctx: &Context,
    actor: &Actor<'_>,
    input: NewUserInput<'_>,
) -> Result<User, AppError> {
    actor.require_admin()?;
    let username = Username::parse(input.username)?;
    let password_text = NewPassword::parse(input.password)?;
    let role: Role = input.role.parse()?;
    let county_id = match role {
        Role::Admin => None,
        _ => {
            let id = input
                .county_id
                .ok_or_else(|| AppError::invalid("county_id", "请选择用户所属的县（区）"))?;
            store::counties::find(ctx.db.pool(), id)
                .await?
                .ok_or_else(|| AppError::invalid("county_id", "没有这个县（区）"))?;
            Some(id)
        }
    };
    let school = match role {
        Role::School => {
            let name = crate::domain::account::school_name(input.school.unwrap_or_default())?;
            // Once the county's surveys list their schools, the name must be one of them (a
            // typo would give an account that can read nothing).
            let known = store::geography::school_names_in_county(
                ctx.db.pool(),
                county_id.unwrap_or_default(),
            )
            .await?;
            if !known.is_empty() && !known.contains(&name) {
                return Err(AppError::invalid(
                    "school",
                    format!("本县（区）的调查里没有名为“{name}”的学校"),
                ));
            }
            Some(name)
        }
        _ => None,
    };
    let text = password_text.expose().to_owned();
    let password_hash = blocking(move || password::hash(&text))
        .await?
        .map_err(AppError::internal)?;
    let user = store::users::create(
        ctx.db.pool(),
        store::users::NewUser {
            username: &username,
            password_hash,
            role,
            county_id,
            school,
        },
    )
    .await
    .map_err(conflict_if(DbFailure::UniqueViolation, "用户名已被使用"))?;
    audit(
        ctx,
        actor,
        AuditAction::UserCreated,
        &user.username,
        role.code(),
    )
    .await;
    Ok(user)
}

/// Every user (platform admins).
pub async fn users(ctx: &Context, actor: &Actor<'_>) -> Result<Vec<User>, AppError> {
    actor.require_admin()?;
    Ok(store::users::list(ctx.db.pool(), None).await?)
}

/// What an admin changes on a user: any of role, county, whether they may log in.
#[derive(Debug, Default)]
pub struct UserChange<'a> {
    pub role: Option<&'a str>,
    /// `Some(None)`: no county (admins only).
    pub county_id: Option<Option<i32>>,
    pub active: Option<bool>,
}

/// A user by id (platform admins), else 404.
async fn user_by_id(ctx: &Context, id: i32) -> Result<(User, String), AppError> {
    store::users::find(ctx.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes a user's role, county or access (platform admins). A user disabled, or given another
/// role or county, is logged out everywhere; the last active admin cannot be disabled or
/// demoted.
pub async fn change_user(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    change: UserChange<'_>,
) -> Result<User, AppError> {
    actor.require_admin()?;
    let (before, _) = user_by_id(ctx, id).await?;
    let mut after = before.clone();
    if let Some(r) = change.role {
        after.role = r.parse()?;
    }
    if let Some(c) = change.county_id {
        after.county_id = c;
    }
    if let Some(a) = change.active {
        after.active = a;
    }
    // A school account names its school when it is created; another account cannot become one
    // without (it would read nothing), nor a school account another role with its school kept.
    if (after.role == Role::School) != (before.role == Role::School) {
        return Err(AppError::invalid(
            "role",
            "学校账号要在新增用户时填写学校；其他账号不能改成学校账号，学校账号也不能改成其他角色",
        ));
    }
    match after.role {
        Role::Admin => after.county_id = None,
        _ => {
            let id = after
                .county_id
                .ok_or_else(|| AppError::invalid("county_id", "请选择用户所属的县（区）"))?;
            store::counties::find(ctx.db.pool(), id)
                .await?
                .ok_or_else(|| AppError::invalid("county_id", "没有这个县（区）"))?;
        }
    }
    let was_admin = before.role == Role::Admin && before.active;
    let still_admin = after.role == Role::Admin && after.active;
    if was_admin && !still_admin && store::users::active_admin_count(ctx.db.pool()).await? <= 1 {
        return Err(AppError::Conflict(
            "这是唯一的平台管理员，不能停用或改为其他角色".into(),
        ));
    }
    if after == before {
        return Ok(after);
    }
    let txn = store::begin_write(&ctx.db).await?;
    store::users::update(&txn, &after).await?;
    if !after.active || after.role != before.role || after.county_id != before.county_id {
        store::sessions::delete_for_user(&txn, id, None).await?;
    }
    // Calls and paper are assigned to an interviewer of a county: not to what they become.
    if after.role != before.role || after.county_id != before.county_id {
        store::fieldwork::clear_user_assignments(&txn, id).await?;
    }
    txn.commit().await?;
    let detail = format!(
        "role {} county {} active {}",
        after.role.code(),
        after
            .county_id
            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
        after.active
    );
    audit(
        ctx,
        actor,
        AuditAction::UserChanged,
        &after.username,
        &detail,
    )
    .await;
    Ok(after)
}

async fn hash_new(password_text: &str) -> Result<String, AppError> {
    let text = NewPassword::parse(password_text)?.expose().to_owned();
    blocking(move || password::hash(&text))
        .await?
        .map_err(AppError::internal)
}

/// Sets a user's password (platform admins) and ends every session of theirs.
pub async fn reset_password(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    new_password: &str,
) -> Result<User, AppError> {
    actor.require_admin()?;
    let (user, _) = user_by_id(ctx, id).await?;
    let hash = hash_new(new_password).await?;
    let txn = store::begin_write(&ctx.db).await?;
    store::users::set_password(&txn, id, hash).await?;
    store::sessions::delete_for_user(&txn, id, None).await?;
    txn.commit().await?;
    audit(ctx, actor, AuditAction::PasswordReset, &user.username, "").await;
    Ok(user)
}

/// Changes the logged-in user's own password after checking the current one; their other
/// sessions end (the one asking, `session_token`, stays).
pub async fn change_own_password(
    ctx: &Context,
    user: &User,
    session_token: Option<&str>,
    current: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let (_, hash) = user_by_id(ctx, user.id).await?;
    let same = current == new_password;
    let current = current.to_owned();
    if !blocking(move || password::verify(&current, &hash)).await? {
        return Err(AppError::invalid("current_password", "当前密码不正确"));
    }
    if same {
        return Err(AppError::invalid(
            "new_password",
            "新密码不能与当前密码相同",
        ));
    }
    let hash = hash_new(new_password).await.map_err(|e| match e {
        AppError::Invalid { message, .. } => AppError::invalid("new_password", message),
        e => e,
    })?;
    let keep = session_token.map(token_hash);
    let txn = store::begin_write(&ctx.db).await?;
    store::users::set_password(&txn, user.id, hash).await?;
    store::sessions::delete_for_user(&txn, user.id, keep.as_deref()).await?;
    txn.commit().await?;
    audit(
        ctx,
        &Actor::User(user),
        AuditAction::PasswordChanged,
        &user.username,
        "",
    )
    .await;
    Ok(())
}

/// The platform admin Renke created at start-up, with the password it generated.
pub struct CreatedAdmin {
    pub username: String,
    /// Set when no password was configured: it is shown once and never again.
    pub generated_password: Option<String>,
}

/// Creates the first platform admin when there is none.
pub async fn ensure_admin(
    ctx: &Context,
    settings: &Settings,
) -> Result<Option<CreatedAdmin>, AppError> {
    if store::users::admin_count(ctx.db.pool()).await? > 0 {
        return Ok(None);
    }
    let username = Username::parse(&settings.admin_user)
        .map_err(|e| AppError::invalid("RENKE_ADMIN_USER", format!("RENKE_ADMIN_USER: {e}")))?;
    let (text, generated) = match &settings.admin_password {
        Some(p) => (p.clone(), false),
        None => (random_token()[..20].to_owned(), true),
    };
    let password_text = NewPassword::parse(&text).map_err(|e| {
        AppError::invalid("RENKE_ADMIN_PASSWORD", format!("RENKE_ADMIN_PASSWORD: {e}"))
    })?;
    let hash = blocking(move || password::hash(&text))
        .await?
        .map_err(AppError::internal)?;
    let created = store::users::create(
        ctx.db.pool(),
        store::users::NewUser {
            username: &username,
            password_hash: hash,
            role: Role::Admin,
            county_id: None,
            school: None,
        },
    )
    .await;
    if let Err(e) = created {
        // Another server starting beside this one made it first.
        if store::users::admin_count(ctx.db.pool()).await? > 0 {
            return Ok(None);
        }
        return Err(e.into());
    }
    Ok(Some(CreatedAdmin {
        username: username.as_str().to_owned(),
        generated_password: generated.then(|| password_text.expose().to_owned()),
    }))
}

// ---- the audit trail ----------------------------------------------------------------------------

/// Whether the trail's hash chain holds.
pub enum Chain {
    /// How many entries, and the last one's hash (the trail's head, as its anchor records it).
    Intact { entries: u64, head: String },
    /// The first entry that does not follow from the one before, and why.
    Broken { at: i32, reason: String },
}

/// Keys a trail written before the chain was keyed, once, while its anchor is pending: if its
/// plain chain is intact, every entry is re-hashed with the key and the anchor signed. A trail
/// found broken stays unkeyed, and `verify_audit` reports it. Returns whether it keyed.
pub(super) async fn key_trail_if_pending(
    db: &store::Database,
    key: &ChainKey,
) -> Result<bool, AppError> {
    let txn = store::begin_write(db).await?;
    if !store::audit::anchor_pending(&txn).await? {
        return Ok(false);
    }
    let entries = store::audit::all(&txn).await?;
    if let Some(at) = crate::domain::audit::plain_break(&entries) {
        tracing::error!(
            entry = at,
            "the audit trail was not intact when it was to be keyed; left unkeyed"
        );
        return Ok(false);
    }
    let mut head = crate::domain::audit::GENESIS.to_owned();
    for (id, prev, hash) in crate::domain::audit::rechained(&entries, key) {
        store::audit::rechain(&txn, id, &prev, &hash).await?;
        head = hash;
    }
    store::audit::set_anchor(&txn, key, entries.len() as i64, &head).await?;
    txn.commit().await?;
    Ok(true)
}

/// Walks the whole chain (platform admins).
pub async fn verify_audit(ctx: &Context, actor: &Actor<'_>) -> Result<Chain, AppError> {
    actor.require_admin()?;
    Ok(
        match store::audit::verify(ctx.db.pool(), &ctx.audit_key).await? {
            Ok((entries, head)) => Chain::Intact { entries, head },
            Err((at, reason)) => Chain::Broken { at, reason },
        },
    )
}

/// The newest entries, newest first (platform admins).
pub async fn audit_entries(
    ctx: &Context,
    actor: &Actor<'_>,
    limit: u64,
) -> Result<Vec<Entry>, AppError> {
    actor.require_admin()?;
    Ok(store::audit::recent(ctx.db.pool(), limit.min(1_000)).await?)
}
