//! A minimal OTLP/HTTP collector on `127.0.0.1:0`: records the JSON bodies posted to `/v1/traces`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

pub struct OtlpCollector {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn traces(State(received): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> &'static str {
    if let Ok(v) = serde_json::from_slice(&body) {
        if let Ok(mut r) = received.lock() {
            r.push(v);
        }
    }
    "{}"
}

impl OtlpCollector {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(OtlpCollector {
            addr,
            received,
            _task: task,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Value> {
        let received = self.received.lock().map(|r| r.clone()).unwrap_or_default();
        received
            .iter()
            .flat_map(|body| {
                body["resourceSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}
