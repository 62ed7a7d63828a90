//! Per-request identity and clocks.

use std::time::Instant;

use uuid::Uuid;

/// Created by the edge as soon as a request arrives.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// UUIDv7, so ids sort by arrival time; returned as `cf-aig-request-id`.
    pub id: Uuid,
    pub received: Instant,
}

impl RequestContext {
    pub fn new() -> Self {
        RequestContext {
            id: Uuid::now_v7(),
            received: Instant::now(),
        }
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::new()
    }
}
