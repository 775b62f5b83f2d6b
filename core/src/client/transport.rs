//! One request to one license server: HTTP (ureq, with the per-request timeout) or an
//! embedded ledger. Every failure becomes a [`ServerError`]; nothing panics or blocks beyond the
//! timeout.

use serde::Serialize;

use super::{Inner, ServerError, Which};
use crate::api::{AcquireRequest, AcquireResponse, ErrorBody, ReleaseResponse, RenewResponse};
use crate::client::Endpoint;
use crate::ledger::{LeaseId, LedgerError};

impl Inner {
    pub(super) fn acquire(
        &self,
        which: Which,
        feature: &str,
        version: &str,
        count: u32,
    ) -> Result<AcquireResponse, ServerError> {
        let ep = self.endpoint(which).expect("checked by caller");
        match ep {
            Endpoint::Embedded(ledger) => {
                let g = ledger
                    .acquire(&self.config.client_id, feature, version, count)
                    .map_err(|e| ledger_error(ep, e))?;
                Ok(AcquireResponse {
                    lease: g.lease,
                    granted: g.granted,
                    wanted: g.wanted,
                    expires_at: g.expires_at,
                    lifetime_secs: ledger.config().lease_lifetime_secs,
                })
            }
            Endpoint::Http { .. } => self.http(
                ep,
                "POST",
                "/v1/leases",
                Some(AcquireRequest {
                    feature: feature.into(),
                    version: version.into(),
                    count: count as i64,
                }),
            ),
        }
    }

    pub(super) fn renew(&self, which: Which, lease: LeaseId) -> Result<RenewResponse, ServerError> {
        let ep = self
            .endpoint(which)
            .ok_or_else(|| ServerError::Unreachable {
                server: format!("{which:?}"),
                detail: "not configured".into(),
            })?;
        match ep {
            Endpoint::Embedded(ledger) => {
                let exp = ledger.renew(lease).map_err(|e| ledger_error(ep, e))?;
                Ok(RenewResponse {
                    lease,
                    expires_at: exp,
                    lifetime_secs: ledger.config().lease_lifetime_secs,
                })
            }
            Endpoint::Http { .. } => {
                self.http::<(), _>(ep, "POST", &format!("/v1/leases/{lease}/renew"), None)
            }
        }
    }

    pub(super) fn release(&self, which: Which, lease: LeaseId) -> Result<u32, ServerError> {
        let ep = self
            .endpoint(which)
            .ok_or_else(|| ServerError::Unreachable {
                server: format!("{which:?}"),
                detail: "not configured".into(),
            })?;
        match ep {
            Endpoint::Embedded(ledger) => ledger.release(lease).map_err(|e| ledger_error(ep, e)),
            Endpoint::Http { .. } => self
                .http::<(), ReleaseResponse>(ep, "DELETE", &format!("/v1/leases/{lease}"), None)
                .map(|r| r.released),
        }
    }

    fn http<B: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        ep: &Endpoint,
        method: &str,
        path: &str,
        body: Option<B>,
    ) -> Result<R, ServerError> {
        let Endpoint::Http { url, token } = ep else {
            unreachable!("http() is only called for HTTP endpoints")
        };
        let server = url.clone();
        let req = self
            .agent
            .request(method, &format!("{}{path}", url.trim_end_matches('/')))
            .set("Authorization", &format!("Bearer {token}"));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let read_body = |resp: ureq::Response| -> Result<String, ServerError> {
            let mut s = String::new();
            use std::io::Read;
            resp.into_reader()
                .take(1 << 20)
                .read_to_string(&mut s)
                .map_err(|e| ServerError::Unreachable {
                    server: server.clone(),
                    detail: format!("reading the answer: {e}"),
                })?;
            Ok(s)
        };
        match res {
            Ok(resp) => {
                let text = read_body(resp)?;
                serde_json::from_str(&text).map_err(|e| ServerError::Garbage {
                    server: server.clone(),
                    detail: format!("{e}: {}", truncate(&text)),
                })
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = read_body(resp)?;
                match serde_json::from_str::<ErrorBody>(&text) {
                    Ok(b) => Err(ServerError::Refused {
                        server,
                        status,
                        code: b.error.code,
                        message: b.error.message,
                    }),
                    Err(_) => Err(ServerError::Garbage {
                        server,
                        detail: format!(
                            "HTTP {status} with a body that is not an API error: {}",
                            truncate(&text)
                        ),
                    }),
                }
            }
            Err(ureq::Error::Transport(t)) => Err(ServerError::Unreachable {
                server,
                detail: t.to_string(),
            }),
        }
    }
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(120);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn ledger_error(ep: &Endpoint, e: LedgerError) -> ServerError {
    let code = match &e {
        LedgerError::UnknownLease(_) => "unknown_lease",
        LedgerError::LeaseExpired { .. } => "lease_expired",
        LedgerError::UnknownFeature { .. } => "unknown_feature",
        LedgerError::InvalidRequest(_) => "bad_request",
        _ => "internal",
    };
    ServerError::Refused {
        server: ep.describe(),
        status: 0,
        code: code.into(),
        message: e.to_string(),
    }
}
