//! Server-Sent Events framing.

use bytes::Bytes;

/// One `data:` event carrying `json`, terminated by the blank line SSE requires.
pub fn data_event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The OpenAI stream terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_event_is_framed() {
        assert_eq!(&data_event(b"{}")[..], b"data: {}\n\n");
    }
}
