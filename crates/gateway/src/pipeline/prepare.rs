//! The prepare step: the body parsed and validated, the route resolved, and the body rewritten
//! for a provider of the client's dialect (only `model` changes, spliced into the original bytes)
//! or translated for one of another dialect. The same for every API; what differs per API is
//! which request type parses it ([`Routable`]) and how it meets each dialect ([`fit`]).

use bytes::Bytes;
use switchyard_protocol::anthropic::client::MessagesRequest;
use switchyard_protocol::json::{ObjectView, Splicer};
use switchyard_protocol::openai::{
    ChatRequest, ClassifyRequest, CompletionRequest, EmbeddingsRequest, ImagesRequest,
    RerankRequest, ResponsesRequest, TranscriptionRequest,
};
use switchyard_protocol::Dialect;
use switchyard_providers::ResponsesApi;

use super::Gateway;
use crate::api::ClientApi;
use crate::call::PreparedCall;
use crate::router::Route;
use crate::translate::{self, Translation};
use crate::GatewayError;

/// A client request parsed just enough to route it and rewrite it.
trait Routable<'a> {
    /// The model as the client named it.
    fn model(&self) -> &str;
    fn stream(&self) -> bool;
    /// The original body with `model` replaced.
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a>;
    /// Its members, when an OpenAI-family provider may be asked for stream usage on the
    /// client's behalf (see [`crate::usage`]).
    fn usage_view(&self) -> Option<&ObjectView<'a>> {
        None
    }
}

impl<'a> Routable<'a> for ChatRequest<'a> {
    fn model(&self) -> &str {
        ChatRequest::model(self)
    }
    fn stream(&self) -> bool {
        ChatRequest::stream(self).is_on()
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        ChatRequest::rewrite(self, upstream_model)
    }
    fn usage_view(&self) -> Option<&ObjectView<'a>> {
        Some(self.view())
    }
}

impl<'a> Routable<'a> for CompletionRequest<'a> {
    fn model(&self) -> &str {
        CompletionRequest::model(self)
    }
    fn stream(&self) -> bool {
        CompletionRequest::stream(self)
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        CompletionRequest::rewrite(self, upstream_model)
    }
    fn usage_view(&self) -> Option<&ObjectView<'a>> {
        Some(self.view())
    }
}

impl<'a> Routable<'a> for MessagesRequest<'a> {
    fn model(&self) -> &str {
        MessagesRequest::model(self)
    }
    fn stream(&self) -> bool {
        MessagesRequest::stream(self)
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        MessagesRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for ResponsesRequest<'a> {
    fn model(&self) -> &str {
        ResponsesRequest::model(self)
    }
    fn stream(&self) -> bool {
        ResponsesRequest::stream(self)
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        ResponsesRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for TranscriptionRequest<'a> {
    fn model(&self) -> &str {
        TranscriptionRequest::model(self)
    }
    fn stream(&self) -> bool {
        TranscriptionRequest::stream(self)
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        TranscriptionRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for RerankRequest<'a> {
    fn model(&self) -> &str {
        RerankRequest::model(self)
    }
    fn stream(&self) -> bool {
        false
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        RerankRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for ImagesRequest<'a> {
    fn model(&self) -> &str {
        ImagesRequest::model(self)
    }
    fn stream(&self) -> bool {
        false
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        ImagesRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for ClassifyRequest<'a> {
    fn model(&self) -> &str {
        ClassifyRequest::model(self)
    }
    fn stream(&self) -> bool {
        false
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        ClassifyRequest::rewrite(self, upstream_model)
    }
}

impl<'a> Routable<'a> for EmbeddingsRequest<'a> {
    fn model(&self) -> &str {
        EmbeddingsRequest::model(self)
    }
    fn stream(&self) -> bool {
        false
    }
    fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        EmbeddingsRequest::rewrite(self, upstream_model)
    }
}

/// How a client API meets a provider dialect.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    /// The provider takes the client's body (model rewritten).
    Same,
    /// Through the canonical model.
    Translate,
    /// The provider has no such API.
    Unsupported,
}

fn fit(api: ClientApi, provider: Dialect, responses: ResponsesApi) -> Fit {
    let same = |yes: bool| if yes { Fit::Same } else { Fit::Translate };
    match api {
        ClientApi::ChatCompletions => same(provider == Dialect::OpenAi),
        ClientApi::Messages => same(provider == Dialect::Anthropic),
        // Anthropic forwards it; Gemini translates; other providers refuse it (a 400 when built)
        ClientApi::CountTokens => same(provider != Dialect::Gemini),
        ClientApi::Completions if provider == Dialect::OpenAi => Fit::Same,
        ClientApi::Completions => Fit::Unsupported,
        // OpenAI-compatible and Anthropic-kind providers take (or refuse) the OpenAI body as is
        ClientApi::Embeddings => same(matches!(provider, Dialect::OpenAi | Dialect::Anthropic)),
        // to OpenAI's own `/responses` (and Azure's), else through the canonical model to the
        // provider's chat API
        ClientApi::Responses => same(responses == ResponsesApi::Native),
        // OpenAI-family providers (and local speech models) take the upload as it came
        ClientApi::Transcriptions | ClientApi::Translations if provider == Dialect::OpenAi => {
            Fit::Same
        }
        // Workers AI's Whisper runs take the audio in JSON
        ClientApi::Transcriptions | ClientApi::Translations if provider == Dialect::WorkersAi => {
            Fit::Translate
        }
        ClientApi::Transcriptions | ClientApi::Translations => Fit::Unsupported,
        // Cohere's rerank body is Jina's, vLLM's and TEI's (and local cross-encoders')
        ClientApi::Rerank if matches!(provider, Dialect::OpenAi | Dialect::Cohere) => Fit::Same,
        // Workers AI's runs take their own bodies (bge-reranker's, text-to-image's)
        ClientApi::Rerank | ClientApi::Images if provider == Dialect::WorkersAi => Fit::Translate,
        ClientApi::Rerank => Fit::Unsupported,
        // local classifiers only (the local provider speaks OpenAI's dialect)
        ClientApi::Classify if provider == Dialect::OpenAi => Fit::Same,
        ClientApi::Classify => Fit::Unsupported,
        ClientApi::Images if provider == Dialect::OpenAi => Fit::Same,
        ClientApi::Images => Fit::Unsupported,
    }
}

impl Gateway {
    /// Parse + validate, route and rewrite: all the CPU work of the hot path before the upstream
    /// call (public so the criterion benchmark measures exactly this).
    pub fn prepare(&self, api: ClientApi, body: &Bytes) -> Result<PreparedCall, GatewayError> {
        self.prepare_on(api, body, None)
    }

    /// [`Gateway::prepare`] for a given route (a fallback, a dynamic node) instead of the body's
    /// model.
    pub(super) fn prepare_on(
        &self,
        api: ClientApi,
        body: &Bytes,
        given: Option<Route<'_>>,
    ) -> Result<PreparedCall, GatewayError> {
        match api {
            ClientApi::ChatCompletions => {
                self.prepare_as(api, ChatRequest::parse(body)?, body, given)
            }
            ClientApi::Messages => self.prepare_as(api, MessagesRequest::parse(body)?, body, given),
            ClientApi::CountTokens => {
                self.prepare_as(api, MessagesRequest::parse_count(body)?, body, given)
            }
            ClientApi::Completions => {
                self.prepare_as(api, CompletionRequest::parse(body)?, body, given)
            }
            ClientApi::Embeddings => {
                self.prepare_as(api, EmbeddingsRequest::parse(body)?, body, given)
            }
            ClientApi::Responses => {
                self.prepare_as(api, ResponsesRequest::parse(body)?, body, given)
            }
            ClientApi::Transcriptions | ClientApi::Translations => {
                self.prepare_as(api, TranscriptionRequest::parse(body)?, body, given)
            }
            ClientApi::Rerank => self.prepare_as(api, RerankRequest::parse(body)?, body, given),
            ClientApi::Classify => self.prepare_as(api, ClassifyRequest::parse(body)?, body, given),
            ClientApi::Images => self.prepare_as(api, ImagesRequest::parse(body)?, body, given),
        }
    }

    fn prepare_as<'a>(
        &self,
        api: ClientApi,
        req: impl Routable<'a>,
        body: &'a Bytes,
        given: Option<Route<'_>>,
    ) -> Result<PreparedCall, GatewayError> {
        let route = match given {
            Some(r) => r,
            None => self.router.resolve(req.model())?,
        };
        let stream = api != ClientApi::CountTokens && req.stream();
        let provider = route.provider;
        let dialect = provider.dialect_for(route.upstream_model);
        match fit(api, dialect, provider.spec().responses_api) {
            Fit::Same => {}
            Fit::Translate => {
                let (provider, model) = (route.provider, route.upstream_model);
                let upstream = match api {
                    ClientApi::CountTokens => {
                        translate::count_tokens_request(body, provider, model)?
                    }
                    ClientApi::Embeddings => translate::embeddings_request(body, provider, model)?,
                    ClientApi::Rerank
                    | ClientApi::Images
                    | ClientApi::Transcriptions
                    | ClientApi::Translations => {
                        translate::workers_ai_request(api, body, provider, model)?
                    }
                    _ => translate::request(api.dialect(), body, provider, model)?,
                };
                return Ok(translated(api, &route, stream, upstream));
            }
            Fit::Unsupported => {
                let path = match api {
                    ClientApi::Transcriptions => "/v1/audio/transcriptions",
                    ClientApi::Translations => "/v1/audio/translations",
                    ClientApi::Rerank => "/v1/rerank",
                    ClientApi::Classify => "text classification",
                    ClientApi::Images => "/v1/images/generations",
                    _ => "/v1/completions",
                };
                return Err(GatewayError::unsupported_api(route.provider.name(), path));
            }
        }
        let mut splicer = match api {
            // Azure's Responses API names the deployment in the body
            ClientApi::Responses => req.rewrite(provider.body_model(route.upstream_model)),
            _ => req.rewrite(route.upstream_model),
        };
        let strip_usage = stream
            && crate::usage::supported(route.provider.spec().kind)
            && req
                .usage_view()
                .is_some_and(|view| crate::usage::inject(view, &mut splicer));
        let mut call = PreparedCall::on(api, &route, stream);
        call.body = if splicer.is_noop() {
            body.clone()
        } else {
            Bytes::from(splicer.finish())
        };
        call.strip_usage = strip_usage;
        Ok(call)
    }

    /// A dynamic route's model node, prepared like any route.
    pub(super) fn prepare_node(
        &self,
        api: ClientApi,
        body: &Bytes,
        route: usize,
        node: usize,
    ) -> Result<PreparedCall, GatewayError> {
        let switchyard_config::routes::Node::Model { target, .. } =
            &self.dynamic.routes[route].nodes[node]
        else {
            return Err(GatewayError::internal(
                "a dynamic route walk ended off a model",
            ));
        };
        let provider = self
            .router
            .provider(&target.provider)
            .ok_or_else(|| GatewayError::internal(format!("no provider `{}`", target.provider)))?;
        let given = Route {
            provider,
            upstream_model: &target.model,
            alias: None,
            cache_ttl: None,
            requested: &self.dynamic.names[route],
            slot: None,
            semantic: None,
            inferred: false,
        };
        let mut call = self.prepare_on(api, body, Some(given))?;
        call.node = Some((route, node));
        Ok(call)
    }
}

/// A call whose body was translated for the provider (the dialects differ).
fn translated(
    api: ClientApi,
    route: &Route<'_>,
    stream: bool,
    (body, translation): (Bytes, Translation),
) -> PreparedCall {
    let mut call = PreparedCall::on(api, route, stream);
    call.body = body;
    call.translation = Some(translation);
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_meets_each_dialect_as_before() {
        use ClientApi::*;
        use Dialect::*;
        let all = [OpenAi, Anthropic, Gemini, Cohere, Bedrock, WorkersAi];
        let chat = ResponsesApi::Chat;
        for d in all {
            assert_eq!(fit(ChatCompletions, d, chat) == Fit::Same, d == OpenAi);
            assert_eq!(fit(Messages, d, chat) == Fit::Same, d == Anthropic);
            assert_eq!(fit(CountTokens, d, chat) == Fit::Translate, d == Gemini);
            assert_eq!(fit(Completions, d, chat) == Fit::Unsupported, d != OpenAi);
            assert_eq!(
                fit(Embeddings, d, chat) == Fit::Translate,
                matches!(d, Gemini | Cohere | Bedrock | WorkersAi)
            );
            assert_eq!(fit(ClientApi::Responses, d, chat), Fit::Translate);
        }
        // providers with their own Responses API take the client's body
        assert_eq!(
            fit(ClientApi::Responses, OpenAi, ResponsesApi::Native),
            Fit::Same
        );
    }
}
