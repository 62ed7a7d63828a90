//! Bodies out of line (SQLite): the request and response bodies of many rows concatenated and
//! compressed together with LZ4, one `request_log_bodies` row per block. Requests repeat their
//! structure, system prompts and tools, so a block compresses far better than each body alone,
//! and the log writes a fraction of the bytes. A row points at its block and at its offset in the
//! block's uncompressed bytes.
//!
//! Layout at an offset: the request, then the response, each as a little-endian `u32` length
//! (`u32::MAX` = absent) followed by that many UTF-8 bytes.

/// A block is closed once its uncompressed bytes pass this (reading one body decompresses its
/// whole block, so this bounds the cost of `GET /api/logs/{id}`).
pub(crate) const BLOCK_BYTES: usize = 256 * 1024;

const ABSENT: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct BlockBuilder {
    raw: Vec<u8>,
}

impl BlockBuilder {
    /// Appends one row's bodies; returns their offset in the block.
    pub(crate) fn push(&mut self, request: Option<&[u8]>, response: Option<&[u8]>) -> usize {
        let at = self.raw.len();
        for body in [request, response] {
            match body {
                Some(b) => {
                    let bytes = &b[..b.len().min(ABSENT as usize - 1)];
                    self.raw
                        .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    self.raw.extend_from_slice(bytes);
                }
                None => self.raw.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
        at
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// The bodies so far, not compressed.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// [`Self::raw`], moved out; the builder goes on in `next` (cleared).
    pub(crate) fn swap_raw(&mut self, mut next: Vec<u8>) -> Vec<u8> {
        next.clear();
        std::mem::replace(&mut self.raw, next)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.raw.clear();
    }

    /// The compressed block; the builder is empty again.
    #[cfg(test)]
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let mut data = Compressed::default();
        compress_into(&self.raw, &mut data);
        self.raw.clear();
        data.into_vec()
    }
}

/// An output buffer for [`compress_into`], reused from block to block. It keeps the largest
/// size it has had, so compressing never zero-fills it again (the writer compresses two sections
/// per batch: a fresh or re-zeroed buffer each time cost more than a tenth of the compression).
#[derive(Default)]
pub(crate) struct Compressed {
    buf: Vec<u8>,
    len: usize,
}

impl Compressed {
    /// The last compressed block.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[cfg(test)]
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }
}

/// LZ4 with the uncompressed size in front (the layout `lz4_flex::compress_prepend_size`
/// writes), into `out`, reusing its allocation.
pub(crate) fn compress_into(input: &[u8], out: &mut Compressed) {
    let need = 4 + lz4_flex::block::get_maximum_output_size(input.len());
    if out.buf.len() < need {
        out.buf.resize(need, 0);
    }
    out.buf[..4].copy_from_slice(&(input.len() as u32).to_le_bytes());
    match lz4_flex::block::compress_into(input, &mut out.buf[4..]) {
        Ok(n) => out.len = 4 + n,
        // cannot happen (the buffer has the worst-case size); fall back to allocating
        Err(_) => {
            out.buf = lz4_flex::compress_prepend_size(input);
            out.len = out.buf.len();
        }
    }
}

/// Decompresses `block` once for reading several rows' bodies.
pub(crate) fn open(block: &[u8]) -> Result<Vec<u8>, String> {
    crate::lz4::inflate(block).map_err(|e| format!("a body block is damaged: {e}"))
}

/// The bodies at `at` in an opened block.
pub(crate) fn read(raw: &[u8], at: usize) -> Result<(Option<String>, Option<String>), String> {
    let mut pos = at;
    let mut next = || -> Result<Option<String>, String> {
        let len = raw
            .get(pos..pos + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or("a body offset points past its block")?;
        pos += 4;
        if len == ABSENT {
            return Ok(None);
        }
        let bytes = raw
            .get(pos..pos + len as usize)
            .ok_or("a body runs past its block")?;
        pos += len as usize;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    };
    let request = next()?;
    let response = next()?;
    Ok((request, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_through_a_block() {
        let mut b = BlockBuilder::default();
        let at = [
            b.push(Some(b"{\"a\":1}"), Some(b"ok")),
            b.push(None, Some(b"")),
            b.push(Some("ünïcode".as_bytes()), None),
        ];
        let raw = open(&b.take()).unwrap();
        assert!(b.is_empty());
        assert_eq!(
            read(&raw, at[0]).unwrap(),
            (Some("{\"a\":1}".into()), Some("ok".into()))
        );
        assert_eq!(read(&raw, at[1]).unwrap(), (None, Some(String::new())));
        assert_eq!(read(&raw, at[2]).unwrap(), (Some("ünïcode".into()), None));
        assert!(read(&raw, raw.len()).is_err());
        assert!(open(b"junk").is_err());
    }

    #[test]
    fn similar_bodies_compress_well_together() {
        let mut b = BlockBuilder::default();
        for n in 0..500 {
            let req = format!(
                "{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"system\",\"content\":\"You are a helpful assistant for ACME support.\"}},{{\"role\":\"user\",\"content\":\"question {n}\"}}]}}"
            );
            b.push(
                Some(req.as_bytes()),
                Some(b"{\"choices\":[{\"message\":{\"content\":\"fine\"}}]}"),
            );
        }
        let raw = b.len();
        assert!(b.take().len() * 5 < raw, "expected ≥ 5× compression");
    }
}
