//! The rows section's encoding: round trips, both formats, damage.

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
fn names_are_written_once_and_ids_as_bytes() {
    let mut b = RowsBuilder::default();
    let other = LogRecord {
        id: "01900000-0001-7ABC-8000-000000000000".into(),
        model: Some("claude-4".into()),
        user_agent: Some("POST".into()),
        ..full()
    };
    let odd_id = LogRecord {
        id: "not-a-uuid".into(),
        ..full()
    };
    let records = [full(), full(), other, full(), odd_id, full()];
    for (seq, r) in records.iter().enumerate() {
        b.push(seq as i64, r, None);
    }
    let section = b.take();
    let rows = read_rows(&section).unwrap();
    let back: Vec<LogRecord> = rows.into_iter().map(|r| r.record).collect();
    assert_eq!(
        back, records,
        "uppercase and odd ids and changing names come back as written"
    );
    let size = |n: usize| {
        let mut b = RowsBuilder::default();
        for seq in 0..n {
            b.push(seq as i64, &full(), None);
        }
        b.take().len()
    };
    let (one, two) = (size(1), size(2));
    // its ten names (~60 bytes) are not written again
    let first = one - HEAD;
    assert!(
        two - one + 50 <= first,
        "a repeated row took {} bytes, the first {first}",
        two - one
    );
    // the builder starts a fresh set of names for the next section
    b.push(1, &full(), None);
    assert_eq!(read_rows(&b.take()).unwrap()[0].record, full());
}

/// A section written by the format-1 encoder (LZ4, every string inline) of 2026-11-27:
/// stores from then are still read.
#[test]
fn format_1_sections_are_still_read() {
    const V1: &[&str] = &[
    "53020000a0010300000024303139300100c32d303030312d376162632d380f000502007180a0abfef9628a0600f91101",
    "026b3109616e7468726f70696304504f53540c2f76312f6d657373616765730d0016012a00a20106636c617564650108",
    "0800f3032d33a2080e0103686974040118010101feff01002301010900000b0011000100c1d03f0195d626e80b2e113e",
    "0111003000008005004300002940110014080900502240019a990100f31bb93f01107b227465616d223a22c3bc6ec3af",
    "227d01066375726c2f38010a6f7665726c6f616465640101430050e83f0901800100302001785c000f02000e1f0e3e01",
    "f86000e83f120103",
    ];
    let hex: String = V1.concat();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let rows = read_rows(&bytes).unwrap();
    let sparse = LogRecord {
        id: "x".into(),
        ..LogRecord::default()
    };
    let got: Vec<(i64, LogRecord, Option<u64>)> = rows
        .into_iter()
        .map(|r| (r.seq, r.record, r.body_at))
        .collect();
    assert_eq!(
        got,
        vec![
            (-5, full(), Some(1 << 40)),
            (7, sparse, None),
            (9, full(), Some(3))
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
    let raw = lz4_flex::compress_prepend_size(&[FORMAT_LZ4, 3, 0, 0, 0, 1]);
    assert!(read_rows(&raw).is_err(), "fewer rows than counted");
    let mut raw = RAW.to_vec();
    raw.extend_from_slice(&[FORMAT, 3, 0, 0, 0, 1]);
    assert!(read_rows(&raw).is_err(), "fewer rows than counted");
    // a name number that was never given
    let mut b = RowsBuilder::default();
    b.push(1, &full(), None);
    b.push(2, &full(), None);
    let mut bad = b.take();
    let name_ref = bad.len() - 40;
    bad[name_ref] = 0x7f;
    let _ = read_rows(&bad); // damaged somewhere: an error or other values, never a panic
}

#[test]
fn names_compare_exactly() {
    use super::same;
    assert!(same(b"", b""));
    assert!(same(b"openai", b"openai"));
    assert!(!same(b"openai", b"openaj"));
    assert!(!same(b"openai", b"opena"));
    let long = b"Mozilla/5.0 (X11; Linux x86_64) switchyard-test/1.0";
    assert!(same(long, long));
    let mut other = *long;
    other[3] ^= 1;
    assert!(!same(long, &other), "a difference in the first eight bytes");
    other = *long;
    other[long.len() - 1] ^= 1;
    assert!(!same(long, &other), "a difference in the remainder");
}

/// Sections read back from a damaged (or hostile) file: an error or rows, never a panic, a hang
/// or an allocation the section's size cannot justify; the block reader likewise.
#[test]
fn fuzz_rows_sections_and_body_blocks() {
    let mut b = RowsBuilder::default();
    for n in 0..3i64 {
        let mut r = full();
        r.step = n;
        b.push(1_700_000_000_000 + n, &r, Some(n.unsigned_abs() * 8));
    }
    let section = b.section_copy();
    let packed = lz4_flex::compress_prepend_size(&section);
    let mut blocks = crate::logs::blocks::BlockBuilder::default();
    blocks.push(Some(b"{\"a\":1}"), Some(b"{\"b\":2}"));
    let mut compressed = crate::logs::blocks::Compressed::default();
    crate::logs::blocks::compress_into(blocks.raw(), &mut compressed);
    let block = compressed.bytes().to_vec();
    switchyard_testkit::fuzz::run("log-sections", &[&section, &packed, &block], |input| {
        if let Ok(rows) = read_rows(input) {
            assert!(rows.len() <= input.len(), "more rows than bytes");
        }
        if let Ok(raw) = crate::logs::blocks::open(input) {
            for at in [0, 1, raw.len() / 2] {
                let _ = crate::logs::blocks::read(&raw, at);
            }
        }
    });
}
