//! [`LogFilter`] → a SQL `WHERE` clause with `$n` parameters (which both SQLite and PostgreSQL
//! accept), plus the values to bind.

use super::schema::Kind;
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

/// SQLite has no index on `created_at`: a time range also bounds the row key, which is.
pub(crate) fn build(f: &LogFilter, kind: Kind) -> Result<Where, String> {
    let mut w = Where::default();
    if let Some(v) = f.since {
        if kind == Kind::Sqlite {
            w.push("seq >= $?", Arg::Int(seq_at_ms(v - SEQ_SLACK_MS)));
        }
        w.push("created_at >= $?", Arg::Int(v));
    }
    if let Some(v) = f.until {
        if kind == Kind::Sqlite {
            w.push("seq < $?", Arg::Int(seq_at_ms(v + SEQ_SLACK_MS)));
        }
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
        match kind {
            Kind::Sqlite => {
                let seq = seq_of(v).ok_or_else(|| format!("`before`: `{v}` is not a log id"))?;
                w.push("seq < $?", Arg::Int(seq));
            }
            Kind::Postgres => w.push("id < $?", Arg::Text(v.clone())),
        }
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
