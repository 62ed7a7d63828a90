//! The cache key: SHA-256 over what makes two requests the same request.
//!
//! Hashed, each length-prefixed so no two inputs run together: the provider, the client API, the
//! upstream model, the caller's identity (where keys are per tenant) and the body in canonical form
//! — keys sorted, no insignificant whitespace, integral numbers written as integers — without the
//! fields that do not change the answer's content: `model` (the upstream model is hashed instead,
//! so an alias and its `provider/model` share entries), `stream` and `stream_options` (a stored
//! answer is replayed in either mode).

use ring::digest::{Context, SHA256};
use serde_json::Value;
use switchyard_store::CacheKey;

/// Top-level body fields left out of the key.
const IGNORED: &[&str] = &["model", "stream", "stream_options"];

/// What besides the body identifies a request.
pub(crate) struct KeyScope<'a> {
    pub provider: &'a str,
    pub api: &'a str,
    pub model: &'a str,
    /// The caller, when cache entries are private to each API key (empty: shared).
    pub identity: &'a str,
}

/// The key of a request whose (already validated) JSON body is `body`.
pub(crate) fn request_key(scope: &KeyScope<'_>, body: &Value) -> CacheKey {
    let mut canonical = Vec::with_capacity(256);
    write_canonical_top(body, &mut canonical);
    let mut ctx = Context::new(&SHA256);
    for part in [
        b"switchyard-cache-v1".as_slice(),
        scope.provider.as_bytes(),
        scope.api.as_bytes(),
        scope.model.as_bytes(),
        scope.identity.as_bytes(),
        &canonical,
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    digest(ctx)
}

/// The key for a caller-chosen `cf-aig-cache-key` (it replaces the computed key; the identity
/// still separates tenants).
pub(crate) fn custom_key(identity: &str, key: &str) -> CacheKey {
    let mut ctx = Context::new(&SHA256);
    for part in [
        b"switchyard-cache-custom-v1".as_slice(),
        identity.as_bytes(),
        key.as_bytes(),
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    digest(ctx)
}

fn digest(ctx: Context) -> CacheKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

fn write_canonical_top(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
                .collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            write_object(fields, out);
        }
        other => write_canonical(other, out),
    }
}

/// `v` with sorted keys and no whitespace.
pub(crate) fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            write_object(fields, out);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Number(n) => match n.as_f64() {
            // 1.0 and 1 are the same number to every provider
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.extend_from_slice((f as i64).to_string().as_bytes());
            }
            _ => out.extend_from_slice(n.to_string().as_bytes()),
        },
        other => {
            // strings (escaped the one way serde_json escapes), booleans, null
            out.extend_from_slice(other.to_string().as_bytes());
        }
    }
}

fn write_object(fields: Vec<(&String, &Value)>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
        out.push(b':');
        write_canonical(v, out);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> KeyScope<'static> {
        KeyScope {
            provider: "openai",
            api: "chat",
            model: "gpt-4o-mini",
            identity: "",
        }
    }

    fn key(body: Value) -> CacheKey {
        request_key(&scope(), &body)
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b" : [1, {"z":1.0,"a":"x\"y"}], "a": null, "c": 0.5 }"#)
                .unwrap();
        let mut out = Vec::new();
        write_canonical(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":null,"b":[1,{"a":"x\"y","z":1}],"c":0.5}"#
        );
    }

    #[test]
    fn same_request_same_key_whatever_the_formatting_or_mode() {
        let a = key(
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}),
        );
        let b: Value = serde_json::from_str(
            "{\"temperature\":0.0,\n \"stream\": true, \"stream_options\": {\"include_usage\": true},\n\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"openai/gpt-4o-mini\"}",
        )
        .unwrap();
        assert_eq!(a, key(b));
    }

    #[test]
    fn anything_that_changes_the_answer_changes_the_key() {
        let base = json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0});
        let k = key(base.clone());
        let mut other_temp = base.clone();
        other_temp["temperature"] = json!(0.7);
        let mut with_tools = base.clone();
        with_tools["tools"] =
            json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
        let mut other_msg = base.clone();
        other_msg["messages"][0]["content"] = json!("hello");
        for body in [other_temp, with_tools, other_msg] {
            assert_ne!(k, key(body));
        }
        let other_model = KeyScope {
            model: "gpt-4o",
            ..scope()
        };
        assert_ne!(k, request_key(&other_model, &base));
        let other_provider = KeyScope {
            provider: "azure",
            ..scope()
        };
        assert_ne!(k, request_key(&other_provider, &base));
        let other_tenant = KeyScope {
            identity: "key-2",
            ..scope()
        };
        assert_ne!(k, request_key(&other_tenant, &base));
        let other_api = KeyScope {
            api: "messages",
            ..scope()
        };
        assert_ne!(k, request_key(&other_api, &base));
    }

    #[test]
    fn custom_keys_are_per_identity() {
        assert_eq!(custom_key("", "faq-1"), custom_key("", "faq-1"));
        assert_ne!(custom_key("", "faq-1"), custom_key("", "faq-2"));
        assert_ne!(custom_key("a", "faq-1"), custom_key("b", "faq-1"));
    }
}
