//! The HTTP side of a scrape (upstream's `targetScraper`): one GET with the negotiated
//! `Accept`, `Accept-Encoding` and `X-Prometheus-Scrape-Timeout-Seconds` headers and the
//! job's credentials, then the body read (gunzipped when the target compressed it) into
//! a reused buffer, stopping at `body_size_limit`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hearth_discovery::HttpClientConfig;
use hearth_discovery::http_client::EndpointClient;

use crate::error::ScrapeError;

pub(crate) struct TargetScraper {
    /// The target's client and URL (`tls_config.server_name` applied).
    pub endpoint: EndpointClient,
    pub http: Arc<HttpClientConfig>,
    pub oauth2: Option<Arc<hearth_discovery::oauth2::OAuth2Token>>,
    pub url: String,
    pub accept: String,
    pub accept_encoding: &'static str,
    pub timeout: Duration,
    /// 0: no limit.
    pub body_size_limit: u64,
}

/// A writer that refuses to grow past `limit` bytes (upstream reads `limit` bytes and
/// fails when it got that many: a body of exactly `limit` bytes is too big).
struct LimitedBuf<'a> {
    buf: &'a mut Vec<u8>,
    limit: u64,
}

impl Write for LimitedBuf<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 >= self.limit {
            return Err(std::io::Error::other(
                ScrapeError::BodySizeLimit.to_string(),
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Go prints a float duration in seconds with the shortest exact form (`10`, `0.5`).
pub(crate) fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// The causes of a reqwest error, innermost last, without the URL reqwest repeats.
fn reason(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    if parts.is_empty() {
        return e.to_string();
    }
    parts.join(": ")
}

impl TargetScraper {
    /// Scrapes into `buf` (cleared first); returns the response's Content-Type.
    pub async fn scrape(&self, buf: &mut Vec<u8>) -> Result<String, ScrapeError> {
        buf.clear();
        let url = self.url.clone();
        match tokio::time::timeout(self.timeout, self.fetch(buf)).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Request {
                url,
                reason: "context deadline exceeded".into(),
            }),
        }
    }

    async fn fetch(&self, buf: &mut Vec<u8>) -> Result<String, ScrapeError> {
        let req_err = |reason: String| ScrapeError::Request {
            url: self.url.clone(),
            reason,
        };
        let req = self
            .endpoint
            .get()
            .header(reqwest::header::ACCEPT, &self.accept)
            .header(reqwest::header::ACCEPT_ENCODING, self.accept_encoding)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format_seconds(self.timeout),
            );
        let req = self
            .http
            .authorize_with(req, self.oauth2.as_deref())
            .await
            .map_err(|e| req_err(e.to_string()))?;
        let mut resp = req.send().await.map_err(|e| req_err(reason(&e)))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(ScrapeError::HttpStatus(status.to_string()));
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let gzip = header(reqwest::header::CONTENT_ENCODING) == "gzip";
        let limit = if self.body_size_limit == 0 {
            u64::MAX
        } else {
            self.body_size_limit
        };
        if gzip {
            let mut dec = flate2::write::MultiGzDecoder::new(LimitedBuf { buf, limit });
            while let Some(chunk) = resp.chunk().await.map_err(|e| req_err(reason(&e)))? {
                dec.write_all(&chunk).map_err(|e| gzip_error(&e))?;
            }
            dec.try_finish().map_err(|e| gzip_error(&e))?;
        } else {
            while let Some(chunk) = resp.chunk().await.map_err(|e| req_err(reason(&e)))? {
                if (buf.len() + chunk.len()) as u64 >= limit {
                    return Err(ScrapeError::BodySizeLimit);
                }
                buf.extend_from_slice(&chunk);
            }
        }
        Ok(content_type)
    }
}

fn gzip_error(e: &std::io::Error) -> ScrapeError {
    let msg = e.to_string();
    if msg == ScrapeError::BodySizeLimit.to_string() {
        ScrapeError::BodySizeLimit
    } else {
        ScrapeError::Body(format!("gzip: {msg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_like_go() {
        assert_eq!(format_seconds(Duration::from_secs(10)), "10");
        assert_eq!(format_seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(format_seconds(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn limited_buf_refuses_at_limit() {
        let mut v = Vec::new();
        let mut w = LimitedBuf {
            buf: &mut v,
            limit: 4,
        };
        assert!(w.write(b"abc").is_ok());
        assert!(w.write(b"d").is_err());
    }
}
