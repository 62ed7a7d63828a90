//! The cache key: SHA-256 over what makes two requests the same request.
//!
//! Hashed, each length-prefixed so no two inputs run together: the provider, the client API, the
//! upstream model, the caller's identity (where keys are per tenant) and the body in canonical form
//! — keys sorted, no insignificant whitespace, integral numbers written as integers — without the
//! fields that do not change the answer's content: `model` (the upstream model is hashed instead,
//! so an alias and its `provider/model` share entries), `stream` and `stream_options` (a stored
//! answer is replayed in either mode).

use std::borrow::Cow;
use std::fmt;

use http::HeaderValue;
use ring::digest::{Context, SHA256};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// What the key computation learns from the body.
pub(crate) struct KeyedBody {
    pub key: CacheKey,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// The key of a request whose (already validated) JSON body is `body`.
pub(crate) fn request_key(scope: &KeyScope<'_>, body: &[u8]) -> serde_json::Result<KeyedBody> {
    let parsed: Json<'_> = serde_json::from_slice(body)?;
    let mut canonical = Vec::with_capacity(body.len());
    write_canonical(&parsed, true, &mut canonical);
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
    Ok(KeyedBody {
        key: digest(ctx),
        include_usage: matches!(
            parsed
                .get("stream_options")
                .and_then(|o| o.get("include_usage")),
            Some(Json::Bool(true))
        ),
    })
}

/// The key for a caller-chosen `cf-aig-cache-key`: it replaces the body's hash, never the scope —
/// one provider, API, model and caller (a key restricted to one model can neither read nor plant
/// entries for another).
pub(crate) fn custom_key(scope: &KeyScope<'_>, key: &str) -> CacheKey {
    let mut ctx = Context::new(&SHA256);
    for part in [
        b"switchyard-cache-custom-v2".as_slice(),
        scope.provider.as_bytes(),
        scope.api.as_bytes(),
        scope.model.as_bytes(),
        scope.identity.as_bytes(),
        key.as_bytes(),
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    digest(ctx)
}

/// What every entry stored under the caller-chosen key `key` is tagged with, in every scope: what
/// `DELETE /api/cache?key=` purges.
pub(crate) fn custom_tag(key: &str) -> CacheKey {
    let mut ctx = Context::new(&SHA256);
    for part in [b"switchyard-cache-tag-v1".as_slice(), key.as_bytes()] {
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

/// A JSON value that borrows its strings from the body where it can (no escapes in them): the
/// key is computed on every cacheable request, cache hits included, so it avoids building a
/// `serde_json::Value` (a `String` per string, a map per object).
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A string that stays borrowed when the input has no escapes in it.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
                Ok(Json::U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
                Ok(Json::I64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
                Ok(Json::F64(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<Text<'de>, Json<'de>>()? {
                    fields.push((k.0, v));
                }
                Ok(Json::Object(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// `v` with sorted keys and no whitespace (at the top level without the [`IGNORED`] fields);
/// strings escaped the one way serde_json escapes them, integral numbers as integers.
fn write_canonical(v: &Json<'_>, top: bool, out: &mut Vec<u8>) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::U64(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Json::I64(n) => out.extend_from_slice(n.to_string().as_bytes()),
        // 1.0 and 1 are the same number to every provider
        Json::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            out.extend_from_slice((*f as i64).to_string().as_bytes());
        }
        Json::F64(f) => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Json::Str(s) => write_str(s, out),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, false, out);
            }
            out.push(b']');
        }
        Json::Object(fields) => {
            let mut sorted: Vec<&(Cow<'_, str>, Json<'_>)> = fields
                .iter()
                .filter(|(k, _)| !(top && IGNORED.contains(&k.as_ref())))
                .collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, false, out);
            }
            out.push(b'}');
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Without `"`, `\\` or control characters the escaped form is the text itself.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The hex form of a key, for the `x-switchyard-cache-key` header.
pub(crate) fn key_header(key: &CacheKey) -> HeaderValue {
    HeaderValue::from_str(&switchyard_store::cache::hex(key))
        .unwrap_or(HeaderValue::from_static(""))
}

/// Parses a key as `key_header` writes it.
pub fn parse_key(hex: &str) -> Option<CacheKey> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        key[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

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
        keyed(&scope(), &body)
    }

    fn keyed(scope: &KeyScope<'_>, body: &Value) -> CacheKey {
        request_key(scope, body.to_string().as_bytes()).unwrap().key
    }

    fn canonical(text: &str) -> String {
        let parsed: Json<'_> = serde_json::from_str(text).unwrap();
        let mut out = Vec::new();
        write_canonical(&parsed, false, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canonical(
                r#"{ "b" : [1, {"z":1.0,"a":"x\"y"}], "a": null, "c": 0.5, "d": -2, "e": true }"#
            ),
            r#"{"a":null,"b":[1,{"a":"x\"y","z":1}],"c":0.5,"d":-2,"e":true}"#
        );
        // the same text however it is escaped
        assert_eq!(
            canonical(r#"["\u0041\/", "A/", "\n"]"#),
            r#"["A/","A/","\n"]"#
        );
    }

    #[test]
    fn same_request_same_key_whatever_the_formatting_or_mode() {
        let a = key(
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}),
        );
        let b = "{\"temperature\":0.0,\n \"stream\": true, \"stream_options\": {\"include_usage\": true},\n\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"openai/gpt-4o-mini\"}";
        let keyed = request_key(&scope(), b.as_bytes()).unwrap();
        assert_eq!(a, keyed.key);
        assert!(keyed.include_usage);
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
        assert_ne!(k, keyed(&other_model, &base));
        let other_provider = KeyScope {
            provider: "azure",
            ..scope()
        };
        assert_ne!(k, keyed(&other_provider, &base));
        let other_tenant = KeyScope {
            identity: "key-2",
            ..scope()
        };
        assert_ne!(k, keyed(&other_tenant, &base));
        let other_api = KeyScope {
            api: "messages",
            ..scope()
        };
        assert_ne!(k, keyed(&other_api, &base));
    }

    #[test]
    fn custom_keys_keep_their_scope() {
        let base = scope();
        assert_eq!(custom_key(&base, "faq-1"), custom_key(&scope(), "faq-1"));
        assert_ne!(custom_key(&base, "faq-1"), custom_key(&base, "faq-2"));
        for other in [
            KeyScope {
                identity: "key-2",
                ..scope()
            },
            KeyScope {
                model: "other",
                ..scope()
            },
            KeyScope {
                provider: "other",
                ..scope()
            },
            KeyScope {
                api: "messages",
                ..scope()
            },
        ] {
            assert_ne!(custom_key(&base, "faq-1"), custom_key(&other, "faq-1"));
        }
        // the tag is the same in every scope (purges find them all)
        assert_eq!(custom_tag("faq-1"), custom_tag("faq-1"));
        assert_ne!(custom_tag("faq-1"), custom_tag("faq-2"));
    }
}
