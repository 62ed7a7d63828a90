//! [`Observation`] → [`LogRecord`]: usage read from the answer (or counted locally and marked
//! estimated), cost from the price table (0 on cache hits, which record what they saved).

use switchyard_store::logs::{LogRecord, PackedRows};

use super::pricing::PriceTable;
use super::{Bodies, Finished, Observation, Payload};
use crate::answer::usage_of;
use crate::answer::TokenUsage;
use crate::ClientApi;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The answer's bytes as far as they were kept: all of them, or the head and the tail joined at
/// an event boundary (enough for the usage, which streams put at their start and end).
fn answer_bytes<'a>(head: &'a [u8], obs: &Observation) -> std::borrow::Cow<'a, [u8]> {
    if obs.response_tail.is_empty() {
        return std::borrow::Cow::Borrowed(head);
    }
    let tail = obs.response_tail.concat();
    let from = tail
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(0, |p| p + 2);
    let mut joined = head.to_vec();
    joined.extend_from_slice(b"\n\n");
    joined.extend_from_slice(&tail[from..]);
    std::borrow::Cow::Owned(joined)
}

/// At most `cap` bytes of `bytes`, not splitting a UTF-8 character: the cut backs up over a
/// character's continuation bytes (at most three).
fn capped(bytes: &[u8], cap: usize) -> &[u8] {
    if bytes.len() <= cap {
        return bytes;
    }
    let mut cut = cap;
    while cut > 0 && cap - cut < 3 && bytes[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    &bytes[..cut]
}

impl Finished {
    /// Packs the record into `packed` with its bodies (kept apart) cut to `cap`.
    pub fn pack_into(&self, packed: &mut PackedRows, cap: usize) {
        let response = self.payload.response.as_deref().map(head_of);
        packed.push(
            &self.record,
            self.payload.request.as_deref().map(|b| capped(b, cap)),
            response.as_deref().map(|b| capped(b, cap)),
        );
    }
}

impl Payload {
    /// The bodies into the record's strings (a record kept apart that must go to the spill
    /// file); a record whose bodies are text already keeps them.
    pub fn into_text(self, record: &mut LogRecord, cap: usize) {
        if let Some(b) = self.request {
            record.request_body = Some(text_capped(&b, cap));
        }
        if let Some(r) = self.response {
            record.response_body = Some(text_capped(&head_of(&r), cap));
        }
    }
}

/// At most `cap` bytes as text ([`capped`]); bytes that are not UTF-8 become U+FFFD.
fn text_capped(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(capped(bytes, cap)).into_owned()
}

/// What the answer says of its usage: the figures (or none to be had), or that they must be
/// counted locally.
enum Reported {
    Usage(Option<TokenUsage>),
    Count(ClientApi),
}

/// The answer's kept head as one slice.
fn head_of(head: &[bytes::Bytes]) -> std::borrow::Cow<'_, [u8]> {
    match head {
        [one] => std::borrow::Cow::Borrowed(one),
        many => std::borrow::Cow::Owned(many.concat()),
    }
}

fn succeeded(obs: &Observation) -> bool {
    (200..300).contains(&obs.status) && !obs.aborted && obs.error.is_none()
}

fn reported(obs: &Observation) -> Reported {
    let served = obs.served.as_ref();
    if served.and_then(|s| s.cache).is_some_and(|c| c.is_hit()) {
        return Reported::Usage(served.and_then(|s| s.saved_usage));
    }
    let api = obs.call.as_ref().and_then(|c| c.api);
    let head = head_of(&obs.response_head);
    let answer = answer_bytes(&head, obs);
    let found = api
        .zip(served)
        .and_then(|(api, s)| usage_of(api, s.stream, &answer))
        .or_else(|| {
            served
                .and_then(|s| s.usage_slot.as_ref())
                .and_then(crate::usage::read)
        });
    match (found, api) {
        (Some(u), _) => Reported::Usage(Some(u)),
        (None, Some(api @ (ClientApi::ChatCompletions | ClientApi::Messages)))
            if succeeded(obs) =>
        {
            Reported::Count(api)
        }
        _ => Reported::Usage(None),
    }
}

/// Tokens counted locally (tiktoken), when the provider reported none.
fn counted(obs: &Observation, api: ClientApi) -> TokenUsage {
    let head = head_of(&obs.response_head);
    let answer = answer_bytes(&head, obs);
    let stream = obs.served.as_ref().is_some_and(|s| s.stream);
    TokenUsage {
        input: obs
            .call
            .as_ref()
            .and_then(|c| c.request_body.as_ref())
            .map_or(0, |b| super::tokens::input_tokens(b)),
        output: super::tokens::output_tokens(api, stream, &answer),
        ..TokenUsage::default()
    }
}

/// The record of `obs`, its tokens counted locally when the answer did not report them.
pub fn finalize(obs: Observation, prices: &PriceTable, bodies: (Bodies, usize)) -> Finished {
    match reported(&obs) {
        Reported::Usage(usage) => complete(obs, (usage, false), prices, bodies),
        Reported::Count(api) => {
            let usage = counted(&obs, api);
            complete(obs, (Some(usage), true), prices, bodies)
        }
    }
}

/// [`finalize`] when that is quick — everything but counting tokens locally (a tokenizer pass
/// over the whole answer, not for the response path); otherwise `obs` comes back.
pub fn finalize_quick(
    obs: Observation,
    prices: &PriceTable,
    bodies: (Bodies, usize),
) -> Result<Finished, Box<Observation>> {
    match reported(&obs) {
        Reported::Usage(usage) => Ok(complete(obs, (usage, false), prices, bodies)),
        Reported::Count(_) => Err(Box::new(obs)),
    }
}

fn complete(
    mut obs: Observation,
    (usage, estimated): (Option<TokenUsage>, bool),
    prices: &PriceTable,
    (bodies, payload_cap): (Bodies, usize),
) -> Finished {
    let success = succeeded(&obs);
    let mut call = obs.call.take().unwrap_or_default();
    let served_note = obs.served.take();
    let served = served_note.as_ref();
    let cached = served.and_then(|s| s.cache).is_some_and(|c| c.is_hit());
    let request = call.request_body.take().filter(|_| call.collect_payload);
    let response = (call.collect_payload && obs.response_head.iter().any(|c| !c.is_empty()))
        .then(|| std::mem::take(&mut obs.response_head));
    let (payload, request_body, response_body) = match bodies {
        Bodies::Apart => (Payload { request, response }, None, None),
        Bodies::Text => (
            Payload::default(),
            request.map(|b| text_capped(&b, payload_cap)),
            response.map(|r| text_capped(&head_of(&r), payload_cap)),
        ),
    };
    let priced = |u: &TokenUsage| {
        served.and_then(|s| prices.cost(&s.provider, s.provider_kind, &s.model, u))
    };
    let custom = call
        .custom_cost
        .and_then(|c| c.usd(usage.map(|u| (u.input, u.output))));
    // reported: the caller's cost when it gives one; charged: never below the real cost
    let (cost, charged, saved) = if cached {
        (Some(0.0), Some(0.0), usage.as_ref().and_then(priced))
    } else {
        let real = usage.as_ref().and_then(priced);
        let charged = match (custom, real) {
            (Some(c), Some(r)) => Some(c.max(r)),
            (c, r) => c.or(r),
        };
        (custom.or(real), charged, None)
    };
    if let Some(ticket) = served.and_then(|s| s.ticket.as_ref()) {
        ticket.settle(usage.map(|u| u.input + u.output), charged);
    }
    let upstream = served.filter(|_| !cached).map(|s| s.upstream_latency);
    let cache_status = served.and_then(|s| s.cache).map(|c| c.as_str().to_owned());
    let step = served.map_or(0, |s| i64::from(s.step));
    let stream = served.is_some_and(|s| s.stream);
    let metadata = with_routing(call.metadata, served);
    // the names move into the row (this runs for every request: no copies)
    let (provider, requested_model, model) = match served_note {
        Some(s) => (
            Some(s.provider),
            s.requested_model,
            Some(s.model).filter(|m| !m.is_empty()),
        ),
        None => (None, None, None),
    };
    let record = LogRecord {
        id: obs.id,
        created_at: obs.received_ms,
        finished_at: obs.received_ms + obs.total.as_millis() as i64,
        api_key_id: obs.api_key_id,
        dialect: match call.api {
            Some(api) => api.dialect().name().to_owned(),
            None => "native".to_owned(),
        },
        method: obs.method,
        path: obs.path,
        route: obs.route.to_owned(),
        provider,
        requested_model,
        model,
        status: i64::from(obs.status),
        success,
        cached,
        cache_status,
        step,
        stream,
        input_tokens: usage.map(|u| u.input as i64),
        output_tokens: usage.map(|u| u.output as i64),
        cached_input_tokens: usage.map(|u| u.cached_input as i64),
        reasoning_tokens: usage.map(|u| u.reasoning as i64),
        tokens_estimated: estimated,
        cost_usd: cost,
        custom_cost_usd: custom,
        saved_cost_usd: saved,
        duration_ms: ms(obs.total),
        ttft_ms: obs.first_byte.map(ms),
        upstream_ms: upstream.map(ms),
        overhead_ms: upstream
            .map(|u| ms(obs.head.saturating_sub(u)))
            .or(Some(ms(obs.head))),
        metadata,
        user_agent: obs.user_agent,
        error: obs.error.or_else(|| {
            obs.aborted
                .then(|| "the client closed the connection before the answer ended".to_owned())
        }),
        request_body,
        response_body,
        feedback: None,
        score: None,
    };
    Finished {
        record,
        route: obs.route,
        traceparent: obs.traceparent,
        payload,
    }
}

/// The row's metadata, plus `routed_model`, `routing_reason` and `hybrid_route` when a hybrid
/// route decided and
/// `cache_similarity` for a semantic-cache hit.
fn with_routing(metadata: Option<String>, served: Option<&super::ServedNote>) -> Option<String> {
    let routing = served.and_then(|s| s.routing.as_ref());
    let similarity = served.and_then(|s| s.similarity);
    if routing.is_none() && similarity.is_none() {
        return metadata;
    }
    let mut m: serde_json::Map<String, serde_json::Value> = metadata
        .and_then(|m| serde_json::from_str(&m).ok())
        .unwrap_or_default();
    if let Some(r) = routing {
        m.insert("routed_model".into(), r.model.clone().into());
        m.insert("routing_reason".into(), r.reason.clone().into());
        m.insert("hybrid_route".into(), r.route.clone().into());
    }
    if let Some(s) = similarity {
        // four decimals, as in `cf-aig-cache-similarity`
        m.insert(
            "cache_similarity".into(),
            ((s as f64 * 1e4).round() / 1e4).into(),
        );
    }
    serde_json::to_string(&m).ok()
}

#[cfg(test)]
mod tests {
    use super::{capped, text_capped};

    #[test]
    fn a_cap_never_splits_a_character() {
        assert_eq!(capped(b"hello", 3), b"hel");
        assert_eq!(capped(b"hi", 3), b"hi");
        assert_eq!(capped("aé".as_bytes(), 2), b"a", "é split by the cap");
        assert_eq!(capped("aé".as_bytes(), 3), "aé".as_bytes());
        assert_eq!(capped("a😀".as_bytes(), 4), b"a", "a four-byte character");
        assert_eq!(capped("a😀b".as_bytes(), 5), "a😀".as_bytes());
        // not UTF-8: cut where asked (read back as U+FFFD)
        assert_eq!(capped(&[0x80; 8], 6), &[0x80; 3]);
    }

    #[test]
    fn bodies_are_cut_at_a_character_and_never_invalid() {
        assert_eq!(text_capped(b"hello", 3), "hel");
        assert_eq!(text_capped("aé".as_bytes(), 2), "a", "é split by the cap");
        assert_eq!(text_capped(b"a\xffb", 10), "a\u{fffd}b");
    }
}
