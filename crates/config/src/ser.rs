//! Serializers for the resolved config (`switchyard config check`): durations in the units the
//! file uses, and connection URLs with their password redacted.

use std::time::Duration;

use serde::Serializer;
use switchyard_providers::secret::REDACTED;

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

/// `scheme://user:[redacted]@host…`; a URL without credentials is printed as is.
pub(crate) fn redacted_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    match url
        .split_once("://")
        .and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?)))
    {
        Some((scheme, (userinfo, host))) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            s.collect_str(&format_args!("{scheme}://{user}:{REDACTED}@{host}"))
        }
        None => s.serialize_str(url),
    }
}

pub(crate) fn redacted_secret_url<S: Serializer>(
    url: &switchyard_providers::Secret,
    s: S,
) -> Result<S::Ok, S::Error> {
    redacted_url(url.expose(), s)
}
