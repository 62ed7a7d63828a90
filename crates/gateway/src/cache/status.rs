//! What the cache did for a request, and the headers that say so.

use http::header::{HeaderName, HeaderValue};

pub static CACHE_STATUS: HeaderName = HeaderName::from_static("cf-aig-cache-status");
/// What the cache did, finer than Cloudflare's two values: `hit`, `coalesced`, `miss`, `bypass`.
pub static CACHE_DETAIL: HeaderName = HeaderName::from_static("x-switchyard-cache");
/// The entry's key (hex), so an operator can purge exactly this entry.
pub static CACHE_KEY: HeaderName = HeaderName::from_static("x-switchyard-cache-key");

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    /// Answered by an identical request's upstream call (reported to the client as `HIT`).
    Coalesced,
    Miss,
    Bypass,
}

impl CacheStatus {
    /// The `cf-aig-cache-status` value: `HIT` or `MISS`, the only two Cloudflare documents (clients
    /// branch on them), so a skipped lookup is a `MISS`.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            CacheStatus::Hit | CacheStatus::Coalesced => "HIT",
            CacheStatus::Miss | CacheStatus::Bypass => "MISS",
        })
    }

    /// Writes `cf-aig-cache-status` and, with the finer reason, `x-switchyard-cache`.
    pub fn write_headers(self, headers: &mut http::HeaderMap) {
        headers.insert(CACHE_STATUS.clone(), self.header_value());
        headers.insert(
            CACHE_DETAIL.clone(),
            HeaderValue::from_static(self.as_str()),
        );
    }

    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Coalesced => "coalesced",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }

    /// Whether the answer cost nothing upstream.
    pub fn is_hit(self) -> bool {
        matches!(self, CacheStatus::Hit | CacheStatus::Coalesced)
    }
}
