//! Whisper's timestamp tokens (`<|0.00|>` … `<|30.00|>`, 20 ms apart): the rules greedy decoding
//! follows so they come as well-formed pairs around each segment's text (as OpenAI's reference
//! decoder applies them), and the segments read back from the tokens.

/// Seconds per timestamp step.
pub(super) const STEP: f32 = 0.02;

/// The ids the rules need.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    pub eot: u32,
    pub no_timestamps: u32,
    /// `<|0.00|>`; every id from here on is a timestamp.
    pub first: u32,
    /// The latest the first timestamp may be, in steps (1 s).
    pub max_initial: u32,
}

fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

impl Rules {
    fn is_timestamp(&self, token: u32) -> bool {
        token >= self.first
    }

    /// Masks what may not come next after `sampled` (this window's tokens so far).
    pub(super) fn apply(&self, sampled: &[u32], logits: &mut [f32]) {
        let neg = f32::NEG_INFINITY;
        let first = (self.first as usize).min(logits.len());
        let eot = (self.eot as usize).min(first);
        if let Some(l) = logits.get_mut(self.no_timestamps as usize) {
            *l = neg;
        }
        let n = sampled.len();
        let last = n >= 1 && self.is_timestamp(sampled[n - 1]);
        let penultimate = n < 2 || self.is_timestamp(sampled[n - 2]);
        if last {
            if penultimate {
                // a pair just closed a segment and opened the next: text follows
                logits[first..].fill(neg);
            } else {
                // a segment's end: the next one's start, or the end of the answer
                logits[..eot].fill(neg);
            }
        }
        if let Some(&latest) = sampled.iter().rev().find(|t| self.is_timestamp(**t)) {
            // time never goes back (a segment's start may repeat the previous end)
            let floor = if last && !penultimate {
                latest
            } else {
                latest + 1
            };
            let floor = (floor as usize).clamp(first, logits.len());
            logits[first..floor].fill(neg);
        }
        if n == 0 {
            // the answer opens with a timestamp, within the first second
            logits[..first].fill(neg);
            let latest = (first + self.max_initial as usize + 1).min(logits.len());
            logits[latest..].fill(neg);
        }
        // when time is likelier in total than any one text token, a timestamp comes next
        let text_max = logits[..first].iter().copied().fold(neg, f32::max);
        if log_sum_exp(&logits[first..]) > text_max {
            logits[..first].fill(neg);
        }
    }
}

/// One segment: its span in the window (seconds) and its text tokens.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Span {
    pub start: f32,
    pub end: f32,
    pub tokens: Vec<u32>,
}

/// The segments of one window's tokens, and how far the window was transcribed for sure (in
/// seconds): to its end when the last segment closed with a single timestamp, else to the last
/// segment boundary (the rest is decoded again from there).
pub(super) fn spans(rules: &Rules, tokens: &[u32], window: f32) -> (Vec<Span>, f32) {
    let time = |t: u32| (t - rules.first) as f32 * STEP;
    let mut out = Vec::new();
    let mut start: Option<f32> = None;
    let mut text = Vec::new();
    for (i, &t) in tokens.iter().enumerate() {
        if !rules.is_timestamp(t) {
            text.push(t);
            continue;
        }
        match start {
            Some(s) if !text.is_empty() => {
                out.push(Span {
                    start: s,
                    end: time(t).max(s),
                    tokens: std::mem::take(&mut text),
                });
                start = None;
            }
            _ => {
                start = Some(time(t));
                // a lone end with no text between: nothing to keep
                if i + 1 == tokens.len() {
                    start = None;
                }
            }
        }
    }
    let single_ending = tokens.len() >= 2
        && rules.is_timestamp(tokens[tokens.len() - 1])
        && !rules.is_timestamp(tokens[tokens.len() - 2]);
    let done = if single_ending || text.is_empty() && out.last().is_none() {
        window
    } else if !text.is_empty() {
        // text without its end: the window ran out mid-segment
        match start {
            Some(s) if s > 0.0 => s,
            _ => {
                out.push(Span {
                    start: start.unwrap_or(0.0),
                    end: window,
                    tokens: text,
                });
                window
            }
        }
    } else {
        out.last().map_or(window, |s| s.end.max(STEP))
    };
    (out, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        eot: 100,
        no_timestamps: 105,
        first: 110,
        max_initial: 50,
    };

    fn logits() -> Vec<f32> {
        vec![0.0; 110 + 1501]
    }

    fn allowed(l: &[f32]) -> Vec<usize> {
        l.iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn timestamps_come_in_pairs_around_text_and_never_go_back() {
        // first: a timestamp within the first second
        let mut l = logits();
        RULES.apply(&[], &mut l);
        assert_eq!(allowed(&l), (110..=160).collect::<Vec<_>>());
        // after a start: text (or a later timestamp, when time is likelier)
        let mut l = logits();
        l[110..].fill(-100.0);
        RULES.apply(&[110], &mut l);
        assert!(l[5].is_finite() && l[105].is_infinite());
        // after text then a timestamp (a segment's end): a timestamp not before it, or the end
        let mut l = logits();
        l[100] = 10.0; // the end is likely (else time, likelier in total, would be forced)
        RULES.apply(&[110, 5, 6, 150], &mut l);
        assert!(l[5].is_infinite() && l[149].is_infinite());
        assert!(l[100].is_finite() && l[150].is_finite() && l[151].is_finite());
        // after a pair: text only
        let mut l = logits();
        RULES.apply(&[110, 5, 150, 150], &mut l);
        assert!(l[5].is_finite() && l[150].is_infinite() && l[200].is_infinite());
    }

    #[test]
    fn segments_are_read_back_with_their_times() {
        let tokens = [110, 5, 6, 160, 160, 7, 210];
        let (s, done) = spans(&RULES, &tokens, 30.0);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].start, s[0].end, s[0].tokens.clone()),
            (0.0, 1.0, vec![5, 6])
        );
        assert_eq!(
            (s[1].start, s[1].end, s[1].tokens.clone()),
            (1.0, 2.0, vec![7])
        );
        assert_eq!(
            done, 30.0,
            "closed with a single timestamp: the window is done"
        );
        // cut mid-segment: done up to that segment's start, which is decoded again
        let (s, done) = spans(&RULES, &[110, 5, 160, 160, 7, 8], 30.0);
        assert_eq!(s.len(), 1);
        assert!((done - 1.0).abs() < 1e-6, "{done}");
    }
}
