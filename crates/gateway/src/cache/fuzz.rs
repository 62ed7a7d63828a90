//! Fuzzing the cache's own formats: the key's canonical form (no panic; the key does not change
//! when only whitespace or the order of object fields does) and stored entries read back from a
//! shared backend (no panic, bounded memory, and what was encoded decodes to itself).

use bytes::Bytes;
use serde_json::Value;
use switchyard_testkit::fuzz;

use super::entry::{Entry, EntryMeta};
use super::key::{request_key, KeyScope};

const SCOPE: KeyScope<'static> = KeyScope {
    provider: "openai",
    api: "chat",
    model: "m",
    identity: "",
};

/// `v` with every object's fields in reverse order, written with spaces.
fn reordered(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{} : {}", Value::String(k.clone()), reordered(v)))
                .collect();
            format!("{{ {} }}", fields.join(" , "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reordered).collect();
            format!("[ {} ]", items.join(" , "))
        }
        other => other.to_string(),
    }
}

#[test]
fn fuzz_cache_key_canonical_form() {
    let seeds: &[&[u8]] = &[
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"stream":true}"#,
        br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a\u00e9"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"max_tokens":1.0}"#,
    ];
    fuzz::run("cache-key", seeds, |input| {
        let Ok(keyed) = request_key(&SCOPE, input) else {
            return;
        };
        // the same request written another way is the same entry (where the rewrite reads back
        // as the same value: serde_json's fast float parsing may land a huge literal one ulp
        // away from its shortest form, which is a different number, and a miss at worst)
        let Ok(v) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        let rewritten = reordered(&v);
        if serde_json::from_str::<Value>(&rewritten).ok().as_ref() == Some(&v) {
            let again = request_key(&SCOPE, rewritten.as_bytes())
                .map(|k| k.key)
                .ok();
            assert_eq!(again, Some(keyed.key), "{rewritten}");
        }
    });
}

#[test]
fn fuzz_cache_entries() {
    let entry = |body: &'static [u8], stream: bool| Entry {
        meta: EntryMeta {
            created_ms: 1,
            expires_ms: 2,
            provider: "p".into(),
            model: "m".into(),
            stream,
            content_type: "application/json".into(),
            usage: None,
        },
        body: Bytes::from_static(body),
    };
    let plain = entry(br#"{"id":"c","choices":[]}"#, false).encode(false, 0);
    let packed = entry(
        b"data: {\"a\":1}\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n",
        true,
    )
    .encode(true, 0);
    fuzz::run("cache-entries", &[&plain, &packed], |input| {
        if let Some(e) = Entry::decode(Bytes::copy_from_slice(input)) {
            // whatever decodes, encodes and decodes to the same
            let again = Entry::decode(e.encode(false, 0)).map(|a| (a.meta, a.body));
            assert_eq!(again, Some((e.meta, e.body)));
        }
    });
}
