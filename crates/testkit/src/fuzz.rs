//! A small mutation fuzzer that runs on stable Rust inside `cargo test`: inputs grown from seeds
//! by byte- and token-level mutations, each run under `catch_unwind` and timed. A panic, or one
//! input taking longer than [`SLOW`], is a finding: the input is written to
//! `$SWITCHYARD_FUZZ_FINDINGS` (default: the system temp dir, `switchyard-fuzz/`) and the test
//! fails naming the file.
//!
//! Each target runs for `SWITCHYARD_FUZZ_SECS` seconds (default 2: the short pass every test run
//! makes); `scripts/fuzz.sh --minutes N` runs them longer. Every target prints one line, `fuzz
//! NAME: N inputs in S s`, which the script collects.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// One input taking longer than this is a finding (a quadratic path, a hang).
pub const SLOW: Duration = Duration::from_secs(2);

/// Byte strings that tend to matter to parsers of JSON, SSE and the AWS event stream.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"-1e-999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\x00",
    b"\r",
    b"\n",
    b"\n\n",
    b"\r\n\r\n",
    b"data: ",
    b"event: ",
    b": ping\n\n",
    b"data: [DONE]\n\n",
    b"\"\":",
    b"{\"type\":",
    b"\"content\":",
    b"\"choices\":[",
    b"\"delta\":{",
    b"\"usage\":{",
    b"\xe2\x82",
    b"\x00\x00\x00\x10",
];

/// SplitMix64: a fast, well-mixed sequence from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// `input` changed in one to four random ways (the seeds are material to splice in).
pub fn mutate(rng: &mut Rng, input: &[u8], seeds: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(9) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next_u64() as u8),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            3 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 if !out.is_empty() => {
                // a range repeated: long runs, deep nesting
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(32)).min(out.len());
                let piece = out[start..end].to_vec();
                for _ in 0..=rng.below(64) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            5 if !seeds.is_empty() => {
                let other = seeds[rng.below(seeds.len())];
                let start = rng.below(other.len());
                let end = (start + rng.below(64)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            6 => out.truncate(at),
            7 => {
                let open = [b'[', b'{'][rng.below(2)];
                out.splice(at..at, std::iter::repeat_n(open, 1 + rng.below(200)));
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.extend_from_slice(token);
            }
        }
    }
    out
}

fn budget() -> Duration {
    let secs = std::env::var("SWITCHYARD_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// Runs `target` on the seeds, then on mutations of them (and of earlier mutations), until the
/// time budget is spent. Returns how many inputs ran.
// a finding fails the test that runs the fuzzer: panicking is how it says so
#[allow(clippy::panic)]
pub fn run(name: &str, seeds: &[&[u8]], mut target: impl FnMut(&[u8])) -> u64 {
    let started = Instant::now();
    let budget = budget();
    let seed = std::env::var("SWITCHYARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0x5EED);
    let mut rng = Rng::new(
        seed ^ name
            .bytes()
            .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b)),
    );
    // inputs kept to mutate further (bounded: a few hundred recent ones)
    let mut pool: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    let mut n: u64 = 0;
    loop {
        let input = if (n as usize) < seeds.len() {
            seeds[n as usize].to_vec()
        } else {
            let base = &pool[rng.below(pool.len())];
            mutate(&mut rng, base, seeds)
        };
        let one = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = one.elapsed();
        if outcome.is_err() || took > SLOW {
            let what = if outcome.is_err() {
                "panicked".to_owned()
            } else {
                format!("took {took:?}")
            };
            let path = keep(name, n, &input);
            panic!(
                "fuzz {name}: input {n} {what}; it is in {path} ({} bytes, starts {:?})",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(120)])
            );
        }
        n += 1;
        if input.len() < 64 * 1024 && rng.below(4) == 0 {
            if pool.len() >= 256 {
                let i = rng.below(pool.len());
                pool[i] = input;
            } else {
                pool.push(input);
            }
        }
        if n as usize >= seeds.len() && started.elapsed() >= budget {
            break;
        }
    }
    eprintln!(
        "fuzz {name}: {n} inputs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    n
}

/// Writes a finding where a person can pick it up; returns where.
fn keep(name: &str, n: u64, input: &[u8]) -> String {
    let dir = std::env::var_os("SWITCHYARD_FUZZ_FINDINGS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("switchyard-fuzz"));
    let path = dir.join(format!("{name}-{n}.bin"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not written: {e})"),
    }
}

/// `input` cut into pieces at random points (for parsers fed a stream chunk by chunk).
pub fn chunks<'a>(rng: &mut Rng, input: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(64));
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}
