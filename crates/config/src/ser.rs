//! Serializers for the resolved config (`switchyard config check`): durations in the units the
//! file uses, and connection URLs with their password redacted.

use std::time::Duration;

use serde::Serializer;

pub(crate) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

pub(crate) fn opt_seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs()),
        None => s.serialize_none(),
    }
}

pub(crate) fn opt_days<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs() / 86_400),
        None => s.serialize_none(),
    }
}

/// `scheme://user:[redacted]@host…` (see [`crate::redact_url`]); a URL without credentials is
/// printed as is.
pub(crate) fn redacted_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::redact_url(url))
}

pub(crate) fn redacted_secret_url<S: Serializer>(
    url: &switchyard_providers::Secret,
    s: S,
) -> Result<S::Ok, S::Error> {
    redacted_url(url.expose(), s)
}
