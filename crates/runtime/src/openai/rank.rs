//! Reranking and classification bodies answered by a local cross-encoder.
//!
//! Rerank (Cohere v2 / Jina / TEI shape): `{model, query, documents: [text | {text}], top_n,
//! return_documents}` → `{id, model, results: [{index, relevance_score, document?}], meta,
//! usage}`, best first; `usage.documents` is what the request is metered by. Classification:
//! `{model, input: text | [texts]}` → `{id, model, data: [[{label, score}, …], …], usage}`.

use serde_json::{json, Value};

use crate::task::{Classify, Event, EventStream, Rerank, Task};
use crate::RuntimeError;

/// What the answer needs from the request.
pub(crate) struct RerankShape {
    /// How many documents were scored (what the request is metered by).
    count: usize,
    top_n: usize,
    /// The documents, kept only when `return_documents` asks for them back.
    documents: Option<Vec<String>>,
}

fn text_of(i: usize, d: &Value) -> Result<String, RuntimeError> {
    d.as_str()
        .or_else(|| d.get("text").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| {
            RuntimeError::invalid(
                "documents",
                format!("document {i} must be a string or an object with `text`"),
            )
        })
}

pub(crate) fn rerank(body: &[u8]) -> Result<(Task, RerankShape), RuntimeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RuntimeError::invalid("", format!("the body is not valid JSON: {e}")))?;
    let query = v["query"]
        .as_str()
        .filter(|q| !q.is_empty())
        .ok_or_else(|| RuntimeError::invalid("query", "`query` must be a non-empty string"))?;
    let documents = v["documents"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| RuntimeError::invalid("documents", "`documents` must be a non-empty array"))?
        .iter()
        .enumerate()
        .map(|(i, d)| text_of(i, d))
        .collect::<Result<Vec<_>, _>>()?;
    let top_n = match &v["top_n"] {
        Value::Null => documents.len(),
        n => match n.as_u64() {
            Some(n) if n >= 1 => (n as usize).min(documents.len()),
            _ => {
                return Err(RuntimeError::invalid(
                    "top_n",
                    "`top_n` must be a whole number of at least 1",
                ))
            }
        },
    };
    let shape = RerankShape {
        count: documents.len(),
        top_n,
        documents: (v["return_documents"].as_bool() == Some(true)).then(|| documents.clone()),
    };
    let task = Task::Rerank(Rerank {
        query: query.to_owned(),
        documents,
    });
    Ok((task, shape))
}

pub(crate) fn classify(body: &[u8]) -> Result<Task, RuntimeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RuntimeError::invalid("", format!("the body is not valid JSON: {e}")))?;
    let inputs = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RuntimeError::invalid("input", "`input` must hold strings"))?,
        _ => {
            return Err(RuntimeError::invalid(
                "input",
                "`input` must be a string or an array of strings",
            ))
        }
    };
    Ok(Task::Classify(Classify { inputs }))
}

/// The scores or classes and the token count, or the engine's failure.
async fn collect(mut events: EventStream) -> Result<(Event, u64), RuntimeError> {
    let mut out = None;
    while let Some(e) = events.recv().await {
        match e {
            Event::Scores(_) | Event::Classes(_) => out = Some(e),
            Event::Done { counts, .. } => {
                return out
                    .map(|e| (e, counts.input))
                    .ok_or_else(|| RuntimeError::engine("the model gave no answer"))
            }
            Event::Failed(e) => return Err(e),
            _ => {}
        }
    }
    Err(RuntimeError::engine(
        "the model stopped before finishing the answer",
    ))
}

pub(crate) async fn rerank_answer(
    id: &str,
    model: &str,
    shape: &RerankShape,
    events: EventStream,
) -> Result<Value, RuntimeError> {
    let (Event::Scores(scores), tokens) = collect(events).await? else {
        return Err(RuntimeError::engine("the model gave no scores"));
    };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let results: Vec<Value> = order
        .into_iter()
        .take(shape.top_n)
        .map(|i| {
            let mut r = json!({"index": i, "relevance_score": scores[i]});
            if let Some(text) = shape.documents.as_ref().and_then(|d| d.get(i)) {
                r["document"] = json!({"text": text});
            }
            r
        })
        .collect();
    let n = shape.count;
    Ok(json!({
        "id": id,
        "model": model,
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": n.div_ceil(100)}},
        "usage": {"documents": n, "total_tokens": tokens},
    }))
}

pub(crate) async fn classify_answer(
    id: &str,
    model: &str,
    events: EventStream,
) -> Result<Value, RuntimeError> {
    let (Event::Classes(classes), tokens) = collect(events).await? else {
        return Err(RuntimeError::engine("the model gave no classes"));
    };
    let data: Vec<Value> = classes
        .iter()
        .map(|c| {
            c.iter()
                .map(|(label, score)| json!({"label": label, "score": score}))
                .collect()
        })
        .collect();
    Ok(json!({
        "id": id,
        "model": model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}
