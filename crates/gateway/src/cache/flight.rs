//! Coalescing: identical requests in flight at the same time make one upstream call.
//!
//! The first request for a key becomes the *leader* and registers a [`Flight`]; requests that
//! arrive while it is in the air become *followers* of it. The leader publishes what it learns —
//! the response head, each chunk of a stream, and the outcome — and followers read it: a streaming
//! follower receives the chunks as they arrive, the others wait for the outcome. Whatever happens to
//! the leader, followers get an outcome: its `Drop` publishes `Abandoned` when nothing else was,
//! and followers then try again (one of them becomes the new leader). Nothing can hang on a flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::Stream;
use switchyard_store::CacheKey;
use tokio::sync::watch;

use super::entry::Entry;
use crate::GatewayError;

/// The flights in the air, by key.
#[derive(Clone, Default)]
pub(crate) struct Flights {
    map: Arc<Mutex<HashMap<CacheKey, Arc<Flight>>>>,
}

pub(crate) enum Joined {
    Leader(Leader),
    Follower(Follower),
}

pub(crate) struct Flight {
    state: Mutex<State>,
    version: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    head: Option<Head>,
    chunks: Vec<Bytes>,
    outcome: Option<Outcome>,
    followers: usize,
}

/// What a streaming follower needs before its first byte.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub content_type: String,
    pub provider: String,
    pub model: String,
    /// OpenAI `stream_options.include_usage` of the leader's request.
    pub include_usage: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A complete, successful answer.
    Complete(Arc<Entry>),
    /// The upstream call failed: followers get the same error.
    Failed(GatewayError),
    /// The leader went away without an answer, or the answer was not kept: try again.
    Abandoned,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    /// Leads a new flight for `key`, or follows the one in the air.
    pub(crate) fn join(&self, key: CacheKey) -> Joined {
        let mut map = lock(&self.map);
        if let Some(flight) = map.get(&key) {
            let mut state = lock(&flight.state);
            state.followers += 1;
            let landed = matches!(state.outcome, Some(Outcome::Complete(_)));
            drop(state);
            return Joined::Follower(Follower {
                rx: flight.version.subscribe(),
                flight: flight.clone(),
                landed,
            });
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(State::default()),
            version: watch::channel(0).0,
        });
        map.insert(key, flight.clone());
        Joined::Leader(Leader {
            flights: Some(self.clone()),
            key,
            flight,
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

/// The request that makes the upstream call for a flight.
pub(crate) struct Leader {
    /// `None` once detached: new requests no longer join this flight.
    flights: Option<Flights>,
    key: CacheKey,
    flight: Arc<Flight>,
}

impl Leader {
    /// A leader nobody can follow (coalescing is off): it only records.
    pub(crate) fn solo(key: CacheKey) -> Leader {
        Leader {
            flights: None,
            key,
            flight: Arc::new(Flight {
                state: Mutex::new(State::default()),
                version: watch::channel(0).0,
            }),
        }
    }

    pub(crate) fn key(&self) -> &CacheKey {
        &self.key
    }

    fn publish(&self, f: impl FnOnce(&mut State)) {
        f(&mut lock(&self.flight.state));
        self.flight.version.send_modify(|v| *v += 1);
    }

    pub(crate) fn followers(&self) -> usize {
        lock(&self.flight.state).followers
    }

    /// A stream is starting: streaming followers can answer now.
    pub(crate) fn head(&self, head: Head) {
        self.publish(|s| s.head = Some(head));
    }

    pub(crate) fn push(&self, chunk: Bytes) {
        self.publish(|s| s.chunks.push(chunk));
    }

    /// Every chunk pushed so far, joined.
    pub(crate) fn recorded(&self) -> Bytes {
        let state = lock(&self.flight.state);
        match state.chunks.as_slice() {
            [one] => one.clone(),
            chunks => Bytes::from(chunks.concat()),
        }
    }

    /// Stops new requests from joining (they will lead their own call); followers already here
    /// keep reading.
    pub(crate) fn detach(&mut self) {
        if let Some(flights) = self.flights.take() {
            let mut map = lock(&flights.map);
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(&self.key);
            }
        }
    }

    /// Publishes the outcome. The flight stays joinable until the leader is dropped, so requests
    /// arriving while the entry is being written still share it.
    pub(crate) fn finish(&self, outcome: Outcome) {
        self.publish(|s| {
            if s.outcome.is_none() {
                s.outcome = Some(outcome);
            }
        });
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.detach();
        self.finish(Outcome::Abandoned);
    }
}

/// A request waiting on another's upstream call.
pub(crate) struct Follower {
    flight: Arc<Flight>,
    rx: watch::Receiver<u64>,
    /// The answer was complete when this request arrived (only its write was pending): for this
    /// request it is a plain cache hit, not a shared call.
    landed: bool,
}

impl Follower {
    pub(crate) fn landed(&self) -> bool {
        self.landed
    }

    /// Waits until `ready` says yes (it sees the state under the lock) or the flight ends.
    async fn wait_for<T>(&mut self, mut ready: impl FnMut(&State) -> Option<T>) -> Option<T> {
        loop {
            self.rx.borrow_and_update();
            if let Some(t) = ready(&lock(&self.flight.state)) {
                return Some(t);
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The stream head, or the outcome if the flight ended without one (a JSON answer or an error).
    pub(crate) async fn head_or_outcome(&mut self) -> Result<Head, Outcome> {
        let seen = self
            .wait_for(|s| match (&s.head, &s.outcome) {
                (Some(h), _) => Some(Ok(h.clone())),
                (None, Some(o)) => Some(Err(o.clone())),
                (None, None) => None,
            })
            .await;
        seen.unwrap_or(Err(Outcome::Abandoned))
    }

    pub(crate) async fn outcome(&mut self) -> Outcome {
        self.wait_for(|s| s.outcome.clone())
            .await
            .unwrap_or(Outcome::Abandoned)
    }

    /// The flight's chunks from the first, as they arrive; ends with the flight. `Err` carries the
    /// outcome when the flight ended without completing (the caller closes the stream properly).
    pub(crate) fn chunks(self) -> impl Stream<Item = Result<Bytes, Outcome>> + Send {
        futures_util::stream::unfold((self, 0usize, false), |(mut f, next, over)| async move {
            if over {
                return None;
            }
            let step = f
                .wait_for(|s| {
                    if s.chunks.len() > next {
                        let joined = match &s.chunks[next..] {
                            [one] => one.clone(),
                            many => Bytes::from(many.concat()),
                        };
                        return Some((Ok(joined), s.chunks.len(), false));
                    }
                    match &s.outcome {
                        Some(Outcome::Complete(_)) | Some(Outcome::Failed(_)) => {
                            Some((Ok(Bytes::new()), next, true))
                        }
                        Some(other) => Some((Err(other.clone()), next, true)),
                        None => None,
                    }
                })
                .await
                .unwrap_or((Err(Outcome::Abandoned), next, true));
            match step {
                (Ok(b), _, true) if b.is_empty() => None,
                (item, next, over) => Some((item, (f, next, over))),
            }
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let mut state = lock(&self.flight.state);
        state.followers = state.followers.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::cache::entry::EntryMeta;

    fn entry() -> Arc<Entry> {
        Arc::new(Entry {
            meta: EntryMeta {
                created_ms: 0,
                expires_ms: 1,
                provider: "p".into(),
                model: "m".into(),
                stream: false,
                content_type: "application/json".into(),
                usage: None,
            },
            body: Bytes::from_static(b"{}"),
        })
    }

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let flights = Flights::default();
        let Joined::Leader(leader) = flights.join([1; 32]) else {
            panic!("first is the leader")
        };
        let Joined::Follower(mut follower) = flights.join([1; 32]) else {
            panic!("second follows")
        };
        assert!(
            matches!(flights.join([2; 32]), Joined::Leader(_)),
            "other key"
        );
        assert_eq!(leader.followers(), 1);
        let waiting = tokio::spawn(async move { follower.outcome().await });
        leader.finish(Outcome::Complete(entry()));
        assert!(matches!(waiting.await.unwrap(), Outcome::Complete(e) if e.body == "{}"));
        drop(leader);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_leader_that_vanishes_releases_its_followers() {
        let flights = Flights::default();
        let Joined::Leader(leader) = flights.join([1; 32]) else {
            panic!()
        };
        let Joined::Follower(mut follower) = flights.join([1; 32]) else {
            panic!()
        };
        let waiting = tokio::spawn(async move { follower.head_or_outcome().await });
        drop(leader);
        assert!(matches!(waiting.await.unwrap(), Err(Outcome::Abandoned)));
        assert!(
            matches!(flights.join([1; 32]), Joined::Leader(_)),
            "next one leads"
        );
    }

    #[tokio::test]
    async fn streaming_followers_see_every_chunk_from_the_start() {
        let flights = Flights::default();
        let Joined::Leader(leader) = flights.join([1; 32]) else {
            panic!()
        };
        leader.head(Head {
            content_type: "text/event-stream".into(),
            provider: "p".into(),
            model: "m".into(),
            include_usage: false,
        });
        leader.push(Bytes::from_static(b"a"));
        let Joined::Follower(follower) = flights.join([1; 32]) else {
            panic!()
        };
        let reading = tokio::spawn(async move {
            let chunks: Vec<_> = follower.chunks().collect().await;
            chunks
                .into_iter()
                .map(|c| c.unwrap())
                .collect::<Vec<_>>()
                .concat()
        });
        tokio::task::yield_now().await;
        leader.push(Bytes::from_static(b"b"));
        leader.push(Bytes::from_static(b"c"));
        leader.finish(Outcome::Complete(entry()));
        assert_eq!(reading.await.unwrap(), b"abc");
        assert_eq!(leader.recorded(), "abc");
    }

    #[tokio::test]
    async fn detached_flights_take_no_new_followers() {
        let flights = Flights::default();
        let Joined::Leader(mut leader) = flights.join([1; 32]) else {
            panic!()
        };
        leader.detach();
        assert!(matches!(flights.join([1; 32]), Joined::Leader(_)));
    }
}
