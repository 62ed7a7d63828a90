//! OpenAI's Responses API (`POST /v1/responses`) as a client dialect: the request read into the
//! canonical model ([`request`]), the answer written back as a `response` object ([`answer`]),
//! and a stream written with the API's event grammar ([`stream`]: `response.created` …
//! `response.completed`, with `sequence_number`s).
//!
//! Input items: messages (`user`, `assistant`, `system`, `developer`; text and image parts),
//! `function_call` and `function_call_output`; reasoning items are dropped (providers re-derive
//! them). Tools: function tools. Anything else is refused by name, never dropped silently.

mod answer;
mod echo;
mod request;
mod stream;

pub use answer::{response_from_canonical, usage_of, ResponseObject};
pub use echo::Echo;
pub use request::{request_to_canonical, request_with_echo};
pub use stream::StreamEncoder;

#[cfg(test)]
mod tests;
