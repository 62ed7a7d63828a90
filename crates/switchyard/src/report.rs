//! `switchyard logs` and `switchyard usage`: the request log read straight from the configured
//! store, printed as tables (or JSON lines).

use std::time::Duration;

use anyhow::Context as _;
use switchyard_config::Config;
use switchyard_gateway::observe::analytics::{analyze_metered, utc_bucket, GroupBy};
use switchyard_store::logs::{LogFilter, LogRecord, LogStore};

/// What `switchyard logs` selects.
pub struct LogsArgs {
    pub follow: bool,
    pub filter: LogFilter,
    pub errors: bool,
    pub limit: u32,
    pub json: bool,
}

/// `30s`, `15m`, `2h`, `7d` (a bare number is hours) → a duration.
pub fn parse_since(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let spelled = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{s}h")
    } else {
        s.to_owned()
    };
    switchyard_gateway::control::keys::parse_span(&spelled)
        .with_context(|| format!("`{s}`: expected e.g. 30s, 15m, 2h, 7d"))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn open(config: &Config) -> anyhow::Result<LogStore> {
    LogStore::open(&config.logs.url).await.with_context(|| {
        format!(
            "opening the request log at {}",
            switchyard_config::redact_url(&config.logs.url)
        )
    })
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `2026-11-27T21:05:09Z`.
pub fn utc_time(ms: i64) -> String {
    let secs = ms.rem_euclid(3_600_000) / 1000;
    format!(
        "{}:{:02}:{:02}Z",
        utc_bucket(ms, true),
        secs / 60,
        secs % 60
    )
}

fn line(r: &LogRecord) -> String {
    format!(
        "{}  {:<4} {:<5} {:<14} {:<24} {:>6} {:>6} {:>11} {:>9} {:<6} {}",
        utc_time(r.created_at),
        r.status,
        if r.stream { "sse" } else { "json" },
        opt(r.provider.as_deref()),
        opt(r.model.as_deref()),
        opt(r.input_tokens),
        opt(r.output_tokens),
        r.cost_usd
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.6}")),
        format!("{:.1}ms", r.duration_ms),
        opt(r.cache_status.as_deref()),
        r.error.as_deref().unwrap_or(&r.path),
    )
}

const HEADER: &str = "time                  code mode  provider       model                       in_tok out_tok    cost_usd  duration cache  path / error";

pub async fn logs(config: &Config, mut args: LogsArgs) -> anyhow::Result<()> {
    let store = open(config).await?;
    if args.errors {
        args.filter.success = Some(false);
    }
    let mut rows = store
        .list(&args.filter, args.limit.clamp(1, 10_000))
        .await?;
    rows.reverse();
    if !args.json {
        println!("{HEADER}");
    }
    let mut last = rows.last().map(|r| r.id.clone());
    print(&rows, args.json)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut newer: Vec<LogRecord> = store
            .list(&args.filter, 1000)
            .await?
            .into_iter()
            .take_while(|r| last.as_ref().is_none_or(|l| r.id > *l))
            .collect();
        newer.reverse();
        if let Some(r) = newer.last() {
            last = Some(r.id.clone());
        }
        print(&newer, args.json)?;
    }
}

fn print(rows: &[LogRecord], json: bool) -> anyhow::Result<()> {
    for r in rows {
        if json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            println!("{}", line(r));
        }
    }
    Ok(())
}

pub async fn usage(config: &Config, by: &str, since: &str, json: bool) -> anyhow::Result<()> {
    let by: GroupBy = by.parse().map_err(anyhow::Error::msg)?;
    let since = parse_since(since)?;
    let store = open(config).await?;
    let filter = LogFilter {
        since: Some(now_ms() - since.as_millis() as i64),
        ..LogFilter::default()
    };
    let meter = switchyard_gateway::local::Meter::new(config);
    let groups = analyze_metered(&store.scan(&filter).await?, &by, &meter);
    if json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>8} {:>7} {:>6} {:>12} {:>12} {:>12} {:>10} {:>9} {:>9}",
        "group",
        "requests",
        "errors",
        "hit%",
        "in_tokens",
        "out_tokens",
        "cost_usd",
        "saved_usd",
        "p50_ms",
        "p95_ms"
    );
    for g in &groups {
        println!(
            "{:<28} {:>8} {:>7} {:>5.1}% {:>12} {:>12} {:>12.6} {:>10.6} {:>9.1} {:>9.1}{}",
            if g.key.is_empty() { "(none)" } else { &g.key },
            g.requests,
            g.errors,
            g.cache_hit_ratio * 100.0,
            g.input_tokens,
            g.output_tokens,
            g.cost_usd,
            g.saved_cost_usd,
            g.p50_ms,
            g.p95_ms,
            if g.unpriced > 0 {
                format!("  ({} unpriced)", g.unpriced)
            } else {
                String::new()
            }
        );
    }
    if groups.is_empty() {
        println!("(no requests in the last {})", humantime(since));
    }
    savings(&groups);
    Ok(())
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Local models and the frontier tier: the share served locally and what it saved.
fn savings(groups: &[switchyard_gateway::observe::analytics::Group]) {
    if groups
        .iter()
        .all(|g| g.local_requests == 0 && g.units == 0.0)
    {
        return;
    }
    println!();
    println!(
        "{:<28} {:>8} {:>12} {:>14} {:>18} {:>12}",
        "group", "local%", "units", "frontier_usd", "all_frontier_usd", "saved_usd"
    );
    for g in groups {
        let all = g.all_frontier_cost_usd;
        println!(
            "{:<28} {:>7.1}% {:>12.2} {:>14.6} {:>18} {:>12}",
            if g.key.is_empty() { "(none)" } else { &g.key },
            g.local_share * 100.0,
            g.units,
            g.frontier_cost_usd,
            all.map_or("-".to_owned(), |a| format!("{a:.6}")),
            all.map_or("-".to_owned(), |a| format!("{:.6}", a - g.cost_usd)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_units() {
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_since("7w").is_err());
        assert!(parse_since("soon").is_err());
    }
}
