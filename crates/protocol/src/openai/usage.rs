//! The `usage` object of an OpenAI answer, read without building the answer.
//!
//! Every logged request reads its usage, so this is on the hot path: the last `"usage":` key is
//! found from the end (OpenAI puts it last, and a quote inside a JSON string is escaped, so the
//! bytes `"usage"` followed by a colon are always a key) and its object is walked by a small
//! scanner that only keeps the four counts. Anything it is not sure of — an escaped key, a count
//! that is not a plain non-negative integer, malformed JSON — is `None`, and the caller falls back
//! to a full parse.

/// The counts of an OpenAI `usage` object (`None`: absent or `null`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UsageCounts {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`
    pub cached_tokens: Option<u64>,
    /// `completion_tokens_details.reasoning_tokens`
    pub reasoning_tokens: Option<u64>,
}

/// The counts of the last `"usage": {…}` in `body`; `None` when there is none or the scanner
/// cannot vouch for what it read (the caller should then parse the body properly).
pub fn scan_usage(body: &[u8]) -> Option<UsageCounts> {
    let start = last_usage_key(body)?;
    let mut s = Scanner { b: body, at: start };
    s.ws();
    s.eat(b':')?;
    s.ws();
    let mut counts = UsageCounts::default();
    s.object(|s, key| {
        match key {
            b"prompt_tokens" => counts.prompt_tokens = s.count()?,
            b"completion_tokens" => counts.completion_tokens = s.count()?,
            b"prompt_tokens_details" => {
                s.details(b"cached_tokens", &mut counts.cached_tokens)?;
            }
            b"completion_tokens_details" => {
                s.details(b"reasoning_tokens", &mut counts.reasoning_tokens)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(counts)
}

/// Just past the last `"usage"` that is followed by a colon.
fn last_usage_key(body: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"usage\"";
    let mut end = body.len();
    // `g` is rare in JSON answers; each hit is checked for the whole key
    while let Some(g) = memchr::memrchr(b'g', &body[..end]) {
        end = g;
        let from = g.checked_sub(4)?;
        if body.get(from..from + KEY.len()) == Some(KEY) {
            let after = from + KEY.len();
            let colon = body[after..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .map(|p| after + p)?;
            if body[colon] == b':' {
                return Some(after);
            }
        }
    }
    None
}

/// Where the first `"` or `\\` in `b` is. The strings here are short keys: eight bytes at a time
/// in a register (a vector search costs more to set up than such a string takes to read).
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let q = x ^ (LO * u64::from(b'"'));
        let s = x ^ (LO * u64::from(b'\\'));
        // a zero byte in q or s is a match; the lowest flagged byte is always a true one
        let found = (q.wrapping_sub(LO) & !q | s.wrapping_sub(LO) & !s) & HI;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| at + p)
}

struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string's raw bytes (between the quotes, escapes left as they are) and whether it had
    /// any escape.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let b = self.b;
        self.eat(b'"')?;
        let from = self.at;
        let mut escaped = false;
        loop {
            self.at += quote_or_backslash(b.get(self.at..)?)?;
            if b[self.at] == b'"' {
                let s = &b[from..self.at];
                self.at += 1;
                return Some((s, escaped));
            }
            // a backslash and the byte it escapes (a `\uXXXX` is plain bytes after that)
            escaped = true;
            self.at += 2;
        }
    }

    /// `{ "key": value, … }`, calling `member` with the scanner at each value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (key, escaped) = self.string()?;
            if escaped {
                // an escaped key might spell one of ours: not for this scanner to decide
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A count: a non-negative integer or `null`; anything else is for the full parser.
    fn count(&mut self) -> Option<Option<u64>> {
        if self.b[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        let from = self.at;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - from;
        // a leading zero, a fraction or an exponent: not a plain integer
        let plain = digits == 1 || (digits > 1 && self.b[from] != b'0');
        (plain && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))).then_some(Some(n))
    }

    /// A `…_details` object (or `null`) whose `key` is a count.
    fn details(&mut self, key: &[u8], into: &mut Option<u64>) -> Option<()> {
        if self.b[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(());
        }
        self.object(|s, k| {
            if k == key {
                *into = s.count()?;
                Some(())
            } else {
                s.skip()
            }
        })
    }

    /// Any value, skipped.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => {
                self.at += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip()?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                // a number or a literal: up to the next delimiter
                let from = self.at;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.at += 1;
                }
                (self.at > from).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{scan_usage, UsageCounts};

    const ANSWER: &[u8] = br#"{"id":"x","choices":[{"message":{"content":"the \"usage\": {} of it"}}],"usage":{"prompt_tokens":42,"completion_tokens":12,"total_tokens":54,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0}},"service_tier":"default"}"#;

    #[test]
    fn the_four_counts_are_read() {
        assert_eq!(
            scan_usage(ANSWER),
            Some(UsageCounts {
                prompt_tokens: Some(42),
                completion_tokens: Some(12),
                cached_tokens: Some(3),
                reasoning_tokens: Some(5),
            })
        );
    }

    /// OpenAI's own answers are pretty-printed, keys in this order.
    #[test]
    fn a_pretty_printed_answer_is_read() {
        let body = b"{\n  \"id\": \"chatcmpl-1\",\n  \"usage\": {\n    \"prompt_tokens\": 19,\n    \"completion_tokens\": 10,\n    \"total_tokens\": 29,\n    \"prompt_tokens_details\": {\n      \"cached_tokens\": 0,\n      \"audio_tokens\": 0\n    },\n    \"completion_tokens_details\": {\n      \"reasoning_tokens\": 7,\n      \"audio_tokens\": 0,\n      \"accepted_prediction_tokens\": 0,\n      \"rejected_prediction_tokens\": 0\n    }\n  },\n  \"service_tier\": \"default\"\n}\n";
        assert_eq!(
            scan_usage(body),
            Some(UsageCounts {
                prompt_tokens: Some(19),
                completion_tokens: Some(10),
                cached_tokens: Some(0),
                reasoning_tokens: Some(7),
            })
        );
        // a key that only starts like one of ours is not taken for it
        let body = br#"{"usage":{"prompt_tokens_x":5,"prompt_tokens":6,"cached_tokens":9}}"#;
        assert_eq!(
            scan_usage(body),
            Some(UsageCounts {
                prompt_tokens: Some(6),
                ..UsageCounts::default()
            }),
            "cached_tokens counts only inside prompt_tokens_details"
        );
    }

    #[test]
    fn whitespace_nulls_and_missing_details_are_fine() {
        let body = b"{ \"usage\" :\n { \"prompt_tokens\" : 7 ,\"completion_tokens\": null, \"prompt_tokens_details\": null, \"x\": [1, {\"a\": [true]}, \"s\"] } }";
        assert_eq!(
            scan_usage(body),
            Some(UsageCounts {
                prompt_tokens: Some(7),
                ..UsageCounts::default()
            })
        );
        assert_eq!(scan_usage(br#"{"usage":{}}"#), Some(UsageCounts::default()));
    }

    #[test]
    fn anything_uncertain_is_left_to_the_full_parser() {
        for body in [
            &br#"{"usage":{"prompt_tokens":1.5}}"#[..],
            br#"{"usage":{"prompt_tokens":-1}}"#,
            br#"{"usage":{"prompt_tokens":01}}"#,
            br#"{"usage":{"prompt_tokens":1e3}}"#,
            br#"{"usage":{"prompt\u005ftokens":1}}"#,
            br#"{"usage":{"prompt_tokens":1"#,
            br#"{"usage":{"prompt_tokens" 1}}"#,
            br#"{"usage":{"prompt_tokens\"#,
            br#"{"usage":null}"#,
            br#"{"choices":[]}"#,
            br#"{"content":"usage"}"#,
            b"",
        ] {
            assert_eq!(scan_usage(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn quotes_and_backslashes_are_found_at_every_offset() {
        for len in 0..20 {
            for at in 0..len {
                for c in [b'"', b'\\'] {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    assert_eq!(super::quote_or_backslash(&b), Some(at), "{len} {at}");
                    // a later one does not hide it
                    if at + 1 < len {
                        b[at + 1] = b'"';
                        assert_eq!(super::quote_or_backslash(&b), Some(at));
                    }
                }
            }
            assert_eq!(super::quote_or_backslash(&vec![0x80u8; len]), None);
            assert_eq!(
                super::quote_or_backslash(&vec![b'!'; len]),
                None,
                "next to a quote"
            );
        }
    }

    #[test]
    fn a_huge_count_is_not_wrapped() {
        assert_eq!(
            scan_usage(br#"{"usage":{"prompt_tokens":99999999999999999999999}}"#),
            None
        );
    }
}
