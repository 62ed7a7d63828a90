//! What a call goes to: a dynamic route walked to its model node, and what comes after a failure — the node's fallback edge or the alias's next fallback — with the retry policy for
//! each step.

use super::{ApiRequest, Gateway, PreparedCall};
use crate::control::limits::BudgetHold;
use crate::dynamic::{WalkInput, Walked};
use crate::retry::RetryPolicy;
use crate::{GatewayError, RequestContext};

impl Gateway {
    /// `dynamic/NAME` in the body: the walk to a model node. Free when no route is configured.
    pub(super) async fn walk_dynamic(
        &self,
        ctx: &RequestContext,
        request: &ApiRequest,
    ) -> Result<Option<Walked>, GatewayError> {
        if self.dynamic.is_empty() || memchr::memmem::find(&request.body, b"\"dynamic/").is_none() {
            return Ok(None);
        }
        let Some(model) = crate::dynamic::peek_model(&request.body) else {
            return Ok(None);
        };
        if !model.starts_with("dynamic/") {
            return Ok(None);
        }
        let route = self.dynamic.find(&model).ok_or_else(|| {
            GatewayError::model_not_found(format!(
                "model `{model}` not found: dynamic routes are {}",
                self.dynamic.names.join(", ")
            ))
        })?;
        let start = self.dynamic.routes[route].start;
        Ok(Some(
            self.dynamic
                .walk(&self.limiter, ctx, route, start, &walk_input(request))
                .await?,
        ))
    }

    /// Retries for a call: the request's over the config's; a dynamic model node's own win.
    pub(super) fn policy_for(&self, call: &PreparedCall, request: &ApiRequest) -> RetryPolicy {
        let mut policy = RetryPolicy::new(&self.retries, request.retry);
        if let Some((r, n)) = call.node {
            if let switchyard_config::routes::Node::Model {
                timeout,
                max_attempts,
                ..
            } = &self.dynamic.routes[r].nodes[n]
            {
                policy.max_attempts = max_attempts.unwrap_or(policy.max_attempts);
                policy.request_timeout = timeout.or(policy.request_timeout);
            }
        }
        policy
    }

    /// The next call after `call` failed: a dynamic node's fallback edge (budget gates passed on
    /// the way go to `holds`), else the alias's next fallback that can take the request. `None`
    /// when there is nothing left to try.
    pub(super) async fn next_call(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        request: &ApiRequest,
        (step, holds): (&mut u32, &mut Vec<BudgetHold>),
    ) -> Result<Option<PreparedCall>, GatewayError> {
        if let Some((r, n)) = call.node {
            let switchyard_config::routes::Node::Model {
                fallback: Some(f), ..
            } = &self.dynamic.routes[r].nodes[n]
            else {
                return Ok(None);
            };
            *step += 1;
            let walked = self
                .dynamic
                .walk(&self.limiter, ctx, r, *f, &walk_input(request))
                .await?;
            holds.extend(walked.holds);
            return self
                .prepare_node(request.api, &request.body, walked.route, walked.node)
                .map(Some);
        }
        loop {
            *step += 1;
            let Some(route) = self.router.fallback(&call.requested, *step as usize) else {
                return Ok(None);
            };
            match self.prepare_on(request.api, &request.body, Some(route)) {
                Ok(next) => return Ok(Some(next)),
                // this fallback cannot take the request (e.g. a feature it lacks)
                Err(e) => tracing::debug!(step = *step, "fallback skipped: {}", e.message),
            }
        }
    }
}

pub(super) fn walk_input(request: &ApiRequest) -> WalkInput<'_> {
    WalkInput {
        metadata: request.metadata.as_ref(),
        headers: &request.headers,
    }
}
