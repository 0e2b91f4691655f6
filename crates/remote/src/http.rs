//! Mounting the receiver and the read handler in axum: [`router`] serves
//! `POST /api/v1/write` and `POST /api/v1/read`, e.g.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use hearth_remote::{ReadHandler, WriteReceiver};
//! # use hearth_remote::http::{RemoteEndpoints, router};
//! # use hearth_tsdb::mem_storage::MemStorage;
//! let storage = Arc::new(MemStorage::new());
//! let app: axum::Router = router(RemoteEndpoints {
//!     write: Some((Arc::new(WriteReceiver::default()), storage.clone())),
//!     read: Some((Arc::new(ReadHandler::new(Default::default())), storage)),
//! });
//! ```
//!
//! `write_route` and `read_route` give the same handlers as `POST` routes for any router
//! state, for a web layer that mounts them itself.
//!
//! Bodies are read up to the configured limits; storage work runs on the blocking pool.
//! A streamed read answer is sent frame batch by frame batch as it is produced; an error
//! before the first byte becomes a proper status, a later one cuts the stream.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use hearth_tsdb::storage::{Appendable, Queryable};
use tokio::sync::{mpsc, oneshot};

use crate::read_handler::{ReadHandler, STREAMED_CONTENT_TYPE};
use crate::receiver::WriteReceiver;
use crate::response::RemoteResponse;

/// The remote endpoints to serve; `None` answers as upstream does when the feature is off.
#[derive(Clone, Default)]
pub struct RemoteEndpoints {
    /// `--web.enable-remote-write-receiver`: the receiver and where it writes.
    pub write: Option<(Arc<WriteReceiver>, Arc<dyn Appendable>)>,
    /// The remote read server and what it reads.
    pub read: Option<(Arc<ReadHandler>, Arc<dyn Queryable>)>,
}

/// Upstream's answer when the receiver is off.
pub const WRITE_DISABLED: &str =
    "remote write receiver needs to be enabled with --web.enable-remote-write-receiver";

/// `POST /api/v1/write` and `POST /api/v1/read`.
pub fn router<S>(endpoints: RemoteEndpoints) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let write = match endpoints.write {
        Some((receiver, appendable)) => write_route(receiver, appendable),
        None => post(|| async { into_axum(RemoteResponse::error(404, WRITE_DISABLED)) }),
    };
    let read = match endpoints.read {
        Some((handler, queryable)) => read_route(handler, queryable),
        None => post(|| async { into_axum(RemoteResponse::error(404, "remote read is disabled")) }),
    };
    Router::new()
        .route("/api/v1/write", write)
        .route("/api/v1/read", read)
}

/// `POST` remote write into `appendable`.
pub fn write_route<S>(
    receiver: Arc<WriteReceiver>,
    appendable: Arc<dyn Appendable>,
) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    post(move |headers: HeaderMap, body: Body| {
        let receiver = receiver.clone();
        let appendable = appendable.clone();
        async move { serve_write(receiver, appendable, headers, body).await }
    })
}

/// `POST` remote read from `queryable`.
pub fn read_route<S>(handler: Arc<ReadHandler>, queryable: Arc<dyn Queryable>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    post(move |body: Body| {
        let handler = handler.clone();
        let queryable = queryable.clone();
        async move { serve_read(handler, queryable, body).await }
    })
}

async fn serve_write(
    receiver: Arc<WriteReceiver>,
    appendable: Arc<dyn Appendable>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = header_text(&headers, header::CONTENT_TYPE);
    let content_encoding = header_text(&headers, header::CONTENT_ENCODING);
    // Refuse what cannot be decoded before reading the body.
    if let Err(r) = receiver.negotiate(content_type.as_deref(), content_encoding.as_deref()) {
        return into_axum(r);
    }
    let limit = receiver.options().max_body_bytes;
    let body = match read_body(body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return into_axum(RemoteResponse::error(
                413,
                &format!("remote write request body is larger than the limit of {limit} bytes"),
            ));
        }
        Err(BodyError::Read(e)) => return into_axum(RemoteResponse::error(400, &e)),
    };
    let done = tokio::task::spawn_blocking(move || {
        receiver.receive(
            appendable.as_ref(),
            content_type.as_deref(),
            content_encoding.as_deref(),
            &body,
        )
    })
    .await;
    match done {
        Ok(r) => into_axum(r),
        Err(e) => into_axum(RemoteResponse::error(500, &e.to_string())),
    }
}

/// What the blocking read task decided before any body byte is sent.
enum ReadHead {
    Complete(RemoteResponse),
    Stream,
}

async fn serve_read(
    handler: Arc<ReadHandler>,
    queryable: Arc<dyn Queryable>,
    body: Body,
) -> Response {
    let limit = handler.options().max_request_bytes;
    let body = match read_body(body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return into_axum(RemoteResponse::error(
                400,
                &format!("remote read request body is larger than the limit of {limit} bytes"),
            ));
        }
        Err(BodyError::Read(e)) => return into_axum(RemoteResponse::error(400, &e)),
    };
    let (head_tx, head_rx) = oneshot::channel();
    let (data_tx, data_rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let prepared = match handler.prepare(&body) {
            Ok(p) => p,
            Err(r) => {
                let _ = head_tx.send(ReadHead::Complete(r));
                return;
            }
        };
        if prepared.response_type() == crate::proto::read_request::ResponseType::Samples {
            let _ = head_tx.send(ReadHead::Complete(
                prepared.respond_samples(queryable.as_ref()),
            ));
            return;
        }
        let mut out = StreamWriter {
            head: Some(head_tx),
            data: data_tx,
            buf: Vec::new(),
        };
        if let Err(e) = prepared.stream_chunks(queryable.as_ref(), &mut out) {
            match out.head.take() {
                Some(head) => {
                    let _ = head.send(ReadHead::Complete(e.into_response()));
                }
                None => {
                    tracing::warn!(error = %e, "remote read stream failed after it started");
                    let _ = out.data.blocking_send(Err(io::Error::other(e.message)));
                }
            }
        }
    });
    match head_rx.await {
        Ok(ReadHead::Complete(r)) => into_axum(r),
        Ok(ReadHead::Stream) => (
            [(header::CONTENT_TYPE, STREAMED_CONTENT_TYPE)],
            Body::from_stream(FrameStream(data_rx)),
        )
            .into_response(),
        Err(_) => into_axum(RemoteResponse::error(500, "remote read task failed")),
    }
}

/// Buffers frames and hands them to the response body in batches; the first handoff
/// commits the response to `200` streaming.
struct StreamWriter {
    head: Option<oneshot::Sender<ReadHead>>,
    data: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

/// Frames are sent on in batches of about this many bytes.
const STREAM_BATCH_BYTES: usize = 64 << 10;

impl StreamWriter {
    fn hand_over(&mut self) -> io::Result<()> {
        if let Some(head) = self.head.take() {
            head.send(ReadHead::Stream)
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let batch = Bytes::from(std::mem::take(&mut self.buf));
        self.data
            .blocking_send(Ok(batch))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for StreamWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STREAM_BATCH_BYTES {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

/// The receiving end of [`StreamWriter`] as a body stream.
struct FrameStream(mpsc::Receiver<Result<Bytes, io::Error>>);

impl futures_core::Stream for FrameStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

enum BodyError {
    TooLarge,
    Read(String),
}

/// Collects a request body, refusing it as soon as it passes `limit` bytes.
async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(out),
            Some(Err(e)) => return Err(BodyError::Read(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A [`RemoteResponse`] as an axum response.
pub fn into_axum(r: RemoteResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, r.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}
