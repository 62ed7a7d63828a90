//! Gateway API keys (`sy-…`): stored by the SHA-256 of the key (the key itself is shown once, at
//! creation, and never stored), in SQLite or PostgreSQL (shared by replicas) through sqlx `Any`.
//! The same store keeps stored provider keys (BYOK), sealed by the gateway before they arrive
//! here: this module only ever sees ciphertext.

use std::sync::Once;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::StoreError;

/// One key, as stored and as `GET /api/keys` shows it (never the key or its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// `key_…`: how logs, limits and the API name the key.
    pub id: String,
    pub name: String,
    /// The key's first characters (`sy-AbCd`), to recognise it.
    pub prefix: String,
    #[serde(skip)]
    pub hash: String,
    pub created_at: i64,
    /// Unix ms after which the key is refused.
    pub expires_at: Option<i64>,
    pub disabled: bool,
    /// Models (as clients name them) the key may call; empty = any.
    pub models: Vec<String>,
    /// A rate limit, e.g. `100/min` or `50000 tokens/hour`.
    pub rate_limit: Option<String>,
    /// A spend cap, e.g. `10/month` (USD).
    pub budget: Option<String>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    disabled BIGINT NOT NULL,
    models TEXT NOT NULL,
    rate_limit TEXT,
    budget TEXT
)";

const SECRETS: &str = "CREATE TABLE IF NOT EXISTS provider_secrets (
    provider TEXT NOT NULL,
    alias TEXT NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, alias)
)";

/// Stores made before stored keys could be bound to gateway keys get the column (an error saying
/// it exists already is expected and ignored).
const SECRETS_KEYS: &str = "ALTER TABLE provider_secrets ADD COLUMN allowed_keys TEXT";

/// A stored provider key as listed (never its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub provider: String,
    pub alias: String,
    pub created_at: i64,
    /// The gateway keys (ids) that may use it; `None`: any caller.
    pub keys: Option<Vec<String>>,
}

/// A stored key's sealed value and the gateway keys allowed to use it.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedSecret {
    pub sealed: String,
    pub keys: Option<Vec<String>>,
}

fn keys_column(keys: Option<&[String]>) -> Option<String> {
    keys.map(|k| k.join(","))
}

fn keys_of(column: Option<String>) -> Option<Vec<String>> {
    column.map(|c| {
        c.split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

const COLUMNS: &str =
    "id, name, prefix, hash, created_at, expires_at, disabled, models, rate_limit, budget";

pub struct KeyStore {
    pool: AnyPool,
}

static DRIVERS: Once = Once::new();

impl KeyStore {
    /// `sqlite://PATH` (created) or `postgres://…`; creates the table if needed.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let url = match url.strip_prefix("sqlite://") {
            Some(path) => {
                let path = std::path::Path::new(path);
                crate::private::prepare(path)?;
                format!("sqlite://{}?mode=rwc", path.display())
            }
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                url.to_owned()
            }
            None => {
                return Err(StoreError::Unavailable(format!(
                    "unsupported key store URL `{url}`: expected sqlite://PATH or postgres://…"
                )))
            }
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        pool.execute(SCHEMA).await?;
        pool.execute(SECRETS).await?;
        if let Err(e) = pool.execute(SECRETS_KEYS).await {
            let text = e.to_string();
            if !(text.contains("duplicate column") || text.contains("already exists")) {
                return Err(e.into());
            }
        }
        Ok(KeyStore { pool })
    }

    pub async fn create(&self, k: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(k.id.clone())
        .bind(k.name.clone())
        .bind(k.prefix.clone())
        .bind(k.hash.clone())
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(i64::from(k.disabled))
        .bind(serde_json::to_string(&k.models).unwrap_or_else(|_| "[]".into()))
        .bind(k.rate_limit.clone())
        .bind(k.budget.clone())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Oldest first.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    pub async fn by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE hash = $1"))
            .bind(hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    pub async fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// False when no such key.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// False when no such key.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl KeyStore {
    /// Stores (or replaces) a sealed provider key, usable by the gateway keys `keys` (`None`:
    /// any caller).
    pub async fn put_secret(
        &self,
        provider: &str,
        alias: &str,
        sealed: &str,
        keys: Option<&[String]>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM provider_secrets WHERE provider = $1 AND alias = $2")
            .bind(provider.to_owned())
            .bind(alias.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO provider_secrets (provider, alias, sealed, created_at, allowed_keys) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(provider.to_owned())
        .bind(alias.to_owned())
        .bind(sealed.to_owned())
        .bind(now_ms)
        .bind(keys_column(keys))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn sealed_secret(
        &self,
        provider: &str,
        alias: &str,
    ) -> Result<Option<SealedSecret>, StoreError> {
        let row = sqlx::query(
            "SELECT sealed, allowed_keys FROM provider_secrets WHERE provider = $1 AND alias = $2",
        )
        .bind(provider.to_owned())
        .bind(alias.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SealedSecret {
                sealed: r.try_get("sealed")?,
                keys: keys_of(r.try_get("allowed_keys")?),
            })
        })
        .transpose()
    }

    pub async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider, alias, created_at, allowed_keys FROM provider_secrets ORDER BY provider, alias",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecretRecord {
                    provider: r.try_get("provider")?,
                    alias: r.try_get("alias")?,
                    created_at: r.try_get("created_at")?,
                    keys: keys_of(r.try_get("allowed_keys")?),
                })
            })
            .collect()
    }

    /// False when there was none.
    pub async fn delete_secret(&self, provider: &str, alias: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM provider_secrets WHERE provider = $1 AND alias = $2")
            .bind(provider.to_owned())
            .bind(alias.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn decode(r: &AnyRow) -> Result<KeyRecord, StoreError> {
    let models: String = r.try_get("models")?;
    Ok(KeyRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        hash: r.try_get("hash")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        models: serde_json::from_str(&models)
            .map_err(|e| StoreError::Invalid(format!("api_keys.models: {e}")))?,
        rate_limit: r.try_get("rate_limit")?,
        budget: r.try_get("budget")?,
    })
}
