//! Response compression as upstream's `httputil.CompressionHandler`: gzip when the
//! client accepts it (`deflate` otherwise, when accepted), for the API, `/federate` and
//! `/metrics`. Responses that already carry a `Content-Encoding` pass unchanged.

use std::io::Write as _;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flate2::Compression;

/// Responses are built in memory; this bounds what is compressed.
const MAX_COMPRESSED_BODY: usize = 1 << 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Deflate,
}

fn accepted(req: &Request) -> Option<Encoding> {
    let accept = req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    // Upstream picks by its own preference (gzip, then deflate), ignoring q-values.
    let has = |name: &str| {
        accept
            .split(',')
            .any(|e| e.split(';').next().is_some_and(|n| n.trim() == name))
    };
    if has("gzip") {
        Some(Encoding::Gzip)
    } else if has("deflate") {
        Some(Encoding::Deflate)
    } else {
        None
    }
}

/// The middleware.
pub async fn gzip(req: Request, next: Next) -> Response {
    let enc = accepted(&req);
    let resp = next.run(req).await;
    let Some(enc) = enc else {
        return resp;
    };
    if resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_COMPRESSED_BODY).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("reading response body to compress: {e}");
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let compressed = match enc {
        Encoding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
            w.write_all(&bytes).and_then(|()| w.finish())
        }
        Encoding::Deflate => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
            w.write_all(&bytes).and_then(|()| w.finish())
        }
    };
    let Ok(compressed) = compressed else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(if enc == Encoding::Gzip {
            "gzip"
        } else {
            "deflate"
        }),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Body::from(compressed))
}
