//! The request-log API: `GET /api/logs`, `GET|PATCH /api/logs/{id}`, `DELETE /api/logs`,
//! `GET /api/analytics`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use switchyard_gateway::observe::analytics::{analyze_metered, GroupBy};
use switchyard_gateway::observe::Observer;
use switchyard_gateway::GatewayError;
use switchyard_store::logs::{LogFilter, LogPatch, LogStore};
use switchyard_store::StoreError;

use crate::render::render;
use crate::AppState;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

/// Every query parameter the log endpoints take (one flat struct: `serde(flatten)` cannot carry
/// numbers through URL-encoded queries).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterQuery {
    limit: Option<u32>,
    /// With `DELETE`: required to delete without any filter.
    all: Option<bool>,
    /// With `/api/analytics`.
    group_by: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    provider: Option<String>,
    model: Option<String>,
    status: Option<i64>,
    success: Option<bool>,
    cached: Option<bool>,
    metadata: Option<String>,
    min_cost: Option<f64>,
    before: Option<String>,
}

impl FilterQuery {
    fn filter(&self) -> LogFilter {
        LogFilter {
            since: self.since,
            until: self.until,
            provider: self.provider.clone(),
            model: self.model.clone(),
            status: self.status,
            success: self.success,
            cached: self.cached,
            metadata: self.metadata.clone(),
            min_cost: self.min_cost,
            before: self.before.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.provider.is_none()
            && self.model.is_none()
            && self.status.is_none()
            && self.success.is_none()
            && self.cached.is_none()
            && self.metadata.is_none()
            && self.min_cost.is_none()
            && self.before.is_none()
    }
}

fn no_log() -> Response {
    let mut e = GatewayError::route_not_found_with(
        "the request log is off ([logs] enabled = false)".to_owned(),
    );
    e.status = StatusCode::NOT_FOUND;
    render(&e)
}

fn store_error(e: &StoreError) -> Response {
    match e {
        StoreError::Invalid(m) => render(&GatewayError::bad_body(m.clone())),
        other => {
            let mut err = GatewayError::internal(format!("log store: {other}"));
            err.status = StatusCode::SERVICE_UNAVAILABLE;
            render(&err)
        }
    }
}

type QueryResult = Result<Query<FilterQuery>, axum::extract::rejection::QueryRejection>;

/// The log store and the parsed query, or the response that says why not.
fn opened(state: &AppState, query: QueryResult) -> Result<(&LogStore, FilterQuery), Box<Response>> {
    let store = log_store(state).ok_or_else(|| Box::new(no_log()))?;
    let Query(q) = query.map_err(|e| Box::new(bad_query(&e)))?;
    Ok((store, q))
}

/// The request log, unless it is off.
fn log_store(state: &AppState) -> Option<&LogStore> {
    state.observer.as_deref().and_then(Observer::store)
}

fn bad_query(e: &impl std::fmt::Display) -> Response {
    render(&GatewayError::bad_body(format!("invalid query: {e}")))
}

/// `GET /api/logs?…` → `{"data": [...], "next": "<id>" | null}`, newest first, bodies left out.
pub async fn list(State(state): State<AppState>, query: QueryResult) -> Response {
    let (store, q) = match opened(&state, query) {
        Ok(both) => both,
        Err(response) => return *response,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    match store.list(&q.filter(), limit).await {
        Ok(rows) => {
            let next = (rows.len() == limit as usize)
                .then(|| rows.last().map(|r| r.id.clone()))
                .flatten();
            let data: Vec<serde_json::Value> =
                rows.iter().map(|r| state.meter.row_json(r)).collect();
            Json(json!({"data": data, "next": next})).into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `GET /api/logs/{id}`, bodies included.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(store) = log_store(&state) else {
        return no_log();
    };
    match store.get(&id).await {
        Ok(Some(row)) => Json(state.meter.row_json(&row)).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => store_error(&e),
    }
}

fn not_found(id: &str) -> Response {
    render(&GatewayError::route_not_found_with(format!(
        "no log record `{id}`"
    )))
}

/// `PATCH /api/logs/{id}` with `{"feedback": 1|-1, "score": 0.9, "metadata": {...}}`.
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<LogPatch>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(store) = log_store(&state) else {
        return no_log();
    };
    let patch = match body {
        Ok(Json(p)) => p,
        Err(e) => return render(&GatewayError::bad_body(format!("invalid patch: {e}"))),
    };
    if patch.feedback.is_some_and(|f| f != 1 && f != -1) {
        return render(&GatewayError::bad_body(
            "`feedback` must be 1 or -1".to_owned(),
        ));
    }
    if let Some(m) = &patch.metadata {
        let flat = m
            .values()
            .all(|v| v.is_string() || v.is_number() || v.is_boolean());
        if m.len() > 5 || !flat {
            return render(&GatewayError::bad_body(
                "`metadata` must be a flat object of at most 5 entries".to_owned(),
            ));
        }
    }
    match store.patch(&id, &patch).await {
        Ok(true) => match store.get(&id).await {
            Ok(Some(row)) => Json(row).into_response(),
            Ok(None) => not_found(&id),
            Err(e) => store_error(&e),
        },
        Ok(false) => not_found(&id),
        Err(e) => store_error(&e),
    }
}

/// `DELETE /api/logs?<filter>` (or `?all=true`) → `{"deleted": N}`.
pub async fn delete(State(state): State<AppState>, query: QueryResult) -> Response {
    let (store, q) = match opened(&state, query) {
        Ok(both) => both,
        Err(response) => return *response,
    };
    if q.is_empty() && q.all != Some(true) {
        return render(&GatewayError::bad_body(
            "give a filter (since, until, provider, model, status, …) or all=true".to_owned(),
        ));
    }
    match store.delete(&q.filter()).await {
        Ok(n) => Json(json!({ "deleted": n })).into_response(),
        Err(e) => store_error(&e),
    }
}

/// `GET /api/analytics?group_by=provider|model|day|hour|metadata.KEY&<filter>`.
pub async fn analytics(State(state): State<AppState>, query: QueryResult) -> Response {
    let (store, q) = match opened(&state, query) {
        Ok(both) => both,
        Err(response) => return *response,
    };
    let by: GroupBy = match q.group_by.as_deref().unwrap_or("model").parse() {
        Ok(by) => by,
        Err(e) => return render(&GatewayError::bad_body(e)),
    };
    match store.scan(&q.filter()).await {
        Ok(rows) => {
            let groups = analyze_metered(&rows, &by, state.meter.as_ref());
            let key = q.group_by.unwrap_or_else(|| "model".into());
            Json(json!({ "group_by": key, "groups": groups })).into_response()
        }
        Err(e) => store_error(&e),
    }
}
