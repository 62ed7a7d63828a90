//! Answering from a stored entry in the mode the caller asked for.
//!
//! Same mode: the stored bytes as they are (a stream keeps its chunk boundaries and terminator).
//! Other mode: through the canonical model — a stored stream folded into one JSON answer, or a
//! stored JSON answer unfolded into a valid stream of the caller's dialect. When an entry cannot
//! honestly answer (a stream stored without usage, asked for with usage) the caller gets a miss,
//! never invented numbers.

use bytes::Bytes;
use serde_json::Value;
use switchyard_protocol::canonical::ChatResponse;
use switchyard_protocol::sse;

use super::entry::Entry;
#[cfg(test)]
use crate::answer::usage_of;
use crate::answer::{decode_json, decode_stream, encode_json, encode_stream};
use crate::api::ClientApi;

pub(crate) const JSON: &str = "application/json";
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// How the caller wants the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub api: ClientApi,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// The body to send and its content type, or `None` when this entry cannot answer this caller.
pub(crate) fn render(entry: &Entry, want: &Wanted) -> Option<(Bytes, String)> {
    let meta = &entry.meta;
    match (meta.stream, want.stream) {
        (false, false) => Some((entry.body.clone(), meta.content_type.clone())),
        (true, true) => {
            if want.api != ClientApi::ChatCompletions {
                return Some((entry.body.clone(), meta.content_type.clone()));
            }
            match (meta.usage.is_some(), want.include_usage) {
                (has, wanted) if has == wanted => {
                    Some((entry.body.clone(), meta.content_type.clone()))
                }
                (true, false) => Some((without_usage_chunk(&entry.body), EVENT_STREAM.into())),
                _ => None,
            }
        }
        (true, false) => {
            meta.usage?;
            let answer = ChatResponse::from_events(&decode_stream(want.api, &entry.body)?)?;
            Some((
                encode_json(want.api, &answer, meta.created_ms)?,
                JSON.into(),
            ))
        }
        (false, true) => {
            let mut answer = decode_json(want.api, &entry.body)?;
            if want.include_usage {
                answer.usage = meta.usage?.into();
            }
            let events = answer.to_events();
            Some((
                encode_stream(want.api, &events, want.include_usage, meta.created_ms),
                EVENT_STREAM.into(),
            ))
        }
    }
}

/// An OpenAI stream without its usage chunk (the one with no choices), for a caller that did not
/// ask for usage. Every other event is kept byte for byte.
fn without_usage_chunk(body: &[u8]) -> Bytes {
    let mut parsed = Vec::new();
    sse::Parser::new().feed(body, &mut parsed);
    let mut out = Vec::with_capacity(body.len());
    for e in parsed {
        let is_usage = e.data.contains("\"usage\"")
            && serde_json::from_str::<Value>(&e.data).is_ok_and(|v| {
                v["usage"].is_object() && v["choices"].as_array().is_some_and(Vec::is_empty)
            });
        if !is_usage {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(e.data.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
