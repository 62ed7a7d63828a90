//! Google service-account credentials → OAuth access tokens (Vertex AI).
//!
//! A signed JWT (RS256, with `ring`; no hand-rolled crypto) is exchanged at the account's
//! `token_uri` for an access token, which is cached until a minute before it expires. Minting holds
//! an async lock, so a burst of requests on a cold cache makes one token request, not N.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use crate::pool::Connector;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Renew this long before the token expires.
const MARGIN: Duration = Duration::from_secs(60);

/// The parts of a service-account JSON key file that matter here.
#[derive(Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_pem: String,
    pub token_uri: String,
    pub project_id: Option<String>,
}

/// Everything but the private key.
impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_pem", &crate::secret::REDACTED)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish()
    }
}

impl ServiceAccount {
    /// Parses a key file's JSON; the error says what is missing.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let account = ServiceAccount {
            client_email: field("client_email").ok_or("missing `client_email`")?,
            private_key_pem: field("private_key").ok_or("missing `private_key`")?,
            token_uri: field("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            project_id: field("project_id"),
        };
        key_pair(&account.private_key_pem)?;
        Ok(account)
    }
}

fn key_pair(pem: &str) -> Result<RsaKeyPair, String> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|e| format!("`private_key` is not PEM: {e}"))?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("`private_key` is not a PKCS#8 RSA key: {e}"))
}

pub(crate) struct TokenSource {
    key: RsaKeyPair,
    client_email: String,
    token_uri: Uri,
    http: Client<Connector, Full<Bytes>>,
    cache: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
}

impl TokenSource {
    pub(crate) fn new(account: &ServiceAccount, connector: Connector) -> Result<Self, String> {
        Ok(TokenSource {
            key: key_pair(&account.private_key_pem)?,
            client_email: account.client_email.clone(),
            token_uri: account
                .token_uri
                .parse()
                .map_err(|e| format!("token_uri: {e}"))?,
            http: Client::builder(TokioExecutor::new()).build(connector),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// `Bearer <token>`, from the cache or freshly minted.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue, String> {
        let mut cache = self.cache.lock().await;
        if let Some((value, expires)) = &*cache {
            if Instant::now() + MARGIN < *expires {
                return Ok(value.clone());
            }
        }
        let (token, lifetime) = self.mint().await?;
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the token endpoint returned an unusable token".to_owned())?;
        value.set_sensitive(true);
        *cache = Some((value.clone(), Instant::now() + lifetime));
        Ok(value)
    }

    fn assertion(&self) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": self.client_email, "scope": SCOPE, "aud": self.token_uri.to_string(),
            "iat": now, "exp": now + 3600
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{header}.{claims}");
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the token request failed".to_owned())?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    async fn mint(&self) -> Result<(String, Duration), String> {
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            self.assertion()?
        );
        let mut request = Request::new(Full::new(Bytes::from(form)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.token_uri.clone();
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .map_err(|_| "the token endpoint did not answer within 30 s".to_owned())?
            .map_err(|e| format!("token endpoint: {}", crate::provider::error_chain(&e)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("token endpoint: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "token endpoint answered HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
            ));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| format!("token endpoint: {e}"))?;
        let token = v["access_token"]
            .as_str()
            .ok_or("token endpoint answered without `access_token`")?;
        let lifetime = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600));
        Ok((token.to_owned(), lifetime))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_prints_the_private_key() {
        let account = super::ServiceAccount {
            client_email: "sa@project.iam.gserviceaccount.com".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----\n"
                .into(),
            token_uri: "https://oauth2.googleapis.com/token".into(),
            project_id: Some("project".into()),
        };
        let shown = format!("{account:?}");
        assert!(
            !shown.contains("MIIEsecret") && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
        assert!(
            shown.contains("sa@project.iam.gserviceaccount.com"),
            "{shown}"
        );
    }
}
