//! Local models behind the OpenAI wire format: the gateway hands over the request body it would
//! send a provider and gets back what such a server answers (status, JSON or SSE). Everything
//! above — translation to Anthropic, usage, logging, limits — then works unchanged.

mod image;
mod rank;
pub mod request;
mod response;

use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::task::TaskKind;
use crate::{Runtime, RuntimeError};

/// The OpenAI API being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalApi {
    ChatCompletions,
    Completions,
    Embeddings,
    /// Documents scored against a query (Cohere / Jina's rerank body).
    Rerank,
    /// Texts given their class probabilities (`{model, input}`).
    Classify,
    /// Images from a prompt (`/v1/images/generations`).
    Images,
}

impl LocalApi {
    fn task(self) -> TaskKind {
        match self {
            LocalApi::Embeddings => TaskKind::Embeddings,
            LocalApi::Rerank => TaskKind::Rerank,
            LocalApi::Classify => TaskKind::TextClassification,
            LocalApi::Images => TaskKind::TextToImage,
            LocalApi::ChatCompletions | LocalApi::Completions => TaskKind::TextGeneration,
        }
    }
}

/// An answer body.
pub enum LocalBody {
    Full(Bytes),
    /// SSE frames as they are generated.
    Stream(BoxStream<'static, Bytes>),
}

/// What an OpenAI-compatible server would have answered.
pub struct LocalReply {
    pub status: u16,
    pub body: LocalBody,
}

impl LocalReply {
    pub fn is_stream(&self) -> bool {
        matches!(self.body, LocalBody::Stream(_))
    }

    fn error(e: &RuntimeError) -> Self {
        LocalReply {
            status: e.status(),
            body: LocalBody::Full(Bytes::from(e.to_json().to_string())),
        }
    }
}

impl Runtime {
    /// Answers an OpenAI request body with local model `model`. Never fails: errors become the
    /// status and error body an OpenAI server would send.
    pub async fn call(&self, api: LocalApi, model: &str, body: &[u8]) -> LocalReply {
        match self.call_inner(api, model, body).await {
            Ok(r) => r,
            Err(e) => LocalReply::error(&e),
        }
    }

    async fn call_inner(
        &self,
        api: LocalApi,
        model: &str,
        body: &[u8],
    ) -> Result<LocalReply, RuntimeError> {
        let settings = self.settings(model)?;
        if settings.task != api.task() {
            return Err(RuntimeError::invalid(
                "model",
                format!("local model `{model}` is a {} model", settings.task.name()),
            ));
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        let (task, shape) = match api {
            LocalApi::ChatCompletions => request::chat(body)?,
            LocalApi::Completions => request::completion(body)?,
            LocalApi::Embeddings => request::embeddings(body)?,
            LocalApi::Rerank => {
                let (task, shape) = rank::rerank(body)?;
                let events = self.schedule(model, task).await?;
                return Ok(full(rank::rerank_answer(&id, model, &shape, events).await?));
            }
            LocalApi::Classify => {
                let events = self.schedule(model, rank::classify(body)?).await?;
                return Ok(full(rank::classify_answer(&id, model, events).await?));
            }
            LocalApi::Images => {
                let (task, shape) = image::request(body)?;
                let events = self.schedule(model, task).await?;
                return Ok(full(image::answer(&shape, events).await?));
            }
        };
        let stream = shape.stream;
        let events = self.schedule(model, task).await?;
        let head = response::Head {
            api,
            shape,
            model: model.to_owned(),
            id: match api {
                LocalApi::ChatCompletions => format!("chatcmpl-{id}"),
                LocalApi::Completions => format!("cmpl-{id}"),
                LocalApi::Embeddings | LocalApi::Rerank | LocalApi::Classify | LocalApi::Images => {
                    id
                }
            },
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        if stream {
            return Ok(LocalReply {
                status: 200,
                body: LocalBody::Stream(response::sse(head, events)),
            });
        }
        Ok(full(response::whole(
            &head,
            response::collect(events).await?,
        )))
    }
}

/// A whole JSON answer.
fn full(v: serde_json::Value) -> LocalReply {
    LocalReply {
        status: 200,
        body: LocalBody::Full(Bytes::from(v.to_string())),
    }
}
