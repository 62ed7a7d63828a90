//! A complete answer ⇄ the events of a stream carrying it: what lets a cached answer be replayed
//! in the other mode (a stored stream answering a JSON request, and the reverse).

use std::collections::HashMap;

use super::{ChatResponse, Part, StopReason, StreamEvent, ToolCall, Usage};

impl ChatResponse {
    /// Folds the events of a whole stream into the answer they carry. `None` when the stream is
    /// not complete (no `Done`) or reported an error: such a stream is not an answer.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a StreamEvent>) -> Option<Self> {
        let mut response = ChatResponse {
            id: String::new(),
            model: String::new(),
            content: Vec::new(),
            stop: StopReason::Stop,
            usage: Usage::default(),
        };
        // stream tool-call index → position in `content`
        let mut calls: HashMap<usize, usize> = HashMap::new();
        let mut done = false;
        for event in events {
            match event {
                StreamEvent::Start { id, model } => {
                    response.id.clone_from(id);
                    response.model.clone_from(model);
                }
                StreamEvent::Text(t) => match response.content.last_mut() {
                    Some(Part::Text(text)) => text.push_str(t),
                    _ => response.content.push(Part::Text(t.clone())),
                },
                StreamEvent::Reasoning(r) => match response.content.last_mut() {
                    Some(Part::Reasoning { text, .. }) => text.push_str(r),
                    _ => response.content.push(Part::Reasoning {
                        text: r.clone(),
                        signature: None,
                    }),
                },
                StreamEvent::ToolCallStart { index, id, name } => {
                    calls.insert(*index, response.content.len());
                    response.content.push(Part::ToolCall(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    }));
                }
                StreamEvent::ToolCallArguments { index, delta } => {
                    let at = calls.get(index)?;
                    if let Some(Part::ToolCall(call)) = response.content.get_mut(*at) {
                        call.arguments.push_str(delta);
                    }
                }
                StreamEvent::Finish(stop) => response.stop = stop.clone(),
                StreamEvent::Usage(usage) => response.usage = *usage,
                StreamEvent::Error { .. } => return None,
                StreamEvent::Done => done = true,
            }
        }
        done.then_some(response)
    }

    /// The events a stream carrying this answer would have: start, the parts in order (each tool
    /// call as a start plus its whole arguments), finish, usage, done.
    pub fn to_events(&self) -> Vec<StreamEvent> {
        let mut events = Vec::with_capacity(self.content.len() * 2 + 4);
        events.push(StreamEvent::Start {
            id: self.id.clone(),
            model: self.model.clone(),
        });
        let mut index = 0;
        for part in &self.content {
            match part {
                Part::Text(t) => events.push(StreamEvent::Text(t.clone())),
                Part::Reasoning { text, .. } => events.push(StreamEvent::Reasoning(text.clone())),
                Part::ToolCall(call) => {
                    events.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id.clone(),
                        name: call.name.clone(),
                    });
                    if !call.arguments.is_empty() {
                        events.push(StreamEvent::ToolCallArguments {
                            index,
                            delta: call.arguments.clone(),
                        });
                    }
                    index += 1;
                }
                Part::Image(_) | Part::ToolResult { .. } => {}
            }
        }
        events.push(StreamEvent::Finish(self.stop.clone()));
        events.push(StreamEvent::Usage(self.usage));
        events.push(StreamEvent::Done);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> ChatResponse {
        ChatResponse {
            id: "r1".into(),
            model: "m".into(),
            content: vec![
                Part::Reasoning {
                    text: "think".into(),
                    signature: None,
                },
                Part::Text("Hello".into()),
                Part::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into(),
                }),
                Part::ToolCall(ToolCall {
                    id: "c2".into(),
                    name: "g".into(),
                    arguments: String::new(),
                }),
            ],
            stop: StopReason::ToolCalls,
            usage: Usage {
                input: 3,
                output: 5,
                cached_input: 1,
                reasoning: 2,
            },
        }
    }

    #[test]
    fn an_answer_survives_a_round_trip_through_events() {
        let a = answer();
        assert_eq!(ChatResponse::from_events(&a.to_events()), Some(a));
    }

    #[test]
    fn deltas_are_joined_and_incomplete_streams_refused() {
        let mut events = vec![
            StreamEvent::Start {
                id: "x".into(),
                model: "m".into(),
            },
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArguments {
                index: 0,
                delta: "{\"a\"".into(),
            },
            StreamEvent::ToolCallArguments {
                index: 0,
                delta: ":1}".into(),
            },
            StreamEvent::Finish(StopReason::ToolCalls),
        ];
        assert_eq!(ChatResponse::from_events(&events), None, "no Done yet");
        events.push(StreamEvent::Done);
        let r = ChatResponse::from_events(&events).unwrap();
        assert_eq!(r.content[0], Part::Text("Hello".into()));
        assert!(matches!(&r.content[1], Part::ToolCall(c) if c.arguments == "{\"a\":1}"));
        events.insert(
            2,
            StreamEvent::Error {
                message: "boom".into(),
            },
        );
        assert_eq!(ChatResponse::from_events(&events), None);
    }
}
