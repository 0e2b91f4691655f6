//! The framework-agnostic answer of the receiver and the read handler: status, headers
//! and body, which the web layer copies into its own response type.

/// Content type of error bodies, as Go's `http.Error` sets it.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl RemoteResponse {
    /// `204 No Content`, the success answer of remote write.
    pub fn no_content() -> RemoteResponse {
        RemoteResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// An error with a plain-text message, written as Go's `http.Error` writes it (the
    /// message and a newline).
    pub fn error(status: u16, message: &str) -> RemoteResponse {
        let mut body = Vec::with_capacity(message.len() + 1);
        body.extend_from_slice(message.as_bytes());
        body.push(b'\n');
        RemoteResponse {
            status,
            headers: vec![
                ("Content-Type", TEXT_PLAIN.to_string()),
                ("X-Content-Type-Options", "nosniff".to_string()),
            ],
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for logs and tests.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
