//! State shared by every handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchyard_config::Config;
use switchyard_gateway::control::Keys;
use switchyard_gateway::observe::Observer;
use switchyard_gateway::{Gateway, ResponseCache};
use switchyard_providers::{Secret, UpstreamError};

/// A local model as the Workers AI model APIs describe it.
#[derive(Debug, Clone)]
pub struct LocalModelInfo {
    pub name: String,
    pub aliases: Vec<String>,
    pub task: switchyard_runtime::TaskKind,
    /// Configured context size (0 = the model's own).
    pub context: u32,
}

#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub max_body_bytes: usize,
    /// The longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Store request and response bodies in the log unless a request says otherwise.
    pub collect_payloads: bool,
    /// The request log, when on.
    pub observer: Option<Arc<Observer>>,
    /// Gateway API keys (`None` until [`AppState::with_keys`]).
    pub keys: Option<Arc<Keys>>,
    /// Every API request must carry a key.
    pub auth_required: bool,
    /// Protects `/api/*` and `/metrics` when set (shared: the state is cloned per request).
    pub admin_token: Option<Arc<Secret>>,
    /// Compute units of local-model requests (log rows and analytics show them).
    pub meter: Arc<switchyard_gateway::local::Meter>,
    /// Local models' names and tasks (Workers AI's model search and schemas).
    pub local_models: Arc<Vec<LocalModelInfo>>,
    /// What web pages may do (loopback `Host` only, allowed origins, JSON bodies).
    pub browsers: Arc<crate::origin::BrowserPolicy>,
    /// False once shutdown has begun: `/readyz` answers 503 so load balancers stop sending.
    ready: Arc<AtomicBool>,
}

impl AppState {
    /// `cache`: opened from `config.cache` by the caller (opening is async and may touch a disk).
    pub fn new(config: &Config, cache: ResponseCache) -> Result<Self, UpstreamError> {
        Ok(AppState {
            gateway: Arc::new(Gateway::new(config, cache)?),
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: config.server.body_timeout,
            collect_payloads: config.logs.collect_payloads,
            observer: None,
            keys: None,
            auth_required: config.auth.required,
            admin_token: config.auth.admin_token.clone().map(Arc::new),
            meter: Arc::new(switchyard_gateway::local::Meter::new(config)),
            local_models: Arc::new(
                config
                    .runtime
                    .models
                    .iter()
                    .map(|m| LocalModelInfo {
                        name: m.name.clone(),
                        aliases: m.aliases.clone(),
                        task: switchyard_gateway::local::settings(m).task,
                        context: m.context_size.unwrap_or(0),
                    })
                    .collect(),
            ),
            browsers: Arc::new(crate::origin::BrowserPolicy::new(&config.server)),
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    pub fn with_observer(mut self, observer: Arc<Observer>) -> Self {
        self.gateway.attach_log(Arc::clone(&observer));
        self.observer = Some(observer);
        self
    }

    pub fn with_keys(mut self, keys: Arc<Keys>) -> Self {
        self.keys = Some(keys);
        self
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }
}
