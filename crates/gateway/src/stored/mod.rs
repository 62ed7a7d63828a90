//! Stored responses: the Responses API's `store`, `previous_response_id` and
//! `GET`/`DELETE /v1/responses/{id}`, kept by the gateway itself (in the request log's database,
//! under its retention) so a conversation continues on any provider — a fallback, `auto`, a
//! provider with no Responses API at all.
//!
//! - [`history`]: what a request asks of the store, and the conversation a continued one carries.
//! - [`keep`]: the reply-body tap that gives the answer its stored id and keeps it once done.
//!
//! A kept answer is readable at once: it waits in memory until its row is written.

mod history;
mod keep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::logs::StoredResponse;

use crate::observe::Observer;
use crate::relay::ReplyBody;
use crate::{GatewayError, RequestContext};

pub(crate) use keep::Keeper;

/// The stored responses of one gateway (none until the request log is attached).
#[derive(Default)]
pub(crate) struct StoredResponses {
    sink: Sink,
}

/// Where kept answers go: written to the log's database, readable from memory until then.
#[derive(Clone, Default)]
pub(crate) struct Sink {
    log: Arc<OnceLock<Arc<Observer>>>,
    pending: Arc<Mutex<HashMap<String, Arc<StoredResponse>>>>,
}

/// What a Responses request will keep, decided before it is served.
pub(crate) struct Keeping {
    record: StoredResponse,
    previous: Option<String>,
}

/// `GET /v1/responses/{id}/input_items`'s query.
#[derive(Debug, Default, Deserialize)]
pub struct ItemsQuery {
    pub limit: Option<usize>,
    /// `asc` | `desc` (default).
    pub order: Option<String>,
    /// An item id: list the items after it.
    pub after: Option<String>,
}

impl Sink {
    fn keep(&self, record: StoredResponse) {
        let Some(store) = self.log.get().cloned() else {
            return;
        };
        let record = Arc::new(record);
        let id = record.id.clone();
        self.pending().insert(id.clone(), Arc::clone(&record));
        let pending = Arc::clone(&self.pending);
        let write = async move {
            if let Some(log) = store.store() {
                if let Err(e) = log.put_response((*record).clone()).await {
                    tracing::warn!(id, error = %e, "a stored response could not be written");
                }
            }
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(write)),
            Err(_) => tracing::warn!("a stored response was dropped: no runtime to write it"),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<StoredResponse>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StoredResponses {
    /// Stores responses in `observer`'s request log (once; later calls are ignored).
    pub(crate) fn attach(&self, observer: Arc<Observer>) {
        if observer.store().is_some() {
            let _ = self.sink.log.set(observer);
        }
    }

    fn available(&self) -> bool {
        self.sink.log.get().is_some()
    }

    /// A Responses request read for its state: a continued conversation put into its body, and
    /// what keeping its answer needs (`None` with `store: false` or no request log).
    pub(crate) async fn prepare(
        &self,
        ctx: &RequestContext,
        body: &mut Bytes,
        caller: Option<&str>,
    ) -> Result<Option<Keeping>, GatewayError> {
        let base = ctx.id.simple().to_string();
        let Some(ask) = history::ask(body, &base) else {
            return Ok(None);
        };
        let mut input = ask.input;
        if let Some(previous) = &ask.previous {
            let earlier = self
                .find(previous, caller)
                .await?
                .ok_or_else(|| history::not_found(previous, self.available()))?;
            let mut items = history::conversation(&earlier.input, &earlier.response)?;
            items.append(&mut input);
            *body = history::continued(body, &items)?;
            input = items;
        }
        if !ask.store || !self.available() {
            return Ok(None);
        }
        let input = serde_json::to_string(&input)
            .map_err(|e| GatewayError::internal(format!("serialising input items: {e}")))?;
        Ok(Some(Keeping {
            record: StoredResponse {
                id: format!("resp_{base}"),
                created_at: ctx.received_ms,
                api_key_id: caller.map(str::to_owned),
                input,
                response: String::new(),
            },
            previous: ask.previous,
        }))
    }

    /// `body` wrapped to keep its answer as `keeping` says.
    pub(crate) fn keep(&self, keeping: Keeping, body: ReplyBody, stream: bool) -> ReplyBody {
        let sink = self.sink.clone();
        ReplyBody::recorded(body, |body| {
            Keeper::new(
                body,
                stream,
                keeping.record,
                keeping.previous.as_deref(),
                sink,
            )
        })
    }

    /// The stored response `id`, if `caller` may see it (the key that made it; anyone when it
    /// was made without one).
    async fn find(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Option<Arc<StoredResponse>>, GatewayError> {
        let Some(observer) = self.sink.log.get() else {
            return Ok(None);
        };
        let pending = self.sink.pending().get(id).cloned();
        let found = match pending {
            Some(r) => Some(r),
            None => match observer.store() {
                Some(log) => log
                    .get_response(id)
                    .await
                    .map_err(unavailable)?
                    .map(Arc::new),
                None => None,
            },
        };
        Ok(found.filter(|r| r.api_key_id.is_none() || r.api_key_id.as_deref() == caller))
    }

    async fn found(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Arc<StoredResponse>, GatewayError> {
        self.find(id, caller).await?.ok_or_else(|| {
            if self.available() {
                GatewayError::not_found(format!("Response with id '{id}' not found."))
            } else {
                GatewayError::not_found(format!(
                    "Response with id '{id}' not found: responses are stored only while the request log is on ([logs] enabled)."
                ))
            }
        })
    }

    /// `GET /v1/responses/{id}`.
    pub(crate) async fn get(&self, id: &str, caller: Option<&str>) -> Result<Bytes, GatewayError> {
        let r = self.found(id, caller).await?;
        Ok(Bytes::from(r.response.clone()))
    }

    /// `DELETE /v1/responses/{id}`.
    pub(crate) async fn delete(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Bytes, GatewayError> {
        self.found(id, caller).await?;
        self.sink.pending().remove(id);
        if let Some(log) = self.sink.log.get().and_then(|o| o.store()) {
            log.delete_response(id).await.map_err(unavailable)?;
        }
        Ok(Bytes::from(
            json!({"id": id, "object": "response.deleted", "deleted": true}).to_string(),
        ))
    }

    /// `GET /v1/responses/{id}/input_items`: a page of the items the model saw.
    pub(crate) async fn input_items(
        &self,
        id: &str,
        caller: Option<&str>,
        query: &ItemsQuery,
    ) -> Result<Bytes, GatewayError> {
        let r = self.found(id, caller).await?;
        let mut items: Vec<Value> = serde_json::from_str(&r.input).map_err(|e| {
            GatewayError::internal(format!("a stored response could not be read back: {e}"))
        })?;
        let limit = query.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(GatewayError::bad_query(
                "limit",
                "`limit` must be between 1 and 100",
            ));
        }
        match query.order.as_deref() {
            None | Some("desc") => items.reverse(),
            Some("asc") => {}
            Some(_) => {
                return Err(GatewayError::bad_query(
                    "order",
                    "`order` must be asc or desc",
                ))
            }
        }
        if let Some(after) = &query.after {
            let at = items
                .iter()
                .position(|i| i.get("id").and_then(Value::as_str) == Some(after.as_str()));
            match at {
                Some(at) => drop(items.drain(..=at)),
                None => {
                    return Err(GatewayError::bad_query(
                        "after",
                        "`after` names no item of this response",
                    ))
                }
            }
        }
        let has_more = items.len() > limit;
        items.truncate(limit);
        let id_of = |i: Option<&Value>| i.and_then(|i| i.get("id")).cloned().unwrap_or(Value::Null);
        let (first_id, last_id) = (id_of(items.first()), id_of(items.last()));
        let page = json!({
            "object": "list",
            "data": items,
            "first_id": first_id,
            "last_id": last_id,
            "has_more": has_more,
        });
        Ok(Bytes::from(page.to_string()))
    }
}

fn unavailable(e: switchyard_store::StoreError) -> GatewayError {
    GatewayError::internal(format!("the response store is unavailable: {e}"))
}
