//! [`LogFilter`] → a SQL `WHERE` clause with `$n` parameters and the values to bind
//! (PostgreSQL), or a [`Matcher`] that checks rows one by one (SQLite's row blocks).

use super::{seq_at_ms, seq_of, LogFilter};

/// How far a row's key (its id's ms) may sit from its `created_at` (ids made over 4096 a ms
/// borrow from the next ms): key ranges are widened by this, the exact test stays on
/// `created_at`.
pub(crate) const SEQ_SLACK_MS: i64 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Default)]
pub(crate) struct Where {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Where {
    fn push(&mut self, clause: &str, arg: Arg) {
        self.args.push(arg);
        let n = self.args.len();
        self.and(&clause.replace("$?", &format!("${n}")));
    }

    fn and(&mut self, clause: &str) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(clause);
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn build(f: &LogFilter) -> Result<Where, String> {
    let mut w = Where::default();
    if let Some(v) = f.since {
        w.push("created_at >= $?", Arg::Int(v));
    }
    if let Some(v) = f.until {
        w.push("created_at < $?", Arg::Int(v));
    }
    if let Some(v) = &f.provider {
        w.push("provider = $?", Arg::Text(v.clone()));
    }
    if let Some(v) = &f.model {
        w.push("(model = $? OR requested_model = $?)", Arg::Text(v.clone()));
    }
    if let Some(v) = f.status {
        w.push("status = $?", Arg::Int(v));
    }
    if let Some(v) = f.success {
        w.push("success = $?", Arg::Int(i64::from(v)));
    }
    if let Some(v) = f.cached {
        w.push("cached = $?", Arg::Int(i64::from(v)));
    }
    if let Some(v) = f.min_cost {
        w.push("cost_usd >= $?", Arg::Real(v));
    }
    if let Some(v) = &f.before {
        w.push("id < $?", Arg::Text(v.clone()));
    }
    if let Some(kv) = &f.metadata {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("metadata filter `{kv}`: expected key=value"))?;
        // metadata is stored as compact JSON written by the gateway: match `"k":"v"` or `"k":v`
        let key = serde_json::Value::from(k).to_string();
        let as_string = format!(
            "%{}%",
            like_escape(&format!("{key}:{}", serde_json::Value::from(v)))
        );
        let literal = like_escape(&format!("{key}:{v}"));
        let mut clauses = Vec::new();
        for pattern in [as_string, format!("%{literal},%"), format!("%{literal}}}")] {
            w.args.push(Arg::Text(pattern));
            clauses.push(format!("metadata LIKE ${} ESCAPE '\\'", w.args.len()));
        }
        w.and(&format!("({})", clauses.join(" OR ")));
    }
    Ok(w)
}

/// A filter checked row by row (SQLite's row blocks), with the row-key range its rows must lie in.
pub(crate) struct Matcher<'a> {
    f: &'a LogFilter,
    /// Row keys at or past `lo` and before `hi`.
    pub lo: i64,
    pub hi: i64,
    metadata: Option<(&'a str, &'a str)>,
}

impl<'a> Matcher<'a> {
    pub(crate) fn new(f: &'a LogFilter) -> Result<Self, String> {
        let mut lo = i64::MIN;
        let mut hi = i64::MAX;
        if let Some(v) = f.since {
            lo = seq_at_ms(v - SEQ_SLACK_MS);
        }
        if let Some(v) = f.until {
            hi = seq_at_ms(v.saturating_add(SEQ_SLACK_MS));
        }
        if let Some(v) = &f.before {
            let seq = seq_of(v).ok_or_else(|| format!("`before`: `{v}` is not a log id"))?;
            hi = hi.min(seq);
        }
        let metadata = match &f.metadata {
            Some(kv) => Some(
                kv.split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("metadata filter `{kv}`: expected key=value"))?,
            ),
            None => None,
        };
        Ok(Matcher {
            f,
            lo,
            hi,
            metadata,
        })
    }

    /// Whether only the time range selects (a block wholly inside it matches without decoding).
    pub(crate) fn time_only(&self) -> bool {
        let f = self.f;
        f.provider.is_none()
            && f.model.is_none()
            && f.status.is_none()
            && f.success.is_none()
            && f.cached.is_none()
            && f.min_cost.is_none()
            && f.before.is_none()
            && f.metadata.is_none()
    }

    /// Whether every `created_at` in `[first, last]` is inside the time range.
    pub(crate) fn covers(&self, first: i64, last: i64) -> bool {
        self.f.since.is_none_or(|v| first >= v) && self.f.until.is_none_or(|v| last < v)
    }

    pub(crate) fn matches(&self, seq: i64, r: &super::LogRecord) -> bool {
        let f = self.f;
        seq >= self.lo
            && seq < self.hi
            && f.since.is_none_or(|v| r.created_at >= v)
            && f.until.is_none_or(|v| r.created_at < v)
            && f.provider
                .as_ref()
                .is_none_or(|v| r.provider.as_ref() == Some(v))
            && f.model.as_ref().is_none_or(|v| {
                r.model.as_ref() == Some(v) || r.requested_model.as_ref() == Some(v)
            })
            && f.status.is_none_or(|v| r.status == v)
            && f.success.is_none_or(|v| r.success == v)
            && f.cached.is_none_or(|v| r.cached == v)
            && f.min_cost
                .is_none_or(|v| r.cost_usd.is_some_and(|c| c >= v))
            && self
                .metadata
                .is_none_or(|(k, v)| metadata_has(r.metadata.as_deref(), k, v))
    }
}

/// `key=value` on a row's metadata: a string equal to `value`, or another value whose JSON is
/// `value` (`n=7`, `flag=true`).
fn metadata_has(metadata: Option<&str>, key: &str, value: &str) -> bool {
    let Some(text) = metadata else { return false };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) else {
        return false;
    };
    match map.get(key) {
        Some(serde_json::Value::String(s)) => s == value,
        Some(other) => serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| v == *other),
        None => false,
    }
}
