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

/// Why a conversation cannot be read back whole.
enum Lost {
    /// An earlier turn is no longer kept (deleted, or past retention).
    Turn(String),
    Unavailable(GatewayError),
}

impl Lost {
    /// As the answer to a request that names the conversation with `status`.
    fn error(self, status: http::StatusCode) -> GatewayError {
        match self {
            Lost::Unavailable(e) => e,
            Lost::Turn(at) => {
                let message = format!(
                    "an earlier turn of this conversation, response '{at}', is no longer stored"
                );
                match status {
                    http::StatusCode::NOT_FOUND => GatewayError::not_found(message),
                    _ => history::lost_turn(message),
                }
            }
        }
    }
}

/// The most turns a continued conversation carries back.
const MAX_TURNS: usize = 4096;

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
    /// what keeping its answer needs (`None` with `store: false` or no request log). What is kept
    /// is this request's own input and the response it continued: the conversation is that chain.
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
        if let Some(previous) = &ask.previous {
            let chain = self
                .visible_chain(previous, caller)
                .await
                .map_err(|l| l.error(http::StatusCode::BAD_REQUEST))?;
            if chain.is_empty() {
                return Err(history::not_found(previous, self.available()));
            }
            let mut items = history::conversation(
                chain
                    .iter()
                    .map(|r| (r.input.as_str(), r.response.as_str())),
            )?;
            items.extend(ask.input.iter().cloned());
            *body = history::continued(body, &items)?;
        }
        if !ask.store || !self.available() {
            return Ok(None);
        }
        let input = serde_json::to_string(&ask.input)
            .map_err(|e| GatewayError::internal(format!("serialising input items: {e}")))?;
        Ok(Some(Keeping {
            record: StoredResponse {
                id: format!("resp_{base}"),
                created_at: ctx.received_ms,
                api_key_id: caller.map(str::to_owned),
                previous: ask.previous.clone(),
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

    /// `id` and the responses it continued, newest first (empty when `id` is not kept, or not
    /// `caller`'s: the key that made it, anyone when it was made without one). Just-kept ones are
    /// read from memory, the rest from the store in one query. An earlier turn no longer kept
    /// (deleted, or past retention) is an error: the conversation cannot be told whole.
    async fn visible_chain(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Vec<Arc<StoredResponse>>, Lost> {
        let mut chain: Vec<Arc<StoredResponse>> = Vec::new();
        let mut next = Some(id.to_owned());
        while let Some(at) = next.take() {
            if chain.len() >= MAX_TURNS {
                break;
            }
            let pending = self.sink.pending().get(&at).cloned();
            let found = match pending {
                Some(r) => vec![r],
                None => match self.sink.log.get().and_then(|o| o.store()) {
                    Some(log) => log
                        .response_chain(&at, MAX_TURNS - chain.len())
                        .await
                        .map_err(|e| Lost::Unavailable(unavailable(e)))?
                        .into_iter()
                        .map(Arc::new)
                        .collect(),
                    None => Vec::new(),
                },
            };
            if found.is_empty() && !chain.is_empty() {
                return Err(Lost::Turn(at));
            }
            next = found.last().and_then(|r| r.previous.clone());
            chain.extend(found);
        }
        let visible = chain
            .first()
            .is_some_and(|r| r.api_key_id.is_none() || r.api_key_id.as_deref() == caller);
        Ok(if visible { chain } else { Vec::new() })
    }

    /// The stored response `id`, if `caller` may see it.
    async fn find(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Option<Arc<StoredResponse>>, GatewayError> {
        let pending = self.sink.pending().get(id).cloned();
        let found = match pending {
            Some(r) => Some(r),
            None => match self.sink.log.get().and_then(|o| o.store()) {
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
        self.find(id, caller)
            .await?
            .ok_or_else(|| self.not_kept(id))
    }

    fn not_kept(&self, id: &str) -> GatewayError {
        let why = match self.available() {
            true => "",
            false => ": responses are stored only while the request log is on ([logs] enabled)",
        };
        GatewayError::not_found(format!("Response with id '{id}' not found{why}."))
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
        let chain = self
            .visible_chain(id, caller)
            .await
            .map_err(|l| l.error(http::StatusCode::NOT_FOUND))?;
        let Some((own, earlier)) = chain.split_first() else {
            return Err(self.not_kept(id));
        };
        // every item the model saw: the earlier turns' inputs and outputs, then its own input
        let mut items = history::conversation(
            earlier
                .iter()
                .map(|r| (r.input.as_str(), r.response.as_str())),
        )?;
        let mut mine: Vec<Value> = serde_json::from_str(&own.input).map_err(|e| {
            GatewayError::internal(format!("a stored response could not be read back: {e}"))
        })?;
        items.append(&mut mine);
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
