//! Settings from environment variables (RENKE_*), typed, with defaults. Secrets are never logged.
use rand::RngCore;
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://renke.db?mode=rwc";
pub const DEFAULT_HOLD_AFTER: u32 = 30;
pub const DEFAULT_REFUSE_AFTER: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("secret key file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The key that signs session cookies and invitation tokens. At least 32 bytes.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(value: String) -> Result<Self, ConfigError> {
        let value = value.trim().to_owned();
        if value.len() < Self::MIN_LEN {
            return Err(ConfigError::Invalid {
                name: "RENKE_SECRET_KEY",
                message: format!("must be at least {} bytes", Self::MIN_LEN),
            });
        }
        Ok(SecretKey(value))
    }

    /// 256 random bits as 64 hex digits.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretKey(hex::encode(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a new key.
    pub fn load_or_create(path: &Path) -> Result<Self, ConfigError> {
        let err = |source| ConfigError::SecretFile {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => SecretKey::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(err)?;
                std::io::Write::write_all(&mut file, key.0.as_bytes()).map_err(err)?;
                tracing::info!(path = %path.display(), "generated a new secret key");
                Ok(key)
            }
            Err(e) => Err(err(e)),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// RENKE_BIND: address and port to listen on.
    pub bind: String,
    /// RENKE_DATABASE_URL: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// RENKE_DATABASE_SCHEMA: PostgreSQL schema to use (default: the connection's search path).
    pub database_schema: Option<String>,
    /// RENKE_SECRET_KEY, or the generated `renke.secret` beside the database.
    pub secret_key: SecretKey,
    /// RENKE_ADMIN_USER: the platform admin created when none exists.
    pub admin_user: String,
    /// RENKE_ADMIN_PASSWORD: that admin's password; generated and printed once when unset.
    pub admin_password: Option<String>,
    /// RENKE_SECURE_COOKIES: mark cookies Secure (set when served over HTTPS, e.g. behind a proxy).
    pub secure_cookies: bool,
    /// RENKE_TRUST_PROXY: take the client address from X-Forwarded-For (only behind a proxy).
    pub trust_proxy: bool,
    /// RENKE_WORKERS: HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// RENKE_DB_POOL: database connections in the pool.
    pub db_pool: u32,
    /// RENKE_PUBLIC_URL: the address respondents reach Renke at (for links and QR codes);
    /// by default taken from each request's Host.
    pub public_url: Option<String>,
    /// RENKE_SQLITE_SYNCHRONOUS: `full` (default: a commit survives power loss) or `normal`
    /// (a commit survives the process being killed, not a power cut; much faster).
    pub sqlite_full_sync: bool,
    /// RENKE_REQUEST_TIMEOUT: seconds a request may take to arrive and be answered (default
    /// 120); the request head alone gets at most 10. Slow or stalled clients get a 408.
    pub request_timeout: std::time::Duration,
    /// RENKE_HOLD_AFTER: open-channel answers one client address may give a survey in an hour
    /// before the next ones are held for review (default 30).
    pub hold_after: u32,
    /// RENKE_REFUSE_AFTER: open-channel answers one client address may give a survey in 24
    /// hours before the next ones are refused (default 1000).
    pub refuse_after: u32,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_bool(name: &'static str) -> Result<bool, ConfigError> {
    match env(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            name,
            message: "expected true or false".into(),
        }),
    }
}

fn env_number<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError> {
    env(name)
        .map(|v| {
            v.trim().parse().map_err(|_| ConfigError::Invalid {
                name,
                message: "expected a positive number".into(),
            })
        })
        .transpose()
}

/// True for an SQLite database that lives in memory (`sqlite::memory:`): only the connections of
/// one pool share it.
pub fn sqlite_in_memory(database_url: &str) -> bool {
    let Some(rest) = database_url.strip_prefix("sqlite:") else {
        return false;
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    path.is_empty() || path.starts_with(":memory:") || database_url.contains("mode=memory")
}

/// Where the generated secret is kept: beside an SQLite database file, else the working folder.
pub fn secret_file_for(database_url: &str) -> PathBuf {
    let name = "renke.secret";
    let Some(rest) = database_url.strip_prefix("sqlite:") else {
        return PathBuf::from(name);
    };
    if sqlite_in_memory(database_url) {
        return PathBuf::from(name);
    }
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    Path::new(path)
        .parent()
        .map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        let database_url = env("RENKE_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let secret_key = match env("RENKE_SECRET_KEY") {
            Some(key) => SecretKey::new(key)?,
            None => SecretKey::load_or_create(&secret_file_for(&database_url))?,
        };
        Ok(Settings {
            bind: env("RENKE_BIND").unwrap_or_else(|| DEFAULT_BIND.into()),
            database_schema: env("RENKE_DATABASE_SCHEMA"),
            database_url,
            secret_key,
            admin_user: env("RENKE_ADMIN_USER").unwrap_or_else(|| "admin".into()),
            admin_password: env("RENKE_ADMIN_PASSWORD"),
            secure_cookies: env_bool("RENKE_SECURE_COOKIES")?,
            trust_proxy: env_bool("RENKE_TRUST_PROXY")?,
            workers: env_number("RENKE_WORKERS")?,
            db_pool: env_number("RENKE_DB_POOL")?.unwrap_or(16),
            public_url: env("RENKE_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            sqlite_full_sync: match env("RENKE_SQLITE_SYNCHRONOUS")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("full") => true,
                Some("normal") => false,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "RENKE_SQLITE_SYNCHRONOUS",
                        message: "expected full or normal".into(),
                    });
                }
            },
            request_timeout: std::time::Duration::from_secs(
                env_number("RENKE_REQUEST_TIMEOUT")?
                    .filter(|s: &u64| *s > 0)
                    .unwrap_or(120),
            ),
            hold_after: env_number("RENKE_HOLD_AFTER")?.unwrap_or(DEFAULT_HOLD_AFTER),
            refuse_after: env_number("RENKE_REFUSE_AFTER")?.unwrap_or(DEFAULT_REFUSE_AFTER),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_file_sits_beside_an_sqlite_database() {
        assert_eq!(
            secret_file_for("sqlite://renke.db?mode=rwc"),
            PathBuf::from("renke.secret")
        );
        assert_eq!(
            secret_file_for("sqlite:///var/lib/renke/renke.db?mode=rwc"),
            PathBuf::from("/var/lib/renke/renke.secret")
        );
        assert_eq!(
            secret_file_for("postgres://db/renke"),
            PathBuf::from("renke.secret")
        );
    }

    #[test]
    fn in_memory_sqlite_is_told_from_files_and_postgresql() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
        ] {
            assert!(sqlite_in_memory(url), "{url}");
        }
        for url in [
            "sqlite://renke.db?mode=rwc",
            "sqlite:///var/lib/r.db",
            "postgres://db/r",
        ] {
            assert!(!sqlite_in_memory(url), "{url}");
        }
        assert_eq!(
            secret_file_for("sqlite::memory:"),
            PathBuf::from("renke.secret")
        );
    }

    #[test]
    fn a_short_secret_key_is_refused_and_never_printed() {
        assert!(SecretKey::new("short".into()).is_err());
        let key = SecretKey::generate();
        assert_eq!(key.expose().len(), 64);
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
    }
}
