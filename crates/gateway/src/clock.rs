//! Time and request ids: Unix milliseconds, and UUIDv7 ids unique and increasing in this process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// Now, in Unix ms.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The last `(unix_ms << 12) | counter` handed out by [`next_id`].
static LAST: AtomicU64 = AtomicU64::new(0);

/// A UUIDv7 (RFC 9562 §6.2, method 1: a 12-bit counter in `rand_a`) that is unique and strictly
/// increasing within this process: 48 bits of Unix ms, the counter, then 62 random bits. The top
/// 60 bits alone are unique here, so the SQLite log uses them as its row key
/// (`switchyard_store::logs::seq_of`). More than 4096 ids in one ms borrow from the next ms.
pub fn next_id() -> (Uuid, i64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & 0xFFFF_FFFF_FFFF;
    let mut last = LAST.load(Ordering::Relaxed);
    let seq = loop {
        let next = (now << 12).max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let ms = seq >> 12;
    let counter = (seq & 0xFFF) as u16;
    let random: u64 = rand_bits();
    let bytes = (u128::from(ms) << 80)
        | (0x7u128 << 76)
        | (u128::from(counter) << 64)
        | (0b10u128 << 62)
        | u128::from(random >> 2);
    (Uuid::from_u128(bytes), ms as i64)
}

/// Makes every later id sort after `seq` (the newest row key already stored), so a clock that
/// went backwards across a restart cannot repeat a key.
pub fn raise_id_floor(seq: u64) {
    LAST.fetch_max(seq, Ordering::Relaxed);
}

fn rand_bits() -> u64 {
    // uuid's own generator (fast-rng): the random half of a v4
    (Uuid::new_v4().as_u128() & u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_strictly_increasing_and_carry_their_time() {
        let (a, ms_a) = next_id();
        let mut prev = a;
        for _ in 0..10_000 {
            let (id, ms) = next_id();
            assert!(id > prev);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(ms >= ms_a);
            prev = id;
        }
        let (ts, _) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(ts as i64, ms_a / 1000);
    }

    #[test]
    fn the_floor_moves_ids_past_a_stored_key() {
        let far = (next_id().1 as u64 + 50) << 12;
        raise_id_floor(far);
        let (_, ms) = next_id();
        assert!(ms as u64 >= far >> 12);
    }
}
