//! Providers picked up from environment variables, and `env:VAR` lookups.

use switchyard_providers::ProviderKind;

/// Where environment variables come from (the process, or a fixed map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for std::collections::HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

/// Kinds whose key, when present in its usual env var, adds a provider named after the kind.
pub fn env_provider_kinds() -> impl Iterator<Item = (ProviderKind, &'static str)> {
    ProviderKind::ALL.iter().filter_map(|kind| {
        let key_env = kind.preset()?.key_env?;
        Some((*kind, key_env))
    })
}
