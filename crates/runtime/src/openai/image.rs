//! `POST /v1/images/generations` answered by a local Stable Diffusion model: `prompt`, `n`,
//! `size` (`WIDTHxHEIGHT`), `response_format` (`b64_json`, the default here as for
//! gpt-image-1; `url` gives a `data:` URL: nothing is hosted), and Workers AI's `seed`,
//! `negative_prompt`, `num_steps`, `guidance` as extensions → `{created, data: [{b64_json}],
//! usage}` (usage: the steps × 512² tiles the request is metered by).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::task::{Event, EventStream, Task, TextToImage};
use crate::RuntimeError;

/// What the answer needs from the request.
pub(crate) struct ImageShape {
    url: bool,
}

fn number<T: TryFrom<u64>>(v: &Value, key: &'static str) -> Result<Option<T>, RuntimeError> {
    match &v[key] {
        Value::Null => Ok(None),
        n => n
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                RuntimeError::invalid(key, format!("`{key}` must be a non-negative whole number"))
            }),
    }
}

pub(crate) fn request(body: &[u8]) -> Result<(Task, ImageShape), RuntimeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RuntimeError::invalid("", format!("the body is not valid JSON: {e}")))?;
    let prompt = v["prompt"]
        .as_str()
        .ok_or_else(|| RuntimeError::invalid("prompt", "`prompt` must be a string"))?;
    let (width, height) = match v["size"].as_str() {
        None | Some("auto") => (None, None),
        Some(size) => {
            let parsed = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
            let Some((w, h)) = parsed else {
                return Err(RuntimeError::invalid(
                    "size",
                    format!("`size` must be WIDTHxHEIGHT (e.g. 512x512), got `{size}`"),
                ));
            };
            (Some(w), Some(h))
        }
    };
    // Workers AI's names win over `size`
    let width = number(&v, "width")?.or(width);
    let height = number(&v, "height")?.or(height);
    let url = match v["response_format"].as_str() {
        None | Some("b64_json") => false,
        Some("url") => true,
        Some(other) => {
            return Err(RuntimeError::invalid(
                "response_format",
                format!("`response_format` must be b64_json or url, not `{other}`"),
            ))
        }
    };
    let guidance = match &v["guidance"] {
        Value::Null => None,
        g => Some(
            g.as_f64()
                .ok_or_else(|| RuntimeError::invalid("guidance", "`guidance` must be a number"))?
                as f32,
        ),
    };
    let task = Task::Imagine(TextToImage {
        prompt: prompt.to_owned(),
        negative_prompt: v["negative_prompt"].as_str().unwrap_or_default().to_owned(),
        width,
        height,
        steps: number(&v, "num_steps")?,
        guidance,
        seed: number(&v, "seed")?,
        n: number(&v, "n")?.unwrap_or(1),
    });
    Ok((task, ImageShape { url }))
}

pub(crate) async fn answer(
    shape: &ImageShape,
    mut events: EventStream,
) -> Result<Value, RuntimeError> {
    let mut data = Vec::new();
    while let Some(e) = events.recv().await {
        match e {
            Event::Image { png, seed } => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(png);
                data.push(if shape.url {
                    json!({"url": format!("data:image/png;base64,{b64}"), "seed": seed})
                } else {
                    json!({"b64_json": b64, "seed": seed})
                });
            }
            Event::Done { counts, .. } => {
                let created = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                return Ok(json!({
                    "created": created,
                    "data": data,
                    "output_format": "png",
                    "usage": {"input_tokens": counts.input, "output_tokens": 0,
                              "total_tokens": counts.input},
                }));
            }
            Event::Failed(e) => return Err(e),
            _ => {}
        }
    }
    Err(RuntimeError::engine(
        "the model stopped before finishing the images",
    ))
}
