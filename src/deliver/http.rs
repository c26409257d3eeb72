//! The HTTP client shared by the DMS targets, and the one place that decides which
//! failures are worth a retry.
//!
//! TLS certificates are always verified (against the system's trust store, plus an
//! optional CA file for an in-house CA); there is no switch to turn that off.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;

use super::credentials::Credentials;
use super::DeliveryError;

/// A blocking client with the given request timeout.
pub fn client(timeout: Duration, ca_file: Option<&Path>) -> Result<Client> {
    // rustls needs one process-wide crypto provider; a second install is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(format!("mailroom/{}", crate::VERSION));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read CA file {}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().context("cannot build the HTTP client")
}

/// Adds the credentials to a request.
pub fn authorize(req: RequestBuilder, creds: Option<&Credentials>) -> RequestBuilder {
    match creds {
        Some(Credentials::Basic { user, password }) => req.basic_auth(user, Some(password)),
        Some(Credentials::Token(token)) => {
            req.header(reqwest::header::AUTHORIZATION, format!("Token {token}"))
        }
        None => req,
    }
}

/// Sends a request: a transport failure becomes `Transient` (the request may or may not
/// have reached the server), a non-success status becomes what [`status_error`] says.
pub fn send(req: RequestBuilder, what: &str) -> Result<Response, DeliveryError> {
    let resp = req.send().map_err(|e| transport_error(what, &e))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(status_error(what, resp))
    }
}

/// A failure below HTTP: connection refused or reset, timeout, TLS.
pub fn transport_error(what: &str, e: &reqwest::Error) -> DeliveryError {
    // The URL is left out: it is in the target's description, and may carry a query.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut reason = format!("{what}: {kind}");
    let mut source = std::error::Error::source(e);
    if let Some(s) = source.take() {
        reason.push_str(&format!(" ({s})"));
    }
    DeliveryError::transient(reason)
}

/// What a non-success answer means: 5xx, 408 and 429 are transient (with Retry-After if
/// given), 401/403 stop the delivery (credentials), other 4xx reject the document with
/// the server's message.
pub fn status_error(what: &str, resp: Response) -> DeliveryError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.text().unwrap_or_default();
    let reason = format!("{what}: HTTP {status}{}", server_message(&body));
    classify(status, reason, retry_after)
}

fn classify(status: StatusCode, reason: String, retry_after: Option<Duration>) -> DeliveryError {
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        DeliveryError::Transient {
            reason,
            retry_after,
        }
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        DeliveryError::fatal(format!("{reason} (check the DMS credentials)"))
    } else {
        DeliveryError::rejected(reason)
    }
}

/// The server's message, shortened to one line for the report.
fn server_message(body: &str) -> String {
    let one_line: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    if one_line.is_empty() {
        String::new()
    } else {
        format!(": {one_line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_are_retried() {
        let c = |s: u16| classify(StatusCode::from_u16(s).unwrap(), "x".into(), None);
        assert!(matches!(c(500), DeliveryError::Transient { .. }));
        assert!(matches!(c(503), DeliveryError::Transient { .. }));
        assert!(matches!(c(429), DeliveryError::Transient { .. }));
        assert!(matches!(c(422), DeliveryError::Rejected { .. }));
        assert!(matches!(c(400), DeliveryError::Rejected { .. }));
        assert!(matches!(c(401), DeliveryError::Fatal { .. }));
        assert!(matches!(c(403), DeliveryError::Fatal { .. }));
    }

    #[test]
    fn server_messages_become_one_short_line() {
        assert_eq!(server_message(""), "");
        assert_eq!(server_message("bad\n  field\tX"), ": bad field X");
        assert_eq!(server_message(&"a".repeat(1000)).len(), 302);
    }
}
