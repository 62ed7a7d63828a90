use std::collections::HashMap;

use super::*;

fn router() -> ModelRouter {
    let config = switchyard_config::load_str_with_env(
        "t",
        r#"
[server]
env_providers = false
[providers.a]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
api_key = "k"
models = ["gpt-4o-mini"]
[providers.b]
kind = "openai-compatible"
base_url = "http://127.0.0.1:2/v1"
models = ["gpt-4o-mini", "llama"]
[[models]]
name = "fast"
target = "b/llama-3"
fallbacks = ["a/gpt-4o"]
[[models]]
name = "a/shadowed"
target = "b/real"
"#,
        &HashMap::new(),
    )
    .unwrap();
    ModelRouter::new(&config).unwrap()
}

#[test]
fn provider_slash_model() {
    let r = router();
    let route = r.resolve("a/gpt-4o").unwrap();
    assert_eq!(
        (route.provider.name(), route.upstream_model),
        ("a", "gpt-4o")
    );
    let route = r.resolve("b/meta-llama/llama-3.1-8b").unwrap();
    assert_eq!(route.upstream_model, "meta-llama/llama-3.1-8b");
}

#[test]
fn aliases_win_and_bare_declared_names_resolve_to_the_first_provider() {
    let r = router();
    let route = r.resolve("fast").unwrap();
    assert_eq!(
        (route.provider.name(), route.upstream_model, route.alias),
        ("b", "llama-3", Some("fast"))
    );
    assert_eq!(r.resolve("a/shadowed").unwrap().upstream_model, "real");
    assert_eq!(r.resolve("gpt-4o-mini").unwrap().provider.name(), "a");
    assert_eq!(r.resolve("llama").unwrap().provider.name(), "b");
}

#[test]
fn unknown_models_explain_addressing() {
    let r = router();
    for bad in ["nope", "zz/gpt-4o", "a/"] {
        let err = r.resolve(bad).err().unwrap();
        assert_eq!(err.status, http::StatusCode::NOT_FOUND);
        assert!(err.message.contains("provider/model"), "{}", err.message);
        assert!(err.message.contains("a, b"), "{}", err.message);
    }
    assert!(r
        .resolve("zz/x")
        .err()
        .unwrap()
        .message
        .contains("no provider is named `zz`"));
}

#[test]
fn model_list_has_aliases_and_declared_models() {
    let ids: Vec<String> = router()
        .model_list()
        .data
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        ids,
        [
            "fast",
            "a/shadowed",
            "a/gpt-4o-mini",
            "b/gpt-4o-mini",
            "b/llama"
        ]
    );
}
