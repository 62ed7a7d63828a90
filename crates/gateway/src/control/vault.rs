//! [`Vault`]: stored provider keys (BYOK). Each is sealed with AES-256-GCM under the master key
//! (random 96-bit nonce; the provider and alias as associated data, so a sealed value cannot be
//! moved to another slot) before it reaches the store, and opened only to be sent upstream. A
//! request picks one with `cf-aig-byok-alias`; values are cached for [`FRESH`], so a key rotated
//! with the CLI or API is used within that time, without a restart. Values are never logged or
//! returned.

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use switchyard_providers::Secret;
use switchyard_store::keys::{KeyStore, SecretRecord};

use super::keys::FRESH;
use crate::GatewayError;

/// Opened keys (and aliases found empty) remembered at most: `cf-aig-byok-alias` is the client's
/// to choose, so what it names must not grow memory without bound.
const MAX_OPENED: u64 = 10_000;

pub struct Vault {
    store: Arc<KeyStore>,
    key: LessSafeKey,
    /// (provider, alias) → the opened key, or its absence; for [`FRESH`].
    cache: moka::sync::Cache<(String, String), Option<Arc<StoredKey>>>,
}

/// An opened provider key and the gateway keys that may use it.
pub struct StoredKey {
    pub secret: Secret,
    /// Gateway key ids allowed to use it; `None`: any caller.
    pub keys: Option<Vec<String>>,
}

impl StoredKey {
    /// Whether a request made with the gateway key `caller` (its id; `None` without one) may
    /// use it.
    pub fn allows(&self, caller: Option<&str>) -> bool {
        match (&self.keys, caller) {
            (None, _) => true,
            (Some(keys), Some(id)) => keys.iter().any(|k| k == id),
            (Some(_), None) => false,
        }
    }
}

/// The header a request names a stored provider key with.
pub const ALIAS_HEADER: &str = "cf-aig-byok-alias";

/// The stored key a request names (`cf-aig-byok-alias`), if it names one.
pub fn alias_of(headers: &http::HeaderMap) -> Result<Option<String>, GatewayError> {
    match headers.get(ALIAS_HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(alias)) => Ok(Some(alias.trim().to_owned())),
        Some(Err(_)) => Err(GatewayError::invalid_header(
            ALIAS_HEADER,
            "not valid text".into(),
        )),
    }
}

fn aad(provider: &str, alias: &str) -> String {
    format!("{provider}\u{0}{alias}")
}

fn store_error(e: switchyard_store::StoreError) -> GatewayError {
    GatewayError::internal(format!("the key store failed: {e}"))
}

impl Vault {
    /// `master`: 64 hex digits (the config checked them).
    pub fn new(store: Arc<KeyStore>, master: &Secret) -> Result<Self, GatewayError> {
        let bytes = hex::decode(master.expose())
            .map_err(|_| GatewayError::internal("the master key is not hex"))?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| GatewayError::internal("the master key must be 32 bytes"))?;
        Ok(Vault {
            store,
            key: LessSafeKey::new(key),
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_OPENED)
                .time_to_live(FRESH)
                .build(),
        })
    }

    fn seal(&self, provider: &str, alias: &str, value: &str) -> Result<String, GatewayError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| GatewayError::internal("no randomness to seal a key"))?;
        let mut data = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(provider, alias).as_bytes()),
                &mut data,
            )
            .map_err(|_| GatewayError::internal("cannot seal the key"))?;
        Ok(format!("{}{}", hex::encode(nonce), hex::encode(data)))
    }

    fn open(&self, provider: &str, alias: &str, sealed: &str) -> Result<Secret, GatewayError> {
        let refused = || {
            GatewayError::internal(format!(
                "the stored key `{alias}` for `{provider}` cannot be opened: wrong master key, or the value was tampered with"
            ))
        };
        let bytes = hex::decode(sealed).map_err(|_| refused())?;
        if bytes.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(provider, alias).as_bytes()), &mut data)
            .map_err(|_| refused())?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| refused())
    }

    /// Stores (or rotates) the key for `provider` under `alias`, usable by the gateway keys
    /// `keys` (ids; `None`: any caller).
    pub async fn set(
        &self,
        provider: &str,
        alias: &str,
        value: &str,
        keys: Option<&[String]>,
    ) -> Result<(), GatewayError> {
        if alias.is_empty() || alias.len() > 64 || value.is_empty() {
            return Err(GatewayError::bad_body(
                "a stored key needs a value and an alias of 1 to 64 characters".into(),
            ));
        }
        let sealed = self.seal(provider, alias, value)?;
        self.store
            .put_secret(provider, alias, &sealed, keys, crate::clock::unix_ms())
            .await
            .map_err(store_error)?;
        self.forget(provider, alias);
        Ok(())
    }

    /// The key stored for `provider` under `alias`, if any.
    pub async fn get(
        &self,
        provider: &str,
        alias: &str,
    ) -> Result<Option<Arc<StoredKey>>, GatewayError> {
        let slot = (provider.to_owned(), alias.to_owned());
        if let Some(value) = self.cache.get(&slot) {
            return Ok(value);
        }
        let sealed = self
            .store
            .sealed_secret(provider, alias)
            .await
            .map_err(store_error)?;
        let value = match sealed {
            Some(s) => Some(Arc::new(StoredKey {
                secret: self.open(provider, alias, &s.sealed)?,
                keys: s.keys,
            })),
            None => None,
        };
        self.cache.insert(slot, value.clone());
        Ok(value)
    }

    pub async fn list(&self) -> Result<Vec<SecretRecord>, GatewayError> {
        self.store.list_secrets().await.map_err(store_error)
    }

    /// False when there was none.
    pub async fn delete(&self, provider: &str, alias: &str) -> Result<bool, GatewayError> {
        let done = self
            .store
            .delete_secret(provider, alias)
            .await
            .map_err(store_error)?;
        self.forget(provider, alias);
        Ok(done)
    }

    fn forget(&self, provider: &str, alias: &str) {
        self.cache
            .invalidate(&(provider.to_owned(), alias.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aliases_a_client_names_do_not_grow_the_cache_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Arc::new(KeyStore::open(&url).await.unwrap());
        let vault = Vault::new(store, &Secret::new("11".repeat(32))).unwrap();
        for i in 0..3 * MAX_OPENED {
            vault
                .cache
                .insert(("openai".into(), format!("guess-{i}")), None);
        }
        vault.cache.run_pending_tasks();
        assert!(
            vault.cache.entry_count() <= MAX_OPENED,
            "{}",
            vault.cache.entry_count()
        );
        // a miss is remembered, as before
        assert!(vault.get("openai", "nobody").await.unwrap().is_none());
        assert!(matches!(
            vault.cache.get(&("openai".into(), "nobody".into())),
            Some(None)
        ));
    }

    #[tokio::test]
    async fn keys_are_sealed_bound_to_their_slot_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Arc::new(KeyStore::open(&url).await.unwrap());
        let master = Secret::new("11".repeat(32));
        let vault = Vault::new(store.clone(), &master).unwrap();
        vault
            .set("openai", "team-a", "sk-canary-1", None)
            .await
            .unwrap();
        let sealed = store
            .sealed_secret("openai", "team-a")
            .await
            .unwrap()
            .unwrap()
            .sealed;
        assert!(
            !sealed.contains("canary")
                && !hex::decode(&sealed)
                    .unwrap()
                    .windows(6)
                    .any(|w| w == b"canary")
        );
        assert_eq!(
            vault
                .get("openai", "team-a")
                .await
                .unwrap()
                .unwrap()
                .secret
                .expose(),
            "sk-canary-1"
        );
        // moved to another slot, it does not open
        assert!(vault.open("openai", "team-b", &sealed).is_err());
        // another master key cannot open it
        let other = Vault::new(store.clone(), &Secret::new("22".repeat(32))).unwrap();
        assert!(other.get("openai", "team-a").await.is_err());
        vault
            .set("openai", "team-a", "sk-canary-2", None)
            .await
            .unwrap();
        assert_eq!(
            vault
                .get("openai", "team-a")
                .await
                .unwrap()
                .unwrap()
                .secret
                .expose(),
            "sk-canary-2"
        );
        assert_eq!(vault.list().await.unwrap().len(), 1);
        assert!(vault.delete("openai", "team-a").await.unwrap());
        assert!(vault.get("openai", "team-a").await.unwrap().is_none());
    }
}
