//! Usage for OpenAI-family streams whose client did not ask for it: the gateway asks the provider
//! (`stream_options.include_usage: true`) so every request's tokens are known, then takes the extra
//! usage chunk out of the client's stream and keeps it for the log.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use switchyard_protocol::json::{ObjectView, Splicer};
use switchyard_providers::ProviderKind;

use crate::answer::usage_of;
use crate::answer::TokenUsage;
use crate::ClientApi;

/// Where a stripped usage chunk's figures go (read by the log record).
pub type UsageSlot = Arc<Mutex<Option<TokenUsage>>>;

pub fn read(slot: &UsageSlot) -> Option<TokenUsage> {
    *slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kinds known to honour `stream_options.include_usage` (others may reject unknown fields).
pub fn supported(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::OpenAi
            | ProviderKind::Azure
            | ProviderKind::Groq
            | ProviderKind::Deepseek
            | ProviderKind::Xai
            | ProviderKind::Openrouter
            | ProviderKind::Together
            | ProviderKind::Fireworks
            | ProviderKind::Cerebras
            | ProviderKind::Vllm
            | ProviderKind::Llamacpp
            | ProviderKind::WorkersAi
            | ProviderKind::Local
    )
}

/// Adds `include_usage: true` to the request unless the client asked for usage already; true when
/// it did (the usage chunk must then be stripped from the client's stream).
pub fn inject(view: &ObjectView<'_>, splicer: &mut Splicer<'_>) -> bool {
    match view.get("stream_options") {
        None => {
            splicer.append("stream_options", br#"{"include_usage":true}"#);
            true
        }
        Some(raw) => {
            let Ok(Value::Object(mut options)) = serde_json::from_str::<Value>(raw.get()) else {
                return false; // not an object: validation upstream will say so
            };
            if options.get("include_usage") == Some(&Value::Bool(true)) {
                return false;
            }
            options.insert("include_usage".to_owned(), Value::Bool(true));
            let json = Value::Object(options).to_string().into_bytes();
            splicer.replace(view.span_of(raw), json);
            true
        }
    }
}

/// Removes the usage chunk (`"choices":[]` with a `usage` object) from an OpenAI SSE stream,
/// passing every other event through byte for byte, whole events only.
pub struct UsageStrip {
    pending: Vec<u8>,
    slot: UsageSlot,
}

impl UsageStrip {
    pub fn new(slot: UsageSlot) -> Self {
        UsageStrip {
            pending: Vec::new(),
            slot,
        }
    }

    /// The complete events of `data` (plus what was pending), without the usage chunk.
    pub fn filter(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let Some(end) = self.pending.windows(2).rposition(|w| w == b"\n\n") else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.pending.drain(..end + 2).collect();
        let mut out = Vec::with_capacity(complete.len());
        let mut rest = &complete[..];
        while let Some(p) = rest.windows(2).position(|w| w == b"\n\n") {
            let event = &rest[..p + 2];
            if !self.is_usage(event) {
                out.extend_from_slice(event);
            }
            rest = &rest[p + 2..];
        }
        out
    }

    /// What is left at the end of the stream (an unterminated last event), unchanged.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    fn is_usage(&self, event: &[u8]) -> bool {
        let contains = |n: &[u8]| event.windows(n.len()).any(|w| w == n);
        if !(contains(b"\"usage\":{") && contains(b"\"choices\":[]")) {
            return false;
        }
        let Some(json) = event.split(|b| *b == b'\n').find_map(|l| {
            l.strip_prefix(b"data: ")
                .or_else(|| l.strip_prefix(b"data:"))
        }) else {
            return false;
        };
        match usage_of(ClientApi::ChatCompletions, false, json) {
            Some(u) => {
                *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(u);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_chunk_is_taken_out_and_kept() {
        let slot = UsageSlot::default();
        let mut strip = UsageStrip::new(slot.clone());
        let stream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
            "data: [DONE]\n\n"
        );
        // split anywhere: output only ever carries whole events
        let (a, b) = stream.split_at(30);
        let mut out = strip.filter(a.as_bytes());
        assert!(out.is_empty());
        out.extend(strip.filter(b.as_bytes()));
        out.extend(strip.finish());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(read(&slot).map(|u| (u.input, u.output)), Some((5, 2)));
    }

    #[test]
    fn injection_keeps_other_stream_options() {
        let body = br#"{"model":"m","stream":true,"stream_options":{"x":1}}"#;
        let view = ObjectView::parse(body).unwrap();
        let mut s = Splicer::new(body);
        assert!(inject(&view, &mut s));
        let v: Value = serde_json::from_slice(&s.finish()).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"x": 1, "include_usage": true})
        );
        let body = br#"{"model":"m","stream":true}"#;
        let view = ObjectView::parse(body).unwrap();
        let mut s = Splicer::new(body);
        assert!(inject(&view, &mut s));
        let v: Value = serde_json::from_slice(&s.finish()).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        let body = br#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#;
        let view = ObjectView::parse(body).unwrap();
        assert!(!inject(&view, &mut Splicer::new(body)));
    }
}
