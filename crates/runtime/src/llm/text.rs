//! Token pieces → text a client may see: whole UTF-8 characters only, and stop sequences cut
//! (text that might be the start of a stop sequence is held back until it is known not to be).

/// Turns a sequence's token pieces into text, one piece at a time.
#[derive(Debug, Default)]
pub struct TextOut {
    /// Bytes of a character split across pieces.
    partial: Vec<u8>,
    /// Decoded text not yet released (it may begin a stop sequence).
    held: String,
    stops: Vec<String>,
}

/// What one piece released.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    pub text: String,
    /// A stop sequence matched: generation ends; the stop itself is not part of `text`.
    pub stopped: bool,
}

impl TextOut {
    pub fn new(stops: Vec<String>) -> Self {
        TextOut {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, piece: &[u8]) -> Released {
        self.partial.extend_from_slice(piece);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            Err(e) if e.error_len().is_some() => {
                // invalid bytes (not merely cut short): keep them visible as U+FFFD
                let text = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                self.held.push_str(&text);
                return self.release();
            }
            Err(e) => e.valid_up_to(),
        };
        let rest = self.partial.split_off(valid);
        let done = std::mem::replace(&mut self.partial, rest);
        self.held.push_str(&String::from_utf8_lossy(&done));
        self.release()
    }

    /// The end of generation: whatever is still held.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.held);
        if !self.partial.is_empty() {
            out.push_str(&String::from_utf8_lossy(&self.partial));
            self.partial.clear();
        }
        out
    }

    fn release(&mut self) -> Released {
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let mut text = std::mem::take(&mut self.held);
            text.truncate(at);
            return Released {
                text,
                stopped: true,
            };
        }
        // hold back the longest tail that could still grow into a stop sequence
        let keep = self
            .stops
            .iter()
            .map(|s| longest_prefix_suffix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let rest = self.held.split_off(cut);
        Released {
            text: std::mem::replace(&mut self.held, rest),
            stopped: false,
        }
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`.
fn longest_prefix_suffix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && stop.as_bytes()[..n] == text.as_bytes()[text.len() - n..]
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_pieces_wait_for_their_end() {
        let mut t = TextOut::new(vec![]);
        let e = "é".as_bytes();
        assert_eq!(t.push(&e[..1]).text, "");
        assert_eq!(t.push(&e[1..]).text, "é");
    }

    #[test]
    fn stop_sequences_are_cut_even_across_pieces() {
        let mut t = TextOut::new(vec!["END".into()]);
        assert_eq!(t.push(b"one E").text, "one ");
        let r = t.push(b"NDtwo");
        assert_eq!(
            r,
            Released {
                text: String::new(),
                stopped: true
            }
        );
        let mut t = TextOut::new(vec!["END".into()]);
        assert_eq!(t.push(b"an E").text, "an ");
        assert_eq!(t.push(b"lk").text, "Elk");
        assert_eq!(t.push(b" E").text, " ");
        assert_eq!(t.finish(), "E");
    }

    #[test]
    fn earliest_stop_wins() {
        let mut t = TextOut::new(vec!["b".into(), "a".into()]);
        assert_eq!(
            t.push(b"xxabc"),
            Released {
                text: "xx".into(),
                stopped: true
            }
        );
    }
}
