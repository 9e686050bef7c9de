//! A typed client for the control plane's HTTP API.

use std::time::Duration;

use domain::control_plane::{
    Channel, ConfirmRequest, ConfirmResponse, PreviewRequest, PreviewResponse, SessionEnded, StructuredOverride,
    WatchResponse,
};
use domain::{ErrorBody, ErrorCode};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request with its error body.
    #[error("{code}: {message}")]
    Api { status: u16, code: String, message: String, retry_after: Option<u64> },
    /// The server answered something that is not the API's JSON.
    #[error("HTTP {status}: {body}")]
    Unexpected { status: u16, body: String },
    /// The server could not be reached or the answer not read.
    #[error("cannot reach {server}: {detail}")]
    Transport { server: String, detail: String },
}

impl ClientError {
    /// The error code, when the server sent one this version knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => code.parse().ok(),
            _ => None,
        }
    }

    /// Seconds the server asked to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    pub session_id: String,
    pub channel: Channel,
}

impl Client {
    /// A client of the server at `server`, acting for the holder of `token` (an operator's or
    /// admin's API token) when one is given.
    pub fn new(server: &str, session_id: String, channel: Channel, token: Option<&str>) -> Result<Self, ClientError> {
        let server = server.trim_end_matches('/').to_owned();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    ClientError::Transport {
                        server: server.clone(),
                        detail: "the token is not a valid header value".into(),
                    }
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("chatctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport { server: server.clone(), detail: e.to_string() })?;
        Ok(Self { http, server, session_id, channel })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub async fn preview(&self, raw_input: &str) -> Result<PreviewResponse, ClientError> {
        let body = PreviewRequest {
            raw_input: raw_input.to_owned(),
            channel: self.channel,
            session_id: self.session_id.clone(),
        };
        self.call(self.http.post(format!("{}/api/v1/chat/preview", self.server)).json(&body)).await
    }

    pub async fn confirm(
        &self,
        preview_id: &str,
        structured_override: Option<StructuredOverride>,
    ) -> Result<ConfirmResponse, ClientError> {
        let body = ConfirmRequest {
            preview_id: preview_id.to_owned(),
            session_id: self.session_id.clone(),
            structured_override,
        };
        self.call(self.http.post(format!("{}/api/v1/chat/confirm", self.server)).json(&body)).await
    }

    pub async fn watch(&self, task_id: &str) -> Result<WatchResponse, ClientError> {
        let url = format!("{}/api/v1/chat/watch/{}", self.server, urlencode(task_id));
        // In a header, not the query: addresses end up in proxies' access logs, headers do not.
        self.call(self.http.get(url).header(gateway::SESSION_HEADER, self.session_id.as_str())).await
    }

    /// Ends this client's session on the server, with its unconfirmed previews.
    pub async fn end_session(&self) -> Result<SessionEnded, ClientError> {
        let url = format!("{}/api/v1/chat/session/{}", self.server, urlencode(&self.session_id));
        self.call(self.http.delete(url)).await
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let transport =
            |e: reqwest::Error| ClientError::Transport { server: self.server.clone(), detail: e.to_string() };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().await.map_err(transport)?;
        if status == StatusCode::OK {
            return serde_json::from_str(&text)
                .map_err(|_| ClientError::Unexpected { status: status.as_u16(), body: clip(&text) });
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                code: crate::display::clean(&body.error.code),
                message: crate::display::clean(&body.error.message),
                retry_after,
            }),
            Err(_) => Err(ClientError::Unexpected { status: status.as_u16(), body: clip(&text) }),
        }
    }
}

/// The start of an unexpected body, safe to print.
fn clip(text: &str) -> String {
    let text = text.trim();
    let start = match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    };
    crate::display::clean(&start)
}

/// Percent-encodes everything but unreserved characters, so a task id stays one path segment.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_stay_one_path_segment() {
        assert_eq!(urlencode("task_20260202T100000_0123456789ab"), "task_20260202T100000_0123456789ab");
        assert_eq!(urlencode("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn api_errors_read_as_code_and_message() {
        let error =
            ClientError::Api { status: 410, code: "PREVIEW_EXPIRED".into(), message: "gone".into(), retry_after: None };
        assert_eq!(error.to_string(), "PREVIEW_EXPIRED: gone");
        assert_eq!(error.code(), Some(ErrorCode::PreviewExpired));
        assert!(clip(&"x".repeat(500)).chars().count() <= 201);
    }
}
