//! The per-request context: identity, clocks, and what the request learns on its way.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

pub use crate::clock::next_id;

use crate::api::ClientApi;
use crate::observe::controls::CustomCost;
use crate::reply::ServedNote;
use crate::retry::Attempt;

/// Created by the edge as soon as a request arrives, shared by every step that handles it (a
/// clone shares its notes), and read once by the record step when the answer is done.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// UUIDv7 from `next_id`, so ids sort by arrival time; returned as `cf-aig-log-id`.
    pub id: Uuid,
    /// Unix ms of arrival: the id's own timestamp, so the two never disagree.
    pub received_ms: i64,
    pub received: Instant,
    notes: Arc<Mutex<Notes>>,
}

/// What a request learns on its way, each written by the step that learns it.
#[derive(Debug, Default)]
pub struct Notes {
    /// The gateway key it authenticated with (authentication).
    pub key_id: Option<String>,
    /// What the API handler read: the API, the body, the log controls.
    pub call: Option<CallNote>,
    /// Who answered and how (the reply).
    pub served: Option<ServedNote>,
    /// Upstream calls that failed before the answer (retries, fallbacks, a cascade's discarded
    /// local answer), each logged as its own row.
    pub attempts: Vec<Attempt>,
}

/// What an API handler knows about the call.
#[derive(Debug, Clone, Default)]
pub struct CallNote {
    pub api: Option<ClientApi>,
    pub request_body: Option<Bytes>,
    /// `cf-aig-metadata`, validated and re-serialised compactly.
    pub metadata: Option<String>,
    pub collect_payload: bool,
    pub custom_cost: Option<CustomCost>,
}

impl RequestContext {
    pub fn new() -> Self {
        let (id, received_ms) = next_id();
        RequestContext {
            id,
            received_ms,
            received: Instant::now(),
            notes: Arc::default(),
        }
    }

    fn notes(&self) -> MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The request authenticated with gateway key `id`.
    pub fn note_key(&self, id: String) {
        self.notes().key_id = Some(id);
    }

    /// What the API handler read.
    pub fn note_call(&self, call: CallNote) {
        self.notes().call = Some(call);
    }

    /// Who answered.
    pub fn note_served(&self, served: ServedNote) {
        self.notes().served = Some(served);
    }

    /// An upstream call that failed (or an answer that was discarded).
    pub fn push_attempt(&self, attempt: Attempt) {
        self.notes().attempts.push(attempt);
    }

    /// The failed attempts so far, taken.
    pub fn take_attempts(&self) -> Vec<Attempt> {
        std::mem::take(&mut self.notes().attempts)
    }

    /// Reads (or changes) who answered, if anyone has yet.
    pub fn with_served<R>(&self, f: impl FnOnce(Option<&mut ServedNote>) -> R) -> R {
        f(self.notes().served.as_mut())
    }

    /// Everything noted, taken (by the record step).
    pub fn take_notes(&self) -> Notes {
        std::mem::take(&mut *self.notes())
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::new()
    }
}
