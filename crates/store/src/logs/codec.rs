//! SQLite's row blocks: many log rows packed into one compact binary section, their bodies in a
//! second section ([`super::blocks`]) so that listing rows never decompresses a body.
//!
//! A rows section: a format byte, the row count (`u32`, little-endian), then each row's fields
//! in the order of [`LogRecord`] — integers as zigzag varints, floats as 8 little-endian bytes,
//! strings as a varint length and UTF-8 bytes, an optional value as a presence byte then the
//! value — followed by its row key and the offset of its bodies in the bodies section.
//!
//! Format 2 (written since 2026-11-28) is stored as it is, after a [`RAW`] marker: the id is its
//! 16 bytes when it is a canonical UUID, and the names that repeat from row to row (dialect,
//! method, path, route, provider, models, cache status, user agent, key id) are written once per
//! section and then referred to by number ([`Out::name`]). That is most of what LZ4 used to find,
//! at a fraction of its cost on the request log's hot path. Format 1 (the whole section LZ4
//! compressed, names and ids as text) is still read.

use std::collections::HashMap;

use super::LogRecord;

/// Format 1: LZ4 compressed, every string inline.
const FORMAT_LZ4: u8 = 1;
/// Format 2: not compressed, canonical ids as bytes, repeated names by reference.
const FORMAT: u8 = 2;
/// What a format-2 section starts with, where a format-1 section has its LZ4 size prefix (a
/// size no section can have).
const RAW: [u8; 4] = [0xff; 4];

/// The fields written by reference when they repeat (their slot in [`Names::last`]).
const NAME_FIELDS: usize = 10;

/// A row as a block holds it: its key, the record (bodies not filled in), where its bodies are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub seq: i64,
    pub record: LogRecord,
    pub body_at: Option<u64>,
}

struct Out<'a>(&'a mut Vec<u8>, &'a mut Names);

/// The names of a section so far: each one's number, and per field the last one written (a
/// field nearly always repeats the row before it: one comparison, no hashing).
#[derive(Default)]
struct Names {
    numbers: HashMap<String, u64>,
    last: [(String, u64); NAME_FIELDS],
}

impl Names {
    fn clear(&mut self) {
        self.numbers.clear();
        for (name, n) in &mut self.last {
            name.clear();
            *n = 0;
        }
    }
}

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

    /// A name of field `slot`: `0`, its length and bytes the first time in this section (it
    /// gets the next number), its number + 1 after that. The usual case, the same name as the
    /// row before, is inlined into the row's encoder.
    #[inline(always)]
    fn name(&mut self, slot: usize, v: &str) {
        let (last, number) = &self.1.last[slot];
        if *number > 0 && same(last.as_bytes(), v.as_bytes()) {
            let n = *number;
            self.uvar(n);
            return;
        }
        self.changed_name(slot, v);
    }

    #[cold]
    #[inline(never)]
    fn changed_name(&mut self, slot: usize, v: &str) {
        let next = self.1.numbers.len() as u64 + 1;
        // a known name is looked up by reference: a key is made only for a new one
        let n = match self.1.numbers.get(v) {
            Some(&n) => n,
            None => {
                self.1.numbers.insert(v.to_owned(), next);
                next
            }
        };
        let (last, number) = &mut self.1.last[slot];
        last.clear();
        last.push_str(v);
        *number = n;
        if n == next {
            self.0.push(0);
            self.text(v);
        } else {
            self.uvar(n);
        }
    }

    fn opt_name(&mut self, slot: usize, v: Option<&str>) {
        self.opt(v, |o, v| o.name(slot, v));
    }

    /// A canonical UUID (lowercase, hyphenated; `value` is [`uuid_value`] of `id`) as `1` and
    /// its 16 bytes, anything else as `0` and text.
    fn id(&mut self, id: &str, value: Option<u128>) {
        match value {
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(&v.to_be_bytes());
            }
            None => {
                self.0.push(0);
                self.text(id);
            }
        }
    }
}

/// `a == b` for a row's short names, compared in registers eight bytes at a time (ten of
/// these per row: a call into `memcmp` each cost more than the comparing).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut diff = 0u64;
    for (p, q) in (&mut x).zip(&mut y) {
        let (mut u, mut v) = ([0u8; 8], [0u8; 8]);
        u.copy_from_slice(p);
        v.copy_from_slice(q);
        diff |= u64::from_le_bytes(u) ^ u64::from_le_bytes(v);
    }
    for (p, q) in x.remainder().iter().zip(y.remainder()) {
        diff |= u64::from(p ^ q);
    }
    diff == 0
}

/// Hex digit values, `0xff` for anything else (lowercase only: an id read back must be the
/// text it was).
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// The 128 bits of `id` if it is a lowercase hyphenated UUID (so it can be written back as it
/// was), read in registers (byte stores into an array read back whole stall the CPU).
pub(crate) fn uuid_value(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    let mut bad = 0u8;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let n = NIBBLE[usize::from(c)];
        bad |= n;
        v = v << 4 | u128::from(n & 15);
    }
    (bad & 0xf0 == 0).then_some(v)
}

fn uuid_text(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

struct In<'a> {
    data: &'a [u8],
    pos: usize,
    /// Format 2: the names read so far, by number − 1 (`None` for format 1).
    names: Option<Vec<String>>,
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

    /// See [`Out::name`]; plain text in format 1.
    fn name(&mut self) -> Result<String, String> {
        if self.names.is_none() {
            return self.text();
        }
        match self.uvar()? {
            0 => {
                let name = self.text()?;
                if let Some(names) = &mut self.names {
                    names.push(name.clone());
                }
                Ok(name)
            }
            n => self
                .names
                .as_ref()
                .and_then(|names| names.get(usize::try_from(n - 1).ok()?))
                .cloned()
                .ok_or_else(|| DAMAGED.into()),
        }
    }

    /// See [`Out::id`]; plain text in format 1.
    fn id(&mut self) -> Result<String, String> {
        if self.names.is_none() {
            return self.text();
        }
        match self.byte()? {
            0 => self.text(),
            1 => {
                let bytes = self.data.get(self.pos..self.pos + 16).ok_or(DAMAGED)?;
                self.pos += 16;
                Ok(uuid_text(bytes))
            }
            _ => Err(DAMAGED.into()),
        }
    }
}

fn put_row(o: &mut Out<'_>, (seq, id): (i64, Option<u128>), r: &LogRecord, body_at: Option<u64>) {
    o.id(&r.id, id);
    o.int(r.created_at);
    o.int(r.finished_at);
    o.opt_name(0, r.api_key_id.as_deref());
    o.name(1, &r.dialect);
    o.name(2, &r.method);
    o.name(3, &r.path);
    o.name(4, &r.route);
    o.opt_name(5, r.provider.as_deref());
    o.opt_name(6, r.requested_model.as_deref());
    o.opt_name(7, r.model.as_deref());
    o.int(r.status);
    let flags = u8::from(r.success)
        | u8::from(r.cached) << 1
        | u8::from(r.stream) << 2
        | u8::from(r.tokens_estimated) << 3;
    o.0.push(flags);
    o.opt_name(8, r.cache_status.as_deref());
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
    o.opt(r.metadata.as_deref(), Out::text);
    // the user agent repeats like the names
    o.opt_name(9, r.user_agent.as_deref());
    o.opt(r.error.as_deref(), Out::text);
    o.opt(r.feedback, Out::int);
    o.opt(r.score, Out::real);
    o.int(seq);
    o.opt(body_at, Out::uvar);
}

fn get_row(i: &mut In<'_>) -> Result<Row, String> {
    let id = i.id()?;
    let created_at = i.int()?;
    let finished_at = i.int()?;
    let api_key_id = i.opt(In::name)?;
    let dialect = i.name()?;
    let method = i.name()?;
    let path = i.name()?;
    let route = i.name()?;
    let provider = i.opt(In::name)?;
    let requested_model = i.opt(In::name)?;
    let model = i.opt(In::name)?;
    let status = i.int()?;
    let flags = i.byte()?;
    let cache_status = i.opt(In::name)?;
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
    let user_agent = i.opt(In::name)?;
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

/// The marker, the format byte and the row count.
const HEAD: usize = 9;

/// Packs rows (their bodies are not written here) into a rows section.
#[derive(Default)]
pub(crate) struct RowsBuilder {
    raw: Vec<u8>,
    count: u32,
    names: Names,
}

impl RowsBuilder {
    fn start(&mut self) {
        self.raw.extend_from_slice(&RAW);
        self.raw.extend_from_slice(&[FORMAT, 0, 0, 0, 0]);
    }

    pub(crate) fn push(&mut self, seq: i64, record: &LogRecord, body_at: Option<u64>) {
        self.push_keyed((seq, uuid_value(&record.id)), record, body_at);
    }

    /// [`Self::push`] with the id's [`uuid_value`] known.
    pub(crate) fn push_keyed(
        &mut self,
        key: (i64, Option<u128>),
        record: &LogRecord,
        body_at: Option<u64>,
    ) {
        if self.raw.is_empty() {
            self.raw.reserve(64 * 1024);
            self.start();
        }
        put_row(
            &mut Out(&mut self.raw, &mut self.names),
            key,
            record,
            body_at,
        );
        self.count += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        u64::from(self.count)
    }

    pub(crate) fn clear(&mut self) {
        self.raw.clear();
        self.count = 0;
        self.names.clear();
    }

    /// The section as it stands (the count brought up to date).
    pub(crate) fn section(&mut self) -> &[u8] {
        if self.raw.is_empty() {
            self.start();
        }
        self.raw[5..HEAD].copy_from_slice(&self.count.to_le_bytes());
        &self.raw
    }

    /// [`Self::section`], copied.
    pub(crate) fn section_copy(&self) -> Vec<u8> {
        let mut copy = RowsBuilder {
            raw: self.raw.clone(),
            count: self.count,
            names: Names::default(),
        };
        copy.section().to_vec()
    }

    /// The section, moved out; the builder is empty again and goes on in `next` (cleared).
    pub(crate) fn swap_section(&mut self, mut next: Vec<u8>) -> Vec<u8> {
        self.section();
        next.clear();
        let raw = std::mem::replace(&mut self.raw, next);
        self.clear();
        raw
    }

    /// The section; the builder is empty again.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.swap_section(Vec::new())
    }
}

/// Every row of a rows section (either format).
pub(crate) fn read_rows(section: &[u8]) -> Result<Vec<Row>, String> {
    let inflated;
    let mut input = match section.strip_prefix(&RAW) {
        Some(raw) => In {
            data: raw,
            pos: 0,
            names: Some(Vec::new()),
        },
        None => {
            inflated = crate::lz4::inflate(section).map_err(|e| format!("{DAMAGED}: {e}"))?;
            In {
                data: &inflated,
                pos: 0,
                names: None,
            }
        }
    };
    let format = input.byte()?;
    if format
        != if input.names.is_some() {
            FORMAT
        } else {
            FORMAT_LZ4
        }
    {
        return Err(format!("{DAMAGED}: unknown format"));
    }
    let count = input
        .data
        .get(1..5)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(DAMAGED)?;
    input.pos = 5;
    let mut rows = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        rows.push(get_row(&mut input)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;
