//! SQLite's row blocks: many log rows packed into one compact binary section and compressed
//! together with LZ4, their bodies in a second section ([`super::blocks`]) so that listing rows
//! never decompresses a body.
//!
//! A rows section (before compression): a format byte, the row count (`u32`, little-endian),
//! then each row's fields in
//! the order of [`LogRecord`] — integers as zigzag varints, floats as 8 little-endian bytes,
//! strings as a varint length and UTF-8 bytes, an optional value as a presence byte then the
//! value — followed by its row key and the offset of its bodies in the bodies section.

use super::LogRecord;

const FORMAT: u8 = 1;

/// A row as a block holds it: its key, the record (bodies not filled in), where its bodies are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub seq: i64,
    pub record: LogRecord,
    pub body_at: Option<u64>,
}

struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    fn uvar(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(&mut self, v: i64) {
        self.uvar(((v << 1) ^ (v >> 63)) as u64);
    }

    fn real(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn text(&mut self, v: &str) {
        self.uvar(v.len() as u64);
        self.0.extend_from_slice(v.as_bytes());
    }

    fn opt<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => {
                self.0.push(1);
                put(self, v);
            }
            None => self.0.push(0),
        }
    }
}

struct In<'a> {
    data: &'a [u8],
    pos: usize,
}

const DAMAGED: &str = "a log block is damaged";

impl In<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.pos).ok_or(DAMAGED)?;
        self.pos += 1;
        Ok(b)
    }

    fn uvar(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DAMAGED.into())
    }

    fn int(&mut self) -> Result<i64, String> {
        let v = self.uvar()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn real(&mut self) -> Result<f64, String> {
        let bytes = self.data.get(self.pos..self.pos + 8).ok_or(DAMAGED)?;
        self.pos += 8;
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(b))
    }

    fn text(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.uvar()?).map_err(|_| DAMAGED)?;
        let bytes = self
            .data
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or(DAMAGED)?;
        self.pos += len;
        String::from_utf8(bytes.to_vec()).map_err(|_| DAMAGED.into())
    }

    fn opt<T>(
        &mut self,
        get: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => get(self).map(Some),
            _ => Err(DAMAGED.into()),
        }
    }
}

fn put_row(o: &mut Out<'_>, seq: i64, r: &LogRecord, body_at: Option<u64>) {
    o.text(&r.id);
    o.int(r.created_at);
    o.int(r.finished_at);
    o.opt(r.api_key_id.as_deref(), Out::text);
    o.text(&r.dialect);
    o.text(&r.method);
    o.text(&r.path);
    o.text(&r.route);
    o.opt(r.provider.as_deref(), Out::text);
    o.opt(r.requested_model.as_deref(), Out::text);
    o.opt(r.model.as_deref(), Out::text);
    o.int(r.status);
    let flags = u8::from(r.success)
        | u8::from(r.cached) << 1
        | u8::from(r.stream) << 2
        | u8::from(r.tokens_estimated) << 3;
    o.0.push(flags);
    o.opt(r.cache_status.as_deref(), Out::text);
    o.int(r.step);
    for v in [
        r.input_tokens,
        r.output_tokens,
        r.cached_input_tokens,
        r.reasoning_tokens,
    ] {
        o.opt(v, Out::int);
    }
    for v in [r.cost_usd, r.custom_cost_usd, r.saved_cost_usd] {
        o.opt(v, Out::real);
    }
    o.real(r.duration_ms);
    for v in [r.ttft_ms, r.upstream_ms, r.overhead_ms] {
        o.opt(v, Out::real);
    }
    for v in [&r.metadata, &r.user_agent, &r.error] {
        o.opt(v.as_deref(), Out::text);
    }
    o.opt(r.feedback, Out::int);
    o.opt(r.score, Out::real);
    o.int(seq);
    o.opt(body_at, Out::uvar);
}

fn get_row(i: &mut In<'_>) -> Result<Row, String> {
    let id = i.text()?;
    let created_at = i.int()?;
    let finished_at = i.int()?;
    let api_key_id = i.opt(In::text)?;
    let dialect = i.text()?;
    let method = i.text()?;
    let path = i.text()?;
    let route = i.text()?;
    let provider = i.opt(In::text)?;
    let requested_model = i.opt(In::text)?;
    let model = i.opt(In::text)?;
    let status = i.int()?;
    let flags = i.byte()?;
    let cache_status = i.opt(In::text)?;
    let step = i.int()?;
    let input_tokens = i.opt(In::int)?;
    let output_tokens = i.opt(In::int)?;
    let cached_input_tokens = i.opt(In::int)?;
    let reasoning_tokens = i.opt(In::int)?;
    let cost_usd = i.opt(In::real)?;
    let custom_cost_usd = i.opt(In::real)?;
    let saved_cost_usd = i.opt(In::real)?;
    let duration_ms = i.real()?;
    let ttft_ms = i.opt(In::real)?;
    let upstream_ms = i.opt(In::real)?;
    let overhead_ms = i.opt(In::real)?;
    let metadata = i.opt(In::text)?;
    let user_agent = i.opt(In::text)?;
    let error = i.opt(In::text)?;
    let feedback = i.opt(In::int)?;
    let score = i.opt(In::real)?;
    let seq = i.int()?;
    let body_at = i.opt(In::uvar)?;
    Ok(Row {
        seq,
        body_at,
        record: LogRecord {
            id,
            created_at,
            finished_at,
            api_key_id,
            dialect,
            method,
            path,
            route,
            provider,
            requested_model,
            model,
            status,
            success: flags & 1 != 0,
            cached: flags & 2 != 0,
            cache_status,
            step,
            stream: flags & 4 != 0,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            reasoning_tokens,
            tokens_estimated: flags & 8 != 0,
            cost_usd,
            custom_cost_usd,
            saved_cost_usd,
            duration_ms,
            ttft_ms,
            upstream_ms,
            overhead_ms,
            metadata,
            user_agent,
            error,
            request_body: None,
            response_body: None,
            feedback,
            score,
        },
    })
}

/// The format byte and the row count.
const HEAD: usize = 5;

/// Packs rows (their bodies are not written here) into a compressed rows section.
#[derive(Default)]
pub(crate) struct RowsBuilder {
    raw: Vec<u8>,
    count: u32,
}

impl RowsBuilder {
    pub(crate) fn push(&mut self, seq: i64, record: &LogRecord, body_at: Option<u64>) {
        if self.raw.is_empty() {
            self.raw.reserve(64 * 1024);
            self.raw.extend_from_slice(&[FORMAT, 0, 0, 0, 0]);
        }
        put_row(&mut Out(&mut self.raw), seq, record, body_at);
        self.count += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        u64::from(self.count)
    }

    pub(crate) fn clear(&mut self) {
        self.raw.clear();
        self.count = 0;
    }

    /// The compressed section; the builder is empty again.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let mut data = super::blocks::Compressed::default();
        self.take_into(&mut data);
        data.into_vec()
    }

    /// [`Self::take`] into `out` (whose allocation is reused).
    pub(crate) fn take_into(&mut self, out: &mut super::blocks::Compressed) {
        if self.raw.is_empty() {
            self.raw.extend_from_slice(&[FORMAT, 0, 0, 0, 0]);
        }
        self.raw[1..HEAD].copy_from_slice(&self.count.to_le_bytes());
        super::blocks::compress_into(&self.raw, out);
        self.raw.clear();
        self.count = 0;
    }
}

/// Every row of a compressed rows section.
pub(crate) fn read_rows(section: &[u8]) -> Result<Vec<Row>, String> {
    let raw =
        lz4_flex::decompress_size_prepended(section).map_err(|e| format!("{DAMAGED}: {e}"))?;
    let mut input = In { data: &raw, pos: 0 };
    if input.byte()? != FORMAT {
        return Err(format!("{DAMAGED}: unknown format"));
    }
    let count = raw
        .get(1..HEAD)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(DAMAGED)?;
    input.pos = HEAD;
    let mut rows = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        rows.push(get_row(&mut input)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> LogRecord {
        LogRecord {
            id: "01900000-0001-7abc-8000-000000000000".into(),
            created_at: 1_700_000_000_000,
            finished_at: 1_700_000_000_005,
            api_key_id: Some("k1".into()),
            dialect: "anthropic".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            route: "/v1/messages".into(),
            provider: Some("anthropic".into()),
            requested_model: Some("claude".into()),
            model: Some("claude-3".into()),
            status: 529,
            success: false,
            cached: true,
            cache_status: Some("hit".into()),
            step: 2,
            stream: true,
            input_tokens: Some(12),
            output_tokens: Some(-1),
            cached_input_tokens: Some(i64::MAX),
            reasoning_tokens: Some(i64::MIN),
            tokens_estimated: true,
            cost_usd: Some(0.25),
            custom_cost_usd: Some(1e-9),
            saved_cost_usd: Some(-0.0),
            duration_ms: 12.5,
            ttft_ms: Some(3.0),
            upstream_ms: Some(9.0),
            overhead_ms: Some(0.1),
            metadata: Some("{\"team\":\"ünï\"}".into()),
            user_agent: Some("curl/8".into()),
            error: Some("overloaded".into()),
            request_body: None,
            response_body: None,
            feedback: Some(-1),
            score: Some(0.75),
        }
    }

    #[test]
    fn rows_round_trip() {
        let mut b = RowsBuilder::default();
        let sparse = LogRecord {
            id: "x".into(),
            ..LogRecord::default()
        };
        b.push(-5, &full(), Some(1 << 40));
        b.push(7, &sparse, None);
        assert_eq!(b.count(), 2);
        let rows = read_rows(&b.take()).unwrap();
        assert_eq!(b.count(), 0);
        assert_eq!(
            rows,
            vec![
                Row {
                    seq: -5,
                    record: full(),
                    body_at: Some(1 << 40)
                },
                Row {
                    seq: 7,
                    record: sparse,
                    body_at: None
                }
            ]
        );
    }

    #[test]
    fn a_damaged_section_is_an_error() {
        let mut b = RowsBuilder::default();
        b.push(1, &full(), None);
        let good = b.take();
        assert!(read_rows(&good[..good.len() - 3]).is_err());
        assert!(read_rows(b"junk").is_err());
        let raw = lz4_flex::compress_prepend_size(&[FORMAT, 3, 0, 0, 0, 1]);
        assert!(read_rows(&raw).is_err(), "fewer rows than counted");
    }
}
