//! `streamGenerateContent?alt=sse` → canonical stream events. Each SSE event (framed with `\r\n\r\n`)
//! is a whole `GenerateContentResponse` carrying the next parts; `finishReason` arrives on the last
//! one and the stream simply ends (there is no terminator event), so [`StreamDecoder::finish`]
//! closes the answer.

use serde_json::Value;

use super::response::{parts, usage};
use super::stop_reason;
use crate::canonical::{Part, StreamEvent, Usage};
use crate::sse;

#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    calls: usize,
    finished: bool,
    errored: bool,
    usage: Usage,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once a `finishReason` (or an error) has been seen.
    pub fn is_done(&self) -> bool {
        self.finished || self.errored
    }

    pub fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        if let Some(error) = v.get("error") {
            self.errored = true;
            let message = error["message"].as_str().unwrap_or("upstream stream error");
            out.push(StreamEvent::Error {
                message: format!("gemini: {message}"),
            });
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: v["responseId"].as_str().unwrap_or_default().to_owned(),
                model: v["modelVersion"].as_str().unwrap_or_default().to_owned(),
            });
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = usage(u);
        }
        let candidate = v.pointer("/candidates/0").cloned().unwrap_or(Value::Null);
        for part in parts(&candidate, self.calls) {
            match part {
                Part::Text(t) => out.push(StreamEvent::Text(t)),
                Part::Reasoning { text, .. } => out.push(StreamEvent::Reasoning(text)),
                Part::ToolCall(call) => {
                    let index = self.calls;
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id,
                        name: call.name,
                    });
                    out.push(StreamEvent::ToolCallArguments {
                        index,
                        delta: call.arguments,
                    });
                }
                _ => {}
            }
        }
        let blocked = v.pointer("/promptFeedback/blockReason").is_some();
        if let Some(reason) = candidate["finishReason"].as_str() {
            self.finished = true;
            out.push(StreamEvent::Finish(stop_reason(reason, self.calls > 0)));
        } else if blocked {
            self.finished = true;
            out.push(StreamEvent::Finish(
                crate::canonical::StopReason::ContentFilter,
            ));
        }
    }

    /// The upstream body ended: emit usage and the end of the answer if it was complete.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished && !self.errored {
            out.push(StreamEvent::Usage(self.usage));
            out.push(StreamEvent::Done);
        }
    }
}
