//! Shared by the log-store tests.

/// A gateway-made log id: UUIDv7 with the arrival ms and a 12-bit counter (what
/// `switchyard_store::logs::seq_of` reads).
pub fn log_id(ms: i64, counter: i64) -> String {
    format!(
        "{:08x}-{:04x}-7{counter:03x}-8000-{:012x}",
        ms >> 16,
        ms & 0xffff,
        ms ^ counter
    )
}
