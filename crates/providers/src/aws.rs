//! SigV4 signing of Bedrock requests, with the `aws-sigv4` crate (no hand-rolled crypto).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::AwsSpec;

/// Signs `request` (origin-form URI; `origin` is `https://host`) for the `bedrock` service.
pub(crate) fn sign_request(
    aws: &AwsSpec,
    origin: &str,
    body: &[u8],
    request: &mut Request<Full<Bytes>>,
) -> Result<(), String> {
    let identity = Credentials::new(
        aws.access_key_id.expose(),
        aws.secret_access_key.expose(),
        aws.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "switchyard-config",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&aws.region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let url = format!(
        "{}{}",
        origin.trim_end_matches('/'),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "host" | "content-type"))
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &url,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("SigV4 request: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("SigV4 signing: {e}"))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}
