//! `chaos-P-…` models: P % of requests fail, each in one of the ways an upstream fails, the rest
//! answer normally. The choice is a fixed sequence per mock (reproducible, no randomness source).

use std::sync::atomic::Ordering;

use super::{Behaviour, MockState};

/// Every way an upstream fails, in the order the sequence walks them.
const FAULTS: [Behaviour; 10] = [
    Behaviour::Status(500),
    Behaviour::RateLimited(1),
    Behaviour::ResetBody,
    Behaviour::Hang,
    Behaviour::BrokenStream,
    Behaviour::CutStream,
    Behaviour::SlowStream(4),
    Behaviour::BadJson,
    Behaviour::BadFirstEvent,
    Behaviour::Status(503),
];

/// The behaviour for this request to a `chaos-P-…` model; `None` for other models.
pub(crate) fn pick(state: &MockState, model: &str) -> Option<Behaviour> {
    let rest = model.strip_prefix("chaos-")?;
    let percent: u64 = rest.split('-').next()?.parse().ok()?;
    let n = state.chaos_seq.fetch_add(1, Ordering::Relaxed) as u64;
    let roll = splitmix(n);
    if roll % 100 >= percent {
        return Some(Behaviour::Normal);
    }
    let index = usize::try_from((roll / 100) % FAULTS.len() as u64).unwrap_or(0);
    Some(FAULTS[index])
}

/// SplitMix64: a well-mixed number from a counter.
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
