//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream
//! sends it: each message is `total_len:u32 | headers_len:u32 | prelude_crc:u32 | headers | payload
//! | message_crc:u32`, big-endian, CRC-32 (IEEE). Messages become [`sse::Event`]s named by their
//! `:event-type` (or `exception:<type>` for `:message-type: exception`), so the same decoders
//! handle them as SSE.

use crate::sse;

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

/// An incremental decoder: feed bytes as they arrive, split anywhere.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends every complete message in `chunk` (plus what was buffered) to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<sse::Event>) -> Result<(), FrameError> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while self.buf.len() - start >= 12 {
            let frame = &self.buf[start..];
            let total = u32_at(frame, 0) as usize;
            let headers_len = u32_at(frame, 4) as usize;
            if crc32fast::hash(&frame[..8]) != u32_at(frame, 8) {
                return Err(FrameError("event-stream prelude checksum mismatch".into()));
            }
            if total < 16 + headers_len {
                return Err(FrameError(format!(
                    "event-stream message length {total} is too small"
                )));
            }
            if frame.len() < total {
                break;
            }
            if crc32fast::hash(&frame[..total - 4]) != u32_at(frame, total - 4) {
                return Err(FrameError("event-stream message checksum mismatch".into()));
            }
            let headers = parse_headers(&frame[12..12 + headers_len])?;
            let payload = &frame[12 + headers_len..total - 4];
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            let event = match header(":message-type") {
                Some("exception") => format!(
                    "exception:{}",
                    header(":exception-type").unwrap_or("unknown")
                ),
                Some("error") => {
                    format!("exception:{}", header(":error-code").unwrap_or("unknown"))
                }
                _ => header(":event-type").unwrap_or_default().to_owned(),
            };
            out.push(sse::Event {
                event: Some(event),
                data: String::from_utf8_lossy(payload).into_owned(),
            });
            start += total;
        }
        self.buf.drain(..start);
        Ok(())
    }
}

/// String-valued headers (other value types are skipped over).
fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let short = || FrameError("event-stream header is truncated".into());
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = *b.first().ok_or_else(short)? as usize;
        let name = b.get(1..1 + name_len).ok_or_else(short)?;
        let name = String::from_utf8_lossy(name).into_owned();
        b = &b[1 + name_len..];
        let kind = *b.first().ok_or_else(short)?;
        b = &b[1..];
        let fixed = match kind {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4 => 4,
            5 | 8 => 8,
            9 => 16,
            6 | 7 => {
                let len = b.get(..2).ok_or_else(short)?;
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                let value = b.get(2..2 + len).ok_or_else(short)?;
                if kind == 7 {
                    out.push((name, String::from_utf8_lossy(value).into_owned()));
                }
                b = &b[2 + len..];
                continue;
            }
            other => {
                return Err(FrameError(format!(
                    "unknown event-stream header type {other}"
                )))
            }
        };
        b = b.get(fixed..).ok_or_else(short)?;
    }
    Ok(out)
}

/// Encodes one event message (used by mocks and tests; Switchyard only reads event streams).
pub fn encode(event_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}
