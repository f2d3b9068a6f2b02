//! Transport failures said plainly: which host, and whether its name did not resolve, the
//! connection was refused, or nothing answered in time, named once; the cause of a
//! reqwest error sits several `source()`s deep, so the chain is read here.

use super::redact::redact;
use super::{CallError, Failure};
use std::time::Duration;

/// How long a connection may take to open. Separate from the request timeout (which must
/// leave a model minutes to think): a host that does not accept a connection in this time
/// is unreachable, and a run against it must say so quickly.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a user can do about an unreachable host.
pub use crate::attempt::UNREACHABLE_HINT as HINT;

/// Why a connection could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    Dns,
    Refused,
    Timeout,
    Other,
}

impl Unreachable {
    pub fn describe(self) -> &'static str {
        match self {
            Unreachable::Dns => "its name did not resolve (DNS failure)",
            Unreachable::Refused => "the connection was refused",
            Unreachable::Timeout => "it did not accept a connection in time (connect timeout)",
            Unreachable::Other => "the connection failed",
        }
    }
}

/// Every message of an error's chain, outermost first.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        out.push(cause.to_string());
        source = cause.source();
    }
    out
}

/// Reads which connection failure an error chain describes.
pub fn kind_of(messages: &[String], is_timeout: bool) -> Unreachable {
    let all = messages.join(": ").to_lowercase();
    if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
    {
        Unreachable::Dns
    } else if all.contains("connection refused") {
        Unreachable::Refused
    } else if is_timeout || all.contains("timed out") {
        Unreachable::Timeout
    } else {
        Unreachable::Other
    }
}

/// Turns a transport error into a failure. Before any status: the host was unreachable
/// (nothing was sent) unless the request timed out after connecting. After a status (a
/// body cut short, a reset mid-answer): the server's failure, retryable like a 5xx.
pub fn transport_failure(e: &reqwest::Error, status: Option<u16>, secret: Option<&str>) -> CallError {
    let host = e.url().and_then(|u| u.host_str()).unwrap_or("the server").to_string();
    let messages = chain(e);
    let (failure, message) = if status.is_none() && e.is_connect() {
        let kind = kind_of(&messages, e.is_timeout());
        (Failure::Connection, format!("cannot reach {host}: {}", kind.describe()))
    } else if e.is_timeout() {
        (Failure::Timeout, format!("{host} did not answer in time"))
    } else {
        (Failure::ServerError, format!("the answer from {host} broke off: {}", messages.join(": ")))
    };
    CallError::new(failure, status, redact(&message, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_from_the_chain() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kind_of(
                &s(&[
                    "error sending request",
                    "client error (Connect)",
                    "dns error",
                    "failed to lookup address information"
                ]),
                false
            ),
            Unreachable::Dns
        );
        assert_eq!(
            kind_of(&s(&["error sending request", "tcp connect error", "Connection refused (os error 111)"]), false),
            Unreachable::Refused
        );
        assert_eq!(kind_of(&s(&["error sending request", "operation timed out"]), true), Unreachable::Timeout);
    }

    #[tokio::test]
    async fn a_refused_connection_is_named_with_its_host() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().unwrap();
        let e = client.get(format!("http://127.0.0.1:{port}/v1/models")).send().await.unwrap_err();
        let failure = transport_failure(&e, None, None);
        assert_eq!(failure.failure, Failure::Connection);
        assert_eq!(failure.message, "cannot reach 127.0.0.1: the connection was refused");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_dns_failure() {
        let client = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().unwrap();
        let e = client.get("http://postmill-test.invalid/v1/models").send().await.unwrap_err();
        let failure = transport_failure(&e, None, None);
        assert_eq!(failure.failure, Failure::Connection);
        assert!(
            failure.message.contains("postmill-test.invalid") && failure.message.contains("DNS"),
            "{}",
            failure.message
        );
    }
}
