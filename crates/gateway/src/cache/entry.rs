//! A stored answer and its byte encoding.
//!
//! ```text
//! "SY" version flags | meta length (u32 LE) | meta (JSON) | body (lz4 with size prefix when flagged)
//! ```
//! The body is exactly what the first caller received, in its dialect: JSON, or the whole SSE
//! stream. Metadata says which, who answered, when it expires and the token usage (for the cost a
//! hit saves).

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::answer::TokenUsage;

const MAGIC: &[u8; 2] = b"SY";
const VERSION: u8 = 1;
const FLAG_LZ4: u8 = 1;

#[derive(Debug, Clone)]
pub struct Entry {
    pub meta: EntryMeta,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub created_ms: u64,
    pub expires_ms: u64,
    pub provider: String,
    pub model: String,
    /// The body is an SSE stream (else JSON).
    pub stream: bool,
    pub content_type: String,
    /// Token usage, when the answer reported it (a stream without a usage chunk does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

impl Entry {
    /// The stored form; bodies of at least `compress_min` bytes are lz4-compressed when `compress`.
    pub fn encode(&self, compress: bool, compress_min: usize) -> Bytes {
        let meta = serde_json::to_vec(&self.meta).unwrap_or_default();
        let compressed = (compress && self.body.len() >= compress_min)
            .then(|| lz4_flex::compress_prepend_size(&self.body))
            .filter(|c| c.len() < self.body.len());
        let body: &[u8] = compressed.as_deref().unwrap_or(&self.body);
        let mut out = BytesMut::with_capacity(8 + meta.len() + body.len());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u8(if compressed.is_some() { FLAG_LZ4 } else { 0 });
        out.put_u32_le(meta.len() as u32);
        out.put_slice(&meta);
        out.put_slice(body);
        out.freeze()
    }

    /// `None` for anything this version did not write (an older format, a foreign key): a miss.
    pub fn decode(stored: Bytes) -> Option<Entry> {
        if stored.len() < 8 || &stored[..2] != MAGIC || stored[2] != VERSION {
            return None;
        }
        let flags = stored[3];
        let meta_len = u32::from_le_bytes([stored[4], stored[5], stored[6], stored[7]]) as usize;
        let meta_end = 8usize.checked_add(meta_len)?;
        let meta: EntryMeta = serde_json::from_slice(stored.get(8..meta_end)?).ok()?;
        let body = stored.slice(meta_end..);
        let body = if flags & FLAG_LZ4 != 0 {
            Bytes::from(switchyard_store::lz4::inflate(&body).ok()?)
        } else {
            body
        };
        Some(Entry { meta, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> Entry {
        Entry {
            meta: EntryMeta {
                created_ms: 1,
                expires_ms: 2,
                provider: "p".into(),
                model: "m".into(),
                stream: true,
                content_type: "text/event-stream".into(),
                usage: Some(TokenUsage {
                    input: 3,
                    output: 4,
                    ..TokenUsage::default()
                }),
            },
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        let long = "data: {\"x\":1}\n\n".repeat(200);
        for (body, compress) in [("{}", false), ("{}", true), (long.as_str(), true)] {
            let e = entry(body);
            let stored = e.encode(compress, 64);
            if compress && body.len() > 64 {
                assert!(stored.len() < body.len() / 4, "compressed");
            }
            let back = Entry::decode(stored).unwrap();
            assert_eq!(back.meta, e.meta);
            assert_eq!(back.body, e.body);
        }
    }

    #[test]
    fn garbage_is_a_miss_not_a_crash() {
        for junk in [
            &b""[..],
            b"SY",
            b"XX\x01\x00\x00\x00\x00\x00",
            b"SY\x01\x00\xff\xff\xff\xff{}",
        ] {
            assert!(Entry::decode(Bytes::copy_from_slice(junk)).is_none());
        }
        let mut stored = entry("x".repeat(100).as_str()).encode(true, 1).to_vec();
        let n = stored.len();
        stored.truncate(n - 5);
        assert!(Entry::decode(Bytes::from(stored)).is_none());
    }
}
