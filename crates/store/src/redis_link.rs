//! One Redis connection for a store: made lazily, re-made after failures (`redis`'
//! `ConnectionManager`), and every command under a deadline, so a Redis that is down or stuck
//! costs a request at most that deadline. Shared by the response cache and the limit counters.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::StoreError;

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Prepended to every key, so several gateways (or other apps) can share one Redis.
    pub prefix: String,
    /// Deadline for each command (and for connecting).
    pub timeout: Duration,
}

/// After a failed connection attempt, requests do not try again for this long.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Conn {
    manager: Option<ConnectionManager>,
    last_failure: Option<Instant>,
}

pub(crate) struct RedisLink {
    client: redis::Client,
    settings: RedisSettings,
    conn: Mutex<Conn>,
}

impl RedisLink {
    /// Checks the URL; connects on first use (a Redis that is down at start-up is not fatal).
    pub(crate) fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        Ok(RedisLink {
            client: redis::Client::open(settings.url.as_str())?,
            settings: settings.clone(),
            conn: Mutex::new(Conn::default()),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(m) = &conn.manager {
                return Ok(m.clone());
            }
            if conn
                .last_failure
                .is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF)
            {
                return Err(StoreError::Unavailable(format!(
                    "redis at {} is unreachable (retrying every {} s)",
                    self.settings.url,
                    RECONNECT_BACKOFF.as_secs()
                )));
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.settings.timeout)
            .set_response_timeout(self.settings.timeout)
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            self.settings.timeout,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        match made {
            Ok(Ok(manager)) => {
                conn.last_failure = None;
                Ok(conn.manager.get_or_insert(manager).clone())
            }
            Ok(Err(e)) => {
                conn.last_failure = Some(Instant::now());
                Err(e.into())
            }
            Err(_) => {
                conn.last_failure = Some(Instant::now());
                Err(self.timed_out())
            }
        }
    }

    fn timed_out(&self) -> StoreError {
        StoreError::Timeout("redis", self.settings.timeout.as_millis())
    }

    /// Runs one command against a connection, with the deadline.
    pub(crate) async fn run<T, F>(
        &self,
        op: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(self.settings.timeout, op(conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(self.timed_out()),
        }
    }
}
