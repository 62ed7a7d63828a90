//! What a request may cost, estimated at admission so a budget can reserve it before the call
//! (and settle the difference once the real cost is known): the body's tokens at about four
//! bytes each, plus the output the request allows (`max_tokens`, `max_completion_tokens`,
//! `max_output_tokens`), or [`DEFAULT_OUTPUT_TOKENS`] when it sets none.

use serde::Deserialize;

use crate::answer::TokenUsage;
use crate::observe::pricing::PriceTable;

/// The output assumed for a request that does not bound its own.
pub const DEFAULT_OUTPUT_TOKENS: u64 = 256;

#[derive(Deserialize, Default)]
struct OutputBound {
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
}

/// The tokens `body` holds, at about four bytes each (no parsing: every limited request pays it).
pub fn input_tokens(body: &[u8]) -> u64 {
    (body.len() / 4) as u64
}

/// The tokens `body` may use: (input, output).
pub fn tokens(body: &[u8]) -> (u64, u64) {
    let bound: OutputBound = serde_json::from_slice(body).unwrap_or_default();
    let output = bound
        .max_completion_tokens
        .or(bound.max_tokens)
        .or(bound.max_output_tokens)
        .unwrap_or(DEFAULT_OUTPUT_TOKENS);
    (input_tokens(body), output)
}

/// USD `body` may cost on `model` of `provider` (of `kind`); `None` when the model has no price.
pub fn usd(
    prices: &PriceTable,
    provider: &str,
    kind: &str,
    model: &str,
    body: &[u8],
) -> Option<f64> {
    let (input, output) = tokens(body);
    let usage = TokenUsage {
        input,
        output,
        cached_input: 0,
        reasoning: 0,
    };
    prices.cost(provider, kind, model, &usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_bound_the_request_sets_else_the_default() {
        assert_eq!(tokens(br#"{"max_tokens": 7, "x": "abcd"}"#), (7, 7));
        assert_eq!(tokens(br#"{"max_completion_tokens": 9}"#).1, 9);
        assert_eq!(tokens(br#"{"messages": []}"#).1, DEFAULT_OUTPUT_TOKENS);
        assert_eq!(tokens(b"not json").1, DEFAULT_OUTPUT_TOKENS);
    }
}
