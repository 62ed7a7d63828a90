//! Prometheus metrics for requests, recorded as each record is finalized when its answer ends
//! (a lock, two map lookups by borrowed names, a few additions). Labels are bounded: provider, model, route template and status class;
//! past [`MAX_SERIES`] label sets, new models are counted under `model="other"`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::Finished;

const MAX_SERIES: usize = 500;
/// The longest label value kept (longer ones are cut at a character boundary).
const MAX_LABEL: usize = 128;
/// Seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Counts per bucket (each observation in the first bucket that holds it; cumulated when
/// exposed) and one past the last bucket for what exceeds them all.
#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// Cumulative counts per bucket, as Prometheus wants them.
    fn cumulative(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts[..BUCKETS.len()].iter().scan(0, |sum, c| {
            *sum += c;
            Some(*sum)
        })
    }
}

#[derive(Default)]
struct Series {
    requests: u64,
    errors: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    cache_hits: u64,
    total: Histogram,
    upstream: Histogram,
    overhead: Histogram,
    ttft: Histogram,
}

type Labels = (String, String, &'static str, &'static str);

/// A string-keyed map with a fast hasher (the keys are our own provider and model names).
type FastMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// The series by provider, then model (so a known series is found from borrowed names, without
/// building a key), then route template and status class (a handful: a short list).
#[derive(Default)]
struct Table {
    by_provider: FastMap<FastMap<Vec<Cell>>>,
    len: usize,
}

struct Cell {
    route: &'static str,
    class: &'static str,
    series: Series,
}

impl Table {
    /// Runs `f` on the series of these labels, made when new (under `model="other"` past
    /// [`MAX_SERIES`]).
    fn with(
        &mut self,
        labels: (&str, &str, &'static str, &'static str),
        f: impl FnOnce(&mut Series),
    ) {
        let (provider, model, route, class) = labels;
        let here = |c: &&mut Cell| c.route == route && c.class == class;
        if let Some(cell) = self
            .by_provider
            .get_mut(provider)
            .and_then(|models| models.get_mut(model))
            .and_then(|cells| cells.iter_mut().find(here))
        {
            f(&mut cell.series);
            return;
        }
        // past the cap a new series is `model="other"` of a provider already seen, else of
        // `provider="other"`: at most one more per provider, route and class
        let (provider, model) = if self.len >= MAX_SERIES {
            let seen = self.by_provider.contains_key(cut(provider));
            (if seen { cut(provider) } else { "other" }, "other")
        } else {
            (cut(provider), cut(model))
        };
        let cells = self
            .by_provider
            .entry(provider.to_owned())
            .or_default()
            .entry(model.to_owned())
            .or_default();
        match cells.iter_mut().find(here) {
            Some(cell) => f(&mut cell.series),
            None => {
                let mut series = Series::default();
                f(&mut series);
                cells.push(Cell {
                    route,
                    class,
                    series,
                });
                self.len += 1;
            }
        }
    }

    /// Every series with its labels, sorted by them.
    fn sorted(&self) -> Vec<(Labels, &Series)> {
        let mut all: Vec<(Labels, &Series)> = self
            .by_provider
            .iter()
            .flat_map(|(p, models)| {
                models.iter().flat_map(move |(m, cells)| {
                    cells
                        .iter()
                        .map(move |c| ((p.clone(), m.clone(), c.route, c.class), &c.series))
                })
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// `s` cut to [`MAX_LABEL`] bytes at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_LABEL {
        return s;
    }
    let mut end = MAX_LABEL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<Table>,
    /// The configured providers' names; once set, any other provider label is `unknown` (a
    /// universal step or a native path may name anything).
    known: std::sync::OnceLock<std::collections::HashSet<String>>,
    pub in_flight: AtomicI64,
    /// API requests answered 503 because `max_in_flight` were being handled.
    pub refused_in_flight: AtomicU64,
    /// Connections answered 503 and closed because `max_connections` were open.
    pub refused_connections: AtomicU64,
    pub spilled: AtomicU64,
    pub not_stored: AtomicU64,
    pub write_errors: AtomicU64,
    pub rows_written: AtomicU64,
    /// Rows the store refused one by one, kept in the `.rejected` file.
    pub set_aside: AtomicU64,
}

fn status_class(status: i64) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Labels providers outside `names` as `unknown` from now on (set once, at start-up).
    pub fn know_providers(&self, names: impl IntoIterator<Item = String>) {
        let _ = self.known.set(names.into_iter().collect());
    }

    pub fn record(&self, f: &Finished) {
        let r = &f.record;
        let provider = r.provider.as_deref().unwrap_or_default();
        let provider = match self.known.get() {
            Some(known) if !provider.is_empty() && !known.contains(provider) => "unknown",
            _ => provider,
        };
        let labels = (
            provider,
            r.model.as_deref().unwrap_or_default(),
            f.route,
            status_class(r.status),
        );
        let mut table = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        table.with(labels, |s| {
            s.requests += 1;
            if !r.success {
                s.errors += 1;
            }
            if r.cached {
                s.cache_hits += 1;
            }
            s.input_tokens += r.input_tokens.unwrap_or(0).max(0) as u64;
            s.output_tokens += r.output_tokens.unwrap_or(0).max(0) as u64;
            s.cost_usd += r.cost_usd.unwrap_or(0.0);
            s.total.observe(r.duration_ms / 1000.0);
            if let Some(u) = r.upstream_ms {
                s.upstream.observe(u / 1000.0);
            }
            if let Some(o) = r.overhead_ms {
                s.overhead.observe(o / 1000.0);
            }
            if let Some(t) = r.ttft_ms {
                s.ttft.observe(t / 1000.0);
            }
        });
    }

    /// Prometheus text exposition; `queue_depth` is read by the caller from the queue.
    pub fn write_prometheus(&self, queue_depth: usize, out: &mut String) {
        let table = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let series = table.sorted();
        let label = |(p, m, r, c): &Labels| {
            format!(
                "provider=\"{}\",model=\"{}\",route=\"{}\",status_class=\"{}\"",
                escape(p),
                escape(m),
                r,
                c
            )
        };
        type Pick = fn(&Series) -> f64;
        let counters: [(&str, &str, Pick); 6] = [
            ("requests_total", "Requests answered.", |s| {
                s.requests as f64
            }),
            ("errors_total", "Requests that did not succeed.", |s| {
                s.errors as f64
            }),
            (
                "cache_hits_total",
                "Requests answered from the cache.",
                |s| s.cache_hits as f64,
            ),
            ("input_tokens_total", "Input tokens.", |s| {
                s.input_tokens as f64
            }),
            ("output_tokens_total", "Output tokens.", |s| {
                s.output_tokens as f64
            }),
            ("cost_usd_total", "Cost in USD (priced rows only).", |s| {
                s.cost_usd
            }),
        ];
        for (name, help, pick) in counters {
            let _ = writeln!(
                out,
                "# HELP switchyard_{name} {help}\n# TYPE switchyard_{name} counter"
            );
            for (k, s) in &series {
                let _ = writeln!(out, "switchyard_{name}{{{}}} {}", label(k), pick(s));
            }
        }
        type Hist = fn(&Series) -> &Histogram;
        let histograms: [(&str, &str, Hist); 4] = [
            (
                "request_duration_seconds",
                "Time from arrival to the end of the answer.",
                |s| &s.total,
            ),
            (
                "upstream_latency_seconds",
                "Time from sending upstream to its response head.",
                |s| &s.upstream,
            ),
            (
                "gateway_overhead_seconds",
                "Time to the response head not spent upstream.",
                |s| &s.overhead,
            ),
            (
                "time_to_first_token_seconds",
                "Time from arrival to the first body byte.",
                |s| &s.ttft,
            ),
        ];
        for (name, help, pick) in histograms {
            let _ = writeln!(
                out,
                "# HELP switchyard_{name} {help}\n# TYPE switchyard_{name} histogram"
            );
            for (k, s) in &series {
                let h = pick(s);
                if h.count == 0 {
                    continue;
                }
                let l = label(k);
                for (b, n) in BUCKETS.iter().zip(h.cumulative()) {
                    let _ = writeln!(out, "switchyard_{name}_bucket{{{l},le=\"{b}\"}} {n}");
                }
                let _ = writeln!(
                    out,
                    "switchyard_{name}_bucket{{{l},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "switchyard_{name}_sum{{{l}}} {}", h.sum);
                let _ = writeln!(out, "switchyard_{name}_count{{{l}}} {}", h.count);
            }
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_refused_total Requests and connections refused for capacity.\n# TYPE switchyard_refused_total counter"
        );
        for (reason, n) in [
            ("in_flight", &self.refused_in_flight),
            ("connections", &self.refused_connections),
        ] {
            let _ = writeln!(
                out,
                "switchyard_refused_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "in_flight_requests",
                "Requests being handled now.",
                self.in_flight.load(Ordering::Relaxed) as f64,
                "gauge",
            ),
            (
                "log_queue_depth",
                "Log records waiting for the writer.",
                queue_depth as f64,
                "gauge",
            ),
            (
                "log_spilled_total",
                "Log records written to the spill file.",
                self.spilled.load(Ordering::Relaxed) as f64,
                "counter",
            ),
            (
                "log_rows_written_total",
                "Log records written to the store.",
                self.rows_written.load(Ordering::Relaxed) as f64,
                "counter",
            ),
            (
                "log_write_errors_total",
                "Failed batch writes (their rows spilled).",
                self.write_errors.load(Ordering::Relaxed) as f64,
                "counter",
            ),
            (
                "log_rows_set_aside_total",
                "Log records the store refused (kept in the .rejected file beside the spill file).",
                self.set_aside.load(Ordering::Relaxed) as f64,
                "counter",
            ),
            (
                "log_not_stored_total",
                "Rows not stored because retention is stop-inserting and the log is full.",
                self.not_stored.load(Ordering::Relaxed) as f64,
                "counter",
            ),
        ];
        for (name, help, v, kind) in gauges {
            let _ = writeln!(out, "# HELP switchyard_{name} {help}\n# TYPE switchyard_{name} {kind}\nswitchyard_{name} {v}");
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use switchyard_store::logs::LogRecord;

    use super::{Finished, Metrics, MAX_SERIES};

    fn finished(model: &str, seconds: f64, status: i64) -> Finished {
        Finished {
            record: LogRecord {
                provider: Some("openai".into()),
                model: Some(model.into()),
                status,
                success: status < 400,
                duration_ms: seconds * 1000.0,
                input_tokens: Some(3),
                ..LogRecord::default()
            },
            route: "/v1/chat/completions",
            ..Finished::default()
        }
    }

    fn exposed(m: &Metrics) -> String {
        let mut out = String::new();
        m.write_prometheus(0, &mut out);
        out
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_series_are_kept_apart() {
        let m = Metrics::default();
        for s in [0.0005, 0.003, 0.003, 0.2, 100.0] {
            m.record(&finished("gpt-4o", s, 200));
        }
        m.record(&finished("gpt-4o", 0.003, 503));
        let text = exposed(&m);
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let ok = "provider=\"openai\",model=\"gpt-4o\",route=\"/v1/chat/completions\",status_class=\"2xx\"";
        let bucket = |le: &str| {
            line(&format!(
                "switchyard_request_duration_seconds_bucket{{{ok},le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.001"), "1");
        assert_eq!(bucket("0.0025"), "1");
        assert_eq!(bucket("0.005"), "3");
        assert_eq!(bucket("0.25"), "4");
        assert_eq!(bucket("60"), "4", "100 s is past every bucket");
        assert_eq!(bucket("+Inf"), "5");
        assert_eq!(line(&format!("switchyard_requests_total{{{ok}}}")), "5");
        assert_eq!(
            line(&format!("switchyard_input_tokens_total{{{ok}}}")),
            "15"
        );
        let failed = ok.replace("2xx", "5xx");
        assert_eq!(line(&format!("switchyard_errors_total{{{failed}}}")), "1");
        assert_eq!(line(&format!("switchyard_errors_total{{{ok}}}")), "0");
    }

    fn of_provider(provider: &str, model: &str) -> Finished {
        let mut f = finished(model, 0.01, 200);
        f.record.provider = Some(provider.into());
        f
    }

    fn series_count(text: &str) -> usize {
        text.lines()
            .filter(|l| l.starts_with("switchyard_requests_total{"))
            .count()
    }

    #[test]
    fn every_label_is_bounded_in_count_and_length() {
        let m = Metrics::default();
        // client-chosen provider names (a universal step may name anything) past the cap
        for i in 0..3 * MAX_SERIES {
            m.record(&of_provider(&format!("p{i}"), "m"));
        }
        let text = exposed(&m);
        assert!(
            series_count(&text) <= MAX_SERIES + 1,
            "{}",
            series_count(&text)
        );
        assert!(!text.contains(&format!("provider=\"p{}\"", 2 * MAX_SERIES)));
        // a huge model name is cut
        let m = Metrics::default();
        m.record(&of_provider("openai", &"x".repeat(10_000)));
        let text = exposed(&m);
        assert!(
            text.lines().all(|l| l.len() < 1000),
            "a label of 10,000 bytes"
        );
    }

    #[test]
    fn providers_the_config_does_not_know_are_unknown() {
        let m = Metrics::default();
        m.know_providers(["openai".to_owned()]);
        m.record(&of_provider("openai", "gpt-4o"));
        m.record(&of_provider("made-up-by-a-client", "gpt-4o"));
        let text = exposed(&m);
        assert!(text.contains("provider=\"openai\""));
        assert!(text.contains("provider=\"unknown\""));
        assert!(!text.contains("made-up-by-a-client"));
    }

    #[test]
    fn past_the_series_cap_new_models_are_counted_as_other() {
        let m = Metrics::default();
        for i in 0..MAX_SERIES {
            m.record(&finished(&format!("m{i}"), 0.01, 200));
        }
        m.record(&finished("one-too-many", 0.01, 200));
        m.record(&finished("and-another", 0.01, 200));
        // a known series keeps counting under its own name
        m.record(&finished("m0", 0.01, 200));
        let text = exposed(&m);
        assert!(!text.contains("one-too-many"));
        assert!(text.contains(
            "switchyard_requests_total{provider=\"openai\",model=\"other\",route=\"/v1/chat/completions\",status_class=\"2xx\"} 2"
        ));
        assert!(text.contains(
            "switchyard_requests_total{provider=\"openai\",model=\"m0\",route=\"/v1/chat/completions\",status_class=\"2xx\"} 2"
        ));
    }
}
