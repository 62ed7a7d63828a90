use super::*;

/// A deterministic pseudo-random unit vector.
fn unit(seed: u64, dim: usize) -> Vector {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v.into()
}

/// `v` moved a little towards `w` (similarity falls as `t` grows).
fn blend(v: &Vector, w: &Vector, t: f32) -> Vector {
    let mut u: Vec<f32> = v
        .iter()
        .zip(w.iter())
        .map(|(a, b)| a * (1.0 - t) + b * t)
        .collect();
    let n = u.iter().map(|a| a * a).sum::<f32>().sqrt();
    u.iter_mut().for_each(|a| *a /= n);
    u.into()
}

const SCOPE: ScopeId = [7; 32];

fn key(i: u64) -> CacheKey {
    let mut k = [0; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k
}
const FAR: u64 = u64::MAX;

#[test]
fn finds_the_nearest_above_the_threshold_within_its_scope() {
    let index = Index::new(1000);
    for i in 0..300u64 {
        index.insert(SCOPE, key(i), unit(i, 64), FAR);
    }
    let q = blend(&unit(42, 64), &unit(9999, 64), 0.1);
    let found = index.search(&SCOPE, &q, 0.9, 0);
    assert_eq!(found.first().map(|n| n.key), Some(key(42)), "{found:?}");
    let exact = dot(&q, &unit(42, 64));
    assert!((found[0].similarity - exact).abs() < 1e-4);
    assert!(
        index.search(&SCOPE, &q, exact + 0.01, 0).is_empty(),
        "threshold"
    );
    assert!(index.search(&[8; 32], &q, 0.5, 0).is_empty(), "other scope");
    assert_eq!(index.len(), 300);
}

#[test]
fn expired_forgotten_and_cleared_entries_are_not_offered() {
    let index = Index::new(1000);
    index.insert(SCOPE, [1; 32], unit(1, 32), 100);
    index.insert(SCOPE, [2; 32], unit(2, 32), FAR);
    assert_eq!(index.search(&SCOPE, &unit(1, 32), 0.99, 50).len(), 1);
    assert!(
        index.search(&SCOPE, &unit(1, 32), 0.99, 100).is_empty(),
        "expired"
    );
    index.forget(&SCOPE, &[2; 32]);
    assert!(
        index.search(&SCOPE, &unit(2, 32), 0.99, 0).is_empty(),
        "forgotten"
    );
    // storing the same key again brings it back (once)
    index.insert(SCOPE, [2; 32], unit(2, 32), FAR);
    assert_eq!(index.search(&SCOPE, &unit(2, 32), 0.99, 0).len(), 1);
    assert_eq!(index.len(), 2);
    index.clear();
    assert!(index.search(&SCOPE, &unit(2, 32), 0.5, 0).is_empty());
    assert_eq!(index.len(), 0);
}

#[test]
fn compaction_keeps_the_live_and_newest_entries() {
    let index = Index::new(100);
    let mut wants = false;
    for i in 0..100u64 {
        // the first 40 expire at 10
        let expires = if i < 40 { 10 } else { FAR };
        wants |= index.insert(SCOPE, [i as u8; 32], unit(i, 16), expires);
    }
    assert!(wants, "at the bound, a compaction is asked for");
    index.compact(20);
    // 60 live, bound 100 → three quarters of it (75) may stay: all 60 do
    assert_eq!(index.len(), 60);
    assert!(index.search(&SCOPE, &unit(5, 16), 0.99, 20).is_empty());
    assert_eq!(
        index.search(&SCOPE, &unit(77, 16), 0.99, 20)[0].key,
        [77; 32]
    );
    for i in 100..140u64 {
        index.insert(SCOPE, [i as u8; 32], unit(i, 16), FAR);
    }
    index.compact(20);
    assert_eq!(index.len(), 75, "the newest three quarters of the bound");
    assert!(
        index.search(&SCOPE, &unit(40, 16), 0.99, 20).is_empty(),
        "oldest went"
    );
    assert_eq!(
        index.search(&SCOPE, &unit(139, 16), 0.99, 20)[0].key,
        [139; 32]
    );
}

#[test]
fn compaction_bounds_the_index_however_many_scopes_share_it() {
    // one scope per caller: 50 of them with 4 entries each, twice the bound of 100
    let index = Index::new(100);
    for scope in 0..50u64 {
        for i in 0..4u64 {
            let n = scope * 4 + i;
            index.insert(key(1000 + scope), key(n), unit(n, 16), FAR);
        }
    }
    assert_eq!(index.len(), 200);
    index.compact(20);
    assert!(index.len() <= 75, "{}", index.len());
    // every scope gave up its oldest: the newest of each is still found
    let newest = 7 * 4 + 3;
    assert_eq!(
        index.search(&key(1007), &unit(newest, 16), 0.99, 20)[0].key,
        key(newest)
    );
}
