//! The API's response envelope: `{"status":"success","data":…,"warnings":[…],"infos":[…]}`
//! or `{"status":"error","errorType":…,"error":…}` with upstream's HTTP status per error
//! type (bad_data 400, execution 422, canceled 499, timeout 503, not_found 404,
//! internal and everything else 500).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::json;

/// Upstream's `errorType`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Timeout,
    Canceled,
    Execution,
    BadData,
    Internal,
    Unavailable,
    NotFound,
    NotAcceptable,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Execution => "execution",
            ErrorType::BadData => "bad_data",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::NotAcceptable => "not_acceptable",
        }
    }

    /// The HTTP status upstream answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            // Upstream's statusClientClosedConnection.
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorType::Internal | ErrorType::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: its type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub typ: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(typ: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            typ,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::Internal, message)
    }

    /// `invalid parameter "name": why` (upstream's `invalidParamError`).
    pub fn invalid_param(name: &str, why: &str) -> ApiError {
        ApiError::bad_data(format!("invalid parameter {}: {why}", json_quote(name)))
    }
}

fn json_quote(s: &str) -> String {
    crate::params::go_quote(s)
}

/// A successful API answer: the `data` as rendered JSON, and the annotations.
#[derive(Debug, Clone, Default)]
pub struct ApiSuccess {
    /// Rendered JSON of `data`; `None` answers 204 No Content as upstream does for
    /// endpoints without data (admin delete, clean tombstones).
    pub data: Option<String>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl ApiSuccess {
    /// `data` serialized with Go's escaping.
    pub fn data<T: serde::Serialize + ?Sized>(v: &T) -> ApiSuccess {
        ApiSuccess::raw(json::to_string(v))
    }

    /// Already rendered `data`.
    pub fn raw(data: String) -> ApiSuccess {
        ApiSuccess {
            data: Some(data),
            ..ApiSuccess::default()
        }
    }

    pub fn no_content() -> ApiSuccess {
        ApiSuccess::default()
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> ApiSuccess {
        self.warnings = warnings;
        self
    }
}

/// What an API handler returns (axum renders either side).
pub type ApiResult = Result<ApiSuccess, ApiError>;

fn write_string_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(out, s);
    }
    out.push(']');
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl IntoResponse for ApiSuccess {
    fn into_response(self) -> Response {
        let Some(data) = self.data else {
            return StatusCode::NO_CONTENT.into_response();
        };
        let mut out = String::with_capacity(data.len() + 64);
        out.push_str("{\"status\":\"success\",\"data\":");
        out.push_str(&data);
        write_string_list(&mut out, "warnings", &self.warnings);
        write_string_list(&mut out, "infos", &self.infos);
        out.push('}');
        json_response(StatusCode::OK, out)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut out = String::with_capacity(self.message.len() + 64);
        out.push_str("{\"status\":\"error\",\"errorType\":\"");
        out.push_str(self.typ.as_str());
        out.push_str("\",\"error\":");
        json::write_str(&mut out, &self.message);
        out.push('}');
        json_response(self.typ.status(), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ErrorType::BadData.status().as_u16(), 400);
        assert_eq!(ErrorType::Execution.status().as_u16(), 422);
        assert_eq!(ErrorType::Canceled.status().as_u16(), 499);
        assert_eq!(ErrorType::Timeout.status().as_u16(), 503);
        assert_eq!(ErrorType::Unavailable.status().as_u16(), 500);
        assert_eq!(
            ApiError::invalid_param("time", "x").message,
            "invalid parameter \"time\": x"
        );
    }
}
