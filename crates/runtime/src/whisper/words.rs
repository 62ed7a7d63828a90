//! Word timestamps, as OpenAI's `timing.py` finds them: the window's text tokens are run again
//! (after the start sequence and `<|notimestamps|>`) and the cross-attention of the model's
//! alignment heads (`alignment_heads` in its config; else every head of the decoder's second
//! half) is kept — per head, each token's scores over the audio's frames, softmaxed over the
//! frames actually heard, standardised across tokens, median-filtered (width 7) along time;
//! averaged over the heads, the token × frame matrix is aligned by dynamic time warping, and a
//! word's start and end are where the path first reaches its first token and the token after
//! its last.

pub use crate::task::Word as TimedWord;

/// Audio frames per second after the encoder (its stride halves the mel's 100 a second).
const FRAMES_PER_SECOND: f32 = 50.0;

fn median_filter_rows(row: &mut [f32], width: usize) {
    let half = width / 2;
    let n = row.len();
    if n <= half {
        return;
    }
    let src = row.to_vec();
    // reflect padding, as OpenAI's median filter pads
    let at = |i: isize| -> f32 {
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n as isize {
            i = 2 * (n as isize - 1) - i;
        }
        src[i.clamp(0, n as isize - 1) as usize]
    };
    let mut window = vec![0f32; width];
    for (i, out) in row.iter_mut().enumerate() {
        for (k, w) in window.iter_mut().enumerate() {
            *w = at(i as isize + k as isize - half as isize);
        }
        window.sort_by(f32::total_cmp);
        *out = window[half];
    }
}

/// The alignment matrix: `scores[head][token][frame]` (raw scaled scores over every frame) →
/// `[token][frame]` over the first `frames` frames.
pub fn matrix(scores: &[Vec<Vec<f32>>], frames: usize) -> Vec<Vec<f32>> {
    let tokens = scores.first().map_or(0, Vec::len);
    let mut sum = vec![vec![0f32; frames]; tokens];
    for head in scores {
        // softmax over the frames heard
        let mut w: Vec<Vec<f32>> = head
            .iter()
            .map(|row| {
                let row = &row[..frames.min(row.len())];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
                let s: f32 = e.iter().sum();
                e.iter().map(|x| x / s).collect()
            })
            .collect();
        // standardised across tokens, per frame
        for f in 0..frames.min(w.first().map_or(0, Vec::len)) {
            let n = w.len() as f32;
            let mean = w.iter().map(|r| r[f]).sum::<f32>() / n;
            let var = w.iter().map(|r| (r[f] - mean).powi(2)).sum::<f32>() / n;
            let std = var.sqrt().max(1e-10);
            for r in &mut w {
                r[f] = (r[f] - mean) / std;
            }
        }
        for (row, acc) in w.iter_mut().zip(&mut sum) {
            median_filter_rows(row, 7);
            for (a, v) in acc.iter_mut().zip(row.iter()) {
                *a += v;
            }
        }
    }
    let heads = scores.len().max(1) as f32;
    for row in &mut sum {
        row.iter_mut().for_each(|v| *v /= heads);
    }
    sum
}

/// Dynamic time warping over `cost` (`[token][frame]`): the path's (token, frame) pairs, in
/// order.
pub fn dtw(cost: &[Vec<f32>]) -> Vec<(usize, usize)> {
    let n = cost.len();
    let m = cost.first().map_or(0, Vec::len);
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let mut acc = vec![vec![f32::INFINITY; m + 1]; n + 1];
    let mut trace = vec![vec![0u8; m + 1]; n + 1];
    acc[0][0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let (c0, c1, c2) = (acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1]);
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            acc[i][j] = cost[i - 1][j - 1] + c;
            trace[i][j] = t;
        }
    }
    let (mut i, mut j) = (n, m);
    let mut path = Vec::new();
    while i > 0 || j > 0 {
        path.push((i.saturating_sub(1), j.saturating_sub(1)));
        let t = if i == 0 {
            2
        } else if j == 0 {
            1
        } else {
            trace[i][j]
        };
        match t {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

/// The time (seconds) each matrix row is first reached on the path.
pub fn jump_times(matrix: &[Vec<f32>]) -> Vec<f32> {
    let cost: Vec<Vec<f32>> = matrix
        .iter()
        .map(|r| r.iter().map(|v| -v).collect())
        .collect();
    let mut times = vec![0f32; matrix.len()];
    let mut last = usize::MAX;
    for (i, j) in dtw(&cost) {
        if i != last {
            times[i] = j as f32 / FRAMES_PER_SECOND;
            last = i;
        }
    }
    times
}

const PREPEND: &str = "\"'“¿([{-";
const APPEND: &str = "\"'.。,，!！?？:：”)]}、";

/// `tokens` (text only) cut into words — a word starts at a token beginning with a space or at a
/// punctuation token — each with the index of its first token; `text_of` decodes tokens.
pub fn split_words(
    tokens: &[u32],
    text_of: &dyn Fn(&[u32]) -> String,
) -> Vec<(String, usize, usize)> {
    let mut words: Vec<(String, usize, usize)> = Vec::new();
    for (i, &t) in tokens.iter().enumerate() {
        let piece = text_of(&[t]);
        let trimmed = piece.trim();
        let punctuation = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_punctuation());
        match words.last_mut() {
            Some(w) if !piece.starts_with(' ') && !punctuation => {
                w.2 = i + 1;
            }
            _ => words.push((String::new(), i, i + 1)),
        }
    }
    for w in &mut words {
        w.0 = text_of(&tokens[w.1..w.2]);
    }
    words
}

/// Words with their times: `jump[k]` is when token `k` begins (`jump[tokens.len()]` when the
/// text ends); punctuation is joined to the word it belongs to.
pub fn timed_words(words: Vec<(String, usize, usize)>, jump: &[f32]) -> Vec<TimedWord> {
    let mut out: Vec<TimedWord> = Vec::new();
    let mut pending_prefix = String::new();
    for (text, from, to) in words {
        let trimmed = text.trim();
        let (start, end) = (
            jump.get(from).copied().unwrap_or(0.0),
            jump.get(to).copied().unwrap_or(0.0),
        );
        if !trimmed.is_empty() && trimmed.chars().all(|c| APPEND.contains(c)) {
            if let Some(prev) = out.last_mut() {
                prev.word.push_str(trimmed);
                continue;
            }
        }
        if !trimmed.is_empty() && trimmed.chars().all(|c| PREPEND.contains(c)) {
            pending_prefix.push_str(trimmed);
            continue;
        }
        let word = if pending_prefix.is_empty() {
            text
        } else {
            let lead = if text.starts_with(' ') { " " } else { "" };
            format!(
                "{lead}{}{}",
                std::mem::take(&mut pending_prefix),
                text.trim_start()
            )
        };
        out.push(TimedWord {
            word,
            start,
            end: end.max(start),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_walks_the_diagonal_of_a_diagonal_cost() {
        // three tokens over six frames, each token cheap over two frames
        let cost: Vec<Vec<f32>> = (0..3)
            .map(|i| (0..6).map(|j| if j / 2 == i { 0.0 } else { 1.0 }).collect())
            .collect();
        let matrix: Vec<Vec<f32>> = cost
            .iter()
            .map(|r| r.iter().map(|v| -v).collect())
            .collect();
        assert_eq!(jump_times(&matrix), [0.0, 2.0 / 50.0, 4.0 / 50.0]);
        let path = dtw(&cost);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(2, 5)));
    }

    #[test]
    fn words_start_at_spaces_and_keep_their_punctuation() {
        let pieces = [" Hello", ",", " wor", "ld", ".", " (", "ok", ")"];
        let text_of = |ids: &[u32]| ids.iter().map(|&i| pieces[i as usize]).collect::<String>();
        let ids: Vec<u32> = (0..pieces.len() as u32).collect();
        let words = split_words(&ids, &text_of);
        let jump: Vec<f32> = (0..=pieces.len()).map(|i| i as f32).collect();
        let timed = timed_words(words, &jump);
        let said: Vec<(&str, f32, f32)> = timed
            .iter()
            .map(|w| (w.word.as_str(), w.start, w.end))
            .collect();
        assert_eq!(
            said,
            [
                (" Hello,", 0.0, 1.0),
                (" world.", 2.0, 4.0),
                // " (" and "ok" are one word, as OpenAI splits them (no space before "ok")
                (" (ok)", 5.0, 7.0)
            ]
        );
    }

    #[test]
    fn the_median_filter_removes_a_spike() {
        let mut row = vec![0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        median_filter_rows(&mut row, 7);
        assert!(row.iter().all(|v| *v == 0.0), "{row:?}");
    }
}
