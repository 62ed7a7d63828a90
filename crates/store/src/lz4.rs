//! LZ4 data read back from a store (log blocks, cache entries): the size it claims is checked
//! against what LZ4 can possibly expand to before any of it is allocated, so a damaged or hostile
//! value costs at most its own size times LZ4's ratio, never the 4 GiB a size field can name.

/// LZ4 never expands input by more than this (each byte of a match run names up to 255 more).
const MAX_RATIO: usize = 255;

/// `data` (a little-endian u32 size, then an LZ4 block) decompressed.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let claimed = data
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or("too short to hold its size")? as usize;
    let most = (data.len() - 4)
        .saturating_mul(MAX_RATIO)
        .saturating_add(16);
    if claimed > most {
        return Err(format!(
            "it claims {claimed} bytes, more than its {} compressed bytes can hold",
            data.len() - 4
        ));
    }
    lz4_flex::decompress_size_prepended(data).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_sizes_it_cannot_hold() {
        let text = b"hello hello hello hello hello".repeat(100);
        assert_eq!(
            inflate(&lz4_flex::compress_prepend_size(&text)).unwrap(),
            text
        );
        let mut bomb = u32::MAX.to_le_bytes().to_vec();
        bomb.extend_from_slice(&[0x1f, 0, 0, 0]);
        assert!(inflate(&bomb).unwrap_err().contains("claims"));
        assert!(inflate(&[1, 2]).is_err());
    }
}
