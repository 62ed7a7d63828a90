//! [`Keeper`]: the reply-body tap of a stored Responses answer. It gives the answer the id it is
//! stored under (`resp_` + the request's log id: unique even when the cache replays an answer),
//! says `store: true` and the `previous_response_id`, and keeps the final `response` object — the
//! whole JSON answer, or a stream's `response.completed` / `.incomplete` / `.failed` event — once
//! the body has ended. A stream is rewritten event by event (an event split across chunks waits
//! for its end); a broken stream keeps nothing.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_store::logs::StoredResponse;

use super::Sink;
use crate::relay::{RelayError, ReplyBody, Tap};

pub(crate) struct Keeper {
    body: ReplyBody,
    stream: bool,
    /// `"resp_…"`, quoted.
    new_id: Vec<u8>,
    /// The answer's own id, quoted, once seen.
    old_id: Option<Vec<u8>>,
    previous: Option<Vec<u8>>,
    /// Bytes of an event (stream) or answer (JSON) not complete yet.
    carry: Vec<u8>,
    /// What is kept once the body ends (`response` filled in then).
    record: Option<StoredResponse>,
    sink: Sink,
}

impl Keeper {
    /// `record`: the stored response without its `response`.
    pub(super) fn new(
        body: ReplyBody,
        stream: bool,
        record: StoredResponse,
        previous: Option<&str>,
        sink: Sink,
    ) -> Self {
        Keeper {
            body,
            stream,
            new_id: quoted(&record.id),
            old_id: None,
            previous: previous.map(quoted),
            carry: Vec::new(),
            record: Some(record),
            sink,
        }
    }

    /// Takes `data` in; returns what may go out now (whole events, or the whole answer at its
    /// end), rewritten.
    fn take(&mut self, data: Bytes, end: bool) -> Option<Bytes> {
        let whole = |b: &[u8]| b.ends_with(b"\n\n");
        let ready = if self.carry.is_empty() && (end || (self.stream && whole(&data))) {
            data
        } else {
            self.carry.extend_from_slice(&data);
            let cut = match (end, self.stream) {
                (true, _) => self.carry.len(),
                (false, true) => memchr::memmem::rfind(&self.carry, b"\n\n").map_or(0, |i| i + 2),
                (false, false) => 0,
            };
            if cut == 0 {
                return None;
            }
            let rest = self.carry.split_off(cut);
            Bytes::from(std::mem::replace(&mut self.carry, rest))
        };
        Some(self.rewrite(ready))
    }

    fn rewrite(&mut self, part: Bytes) -> Bytes {
        if self.old_id.is_none() {
            self.old_id = match self.stream {
                true => stream_id(&part),
                false => serde_json::from_slice::<Id<'_>>(&part)
                    .ok()
                    .map(|id| quoted(&id.id)),
            };
        }
        let Some(old) = &self.old_id else {
            return part; // not a response: nothing to rewrite, nothing kept
        };
        // compact (this gateway's answers) and spaced (OpenAI's own, relayed natively)
        let mut pairs: Vec<(&[u8], &[u8])> = vec![
            (old, &self.new_id),
            (br#""store":false"#, br#""store":true"#),
            (br#""store": false"#, br#""store": true"#),
        ];
        let (compact, spaced);
        if let Some(p) = &self.previous {
            compact = [br#""previous_response_id":"#.as_slice(), p].concat();
            spaced = [br#""previous_response_id": "#.as_slice(), p].concat();
            pairs.push((br#""previous_response_id":null"#, &compact));
            pairs.push((br#""previous_response_id": null"#, &spaced));
        }
        let out = match replaced(&part, &pairs) {
            Some(v) => Bytes::from(v),
            None => part,
        };
        if let Some(record) = &mut self.record {
            let last = match self.stream {
                true => final_response(&out),
                false => std::str::from_utf8(&out).ok().map(str::to_owned),
            };
            if let Some(response) = last {
                record.response = response;
            }
        }
        out
    }

    /// The body ended whole: keep what it answered.
    fn done(&mut self) {
        if self.body.broken() {
            self.record = None;
        }
        if let Some(record) = self.record.take() {
            if !record.response.is_empty() {
                self.sink.keep(record);
            }
        }
    }
}

fn quoted(s: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(s.len() + 2);
    q.push(b'"');
    q.extend_from_slice(s.as_bytes());
    q.push(b'"');
    q
}

#[derive(Deserialize)]
struct Id<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// The response id in a stream's events (the first one carrying its `response`), quoted.
fn stream_id(part: &[u8]) -> Option<Vec<u8>> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        response: Option<Id<'a>>,
    }
    part.split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data: "))
        .find_map(|data| serde_json::from_slice::<Event<'_>>(data).ok()?.response)
        .map(|r| quoted(&r.id))
}

/// The `response` of the last terminal event in `part` (`response.completed`, `.incomplete`,
/// `.failed`), if any.
fn final_response(part: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        response: Option<&'a RawValue>,
    }
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let mut found = None;
    for line in part.split(|&b| b == b'\n') {
        let Some(data) = line.strip_prefix(b"data: ") else {
            continue;
        };
        // most events are deltas: parsed only when one of the names occurs
        if !terminal
            .iter()
            .any(|t| memchr::memmem::find(data, t.as_bytes()).is_some())
        {
            continue;
        }
        if let Ok(Event {
            kind,
            response: Some(r),
        }) = serde_json::from_slice(data)
        {
            if terminal.contains(&kind.as_ref()) {
                found = Some(r.get().to_owned());
            }
        }
    }
    found
}

/// `hay` with every `(from, to)` replaced; `None` when none occurs (nothing copied).
fn replaced(hay: &[u8], pairs: &[(&[u8], &[u8])]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for (from, to) in pairs {
        let src = out.as_deref().unwrap_or(hay);
        if memchr::memmem::find(src, from).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(src.len() + 64);
        let mut at = 0;
        for i in memchr::memmem::find_iter(src, from) {
            next.extend_from_slice(&src[at..i]);
            next.extend_from_slice(to);
            at = i + from.len();
        }
        next.extend_from_slice(&src[at..]);
        out = Some(next);
    }
    out
}

impl Tap for Keeper {
    fn body(&self) -> &ReplyBody {
        &self.body
    }

    fn is_end_stream(&self) -> bool {
        self.carry.is_empty() && self.body.is_end_stream()
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(other) => return Poll::Ready(Some(Ok(other))),
                    };
                    let end = self.body.is_end_stream();
                    let out = self.take(data, end);
                    if end {
                        self.done();
                    }
                    if let Some(out) = out {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    if end {
                        return Poll::Ready(None);
                    }
                }
                Some(Err(e)) => {
                    self.record = None; // broken: nothing kept
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let rest = (!self.carry.is_empty()).then(|| self.take(Bytes::new(), true));
                    self.done();
                    return Poll::Ready(rest.flatten().map(|b| Ok(Frame::data(b))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn record() -> StoredResponse {
        StoredResponse {
            id: "resp_new".into(),
            ..StoredResponse::default()
        }
    }

    async fn through(body: ReplyBody, stream: bool) -> String {
        let kept = ReplyBody::recorded(body, |b| {
            Keeper::new(b, stream, record(), Some("resp_prev"), Sink::default())
        });
        let bytes = kept.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_stream_split_anywhere_comes_out_whole_and_renamed() {
        let stream = concat!(
            "event: response.created\n",
            r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_old","previous_response_id":null,"store":false}}"#,
            "\n\nevent: response.output_text.delta\n",
            r#"data: {"type":"response.output_text.delta","item_id":"msg_old","delta":"\"resp_old\" \"store\":false"}"#,
            "\n\nevent: response.completed\n",
            r#"data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_old","previous_response_id":null,"store":false}}"#,
            "\n\n"
        );
        for size in [1, 7, 64, stream.len()] {
            let chunks: Vec<Result<Bytes, RelayError>> = stream
                .as_bytes()
                .chunks(size)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let out = through(ReplyBody::stream(futures_util::stream::iter(chunks)), true).await;
            let expected = stream
                .replace(r#""id":"resp_old""#, r#""id":"resp_new""#)
                .replace(
                    r#""previous_response_id":null"#,
                    r#""previous_response_id":"resp_prev""#,
                )
                .replace(r#""store":false}"#, r#""store":true}"#);
            assert_eq!(out, expected, "chunks of {size}");
            // the text the model wrote is untouched
            assert!(out.contains(r#"\"resp_old\" \"store\":false"#));
        }
    }

    #[tokio::test]
    async fn a_json_answer_is_renamed_and_anything_else_passes_untouched() {
        let json =
            r#"{"id":"resp_old","object":"response","previous_response_id":null,"store":false}"#;
        assert_eq!(
            through(ReplyBody::full(json), false).await,
            r#"{"id":"resp_new","object":"response","previous_response_id":"resp_prev","store":true}"#
        );
        assert_eq!(through(ReplyBody::full("[1,2]"), false).await, "[1,2]");
    }

    #[test]
    fn replaces_every_pair_and_copies_nothing_when_none_occurs() {
        let pairs: [(&[u8], &[u8]); 2] = [(b"\"a\"", b"\"bb\""), (b"x", b"y")];
        assert_eq!(
            replaced(b"{\"a\":\"a\",\"x\"}", &pairs).unwrap(),
            b"{\"bb\":\"bb\",\"y\"}"
        );
        assert_eq!(replaced(b"nothing", &pairs), None);
    }

    #[test]
    fn finds_the_stream_id_and_the_final_response() {
        let created = br#"event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_42","status":"in_progress"}}

"#;
        assert_eq!(stream_id(created).unwrap(), b"\"resp_42\"");
        // wherever the id sits in the object
        let sorted =
            b"data: {\"response\":{\"created_at\":1,\"id\":\"resp_7\"},\"type\":\"x\"}\n\n";
        assert_eq!(stream_id(sorted).unwrap(), b"\"resp_7\"");
        assert_eq!(final_response(created), None);
        let done = br#"event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_42","status":"completed"}}

"#;
        assert_eq!(
            final_response(done).unwrap(),
            r#"{"id":"resp_42","status":"completed"}"#
        );
        let sorted =
            br#"data: {"response":{"id":"r"},"sequence_number":3,"type":"response.incomplete"}"#;
        assert_eq!(final_response(sorted).unwrap(), r#"{"id":"r"}"#);
        let text = br#"data: {"delta":"response.completed","type":"response.output_text.delta"}"#;
        assert_eq!(final_response(text), None);
    }
}
