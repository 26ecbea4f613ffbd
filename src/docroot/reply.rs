//! What goes back to the client: a [`Reply`] (status, headers, [`Body`]) and
//! the answers built without a file — status pages, OPTIONS, 405, refusals —
//! with the header fields every answer shares (`Date`, cached per second).

use std::fs::File;
use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What goes back: the backends add only connection-management fields.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
    /// A page the server wrote itself (a status page, a listing), not one
    /// of the site's: only these get `--security-headers`' CSP.
    pub(super) generated: bool,
    /// Only from [`super::DocRoot::respond_prepared`]: the fields as
    /// HTTP/1.1 lines, rendered once per cached file; `headers` is then empty.
    pub(super) prepared: Option<Prepared>,
}

/// A reply's fields in wire form (see [`Reply::prepared`]).
#[derive(Debug)]
pub struct Prepared {
    /// The `Date` value, which comes first.
    pub date: HeaderValue,
    /// Every other field, in order, each as `name: value\r\n`.
    pub fields: bytes::Bytes,
    /// The `Content-Length` among them.
    pub(super) content_length: u64,
}

/// A reply's content. `Content-Length` is always in the reply's headers, even
/// for `Empty` (a HEAD answer carries the length of the body it omits).
#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of an open regular file, from `offset` on.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

/// Why a request path is refused, each answered with its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 404: absent, or anything that must look absent.
    NotFound,
    /// 403: there, but not to be read.
    Forbidden,
    /// 503: out of descriptors (`EMFILE`), the server's trouble, not the file's.
    Unavailable,
}

/// The `Allow` value: what every resource here supports (RFC 9110 §10.2.1).
const ALLOW: &str = "GET, HEAD, OPTIONS";

impl Reply {
    /// A short built-in HTML page for `status`, with the shared headers.
    pub fn status(status: StatusCode) -> Reply {
        let reason = status.canonical_reason().unwrap_or("");
        let code = status.as_u16();
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
             <body><h1>{code} {reason}</h1></body></html>\n"
        );
        let mut headers = base_headers();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
        Reply {
            status,
            headers,
            body: Body::Bytes(Bytes::from(page)),
            generated: true,
            prepared: None,
        }
    }

    /// The introspection answer: `200` with a JSON description of the request
    /// as a backend parsed it, so `compare` can show where two parsers read the
    /// same bytes differently. Built by the backends, which alone know their parse.
    /// Its body is the point even for HEAD (compare reads it on a connection
    /// of its own); `serve` never turns this mode on.
    pub fn introspection(json: String) -> Reply {
        let mut headers = base_headers();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
        Reply {
            status: StatusCode::OK,
            headers,
            body: Body::Bytes(Bytes::from(json)),
            generated: false,
            prepared: None,
        }
    }

    /// 204 with `Allow` for OPTIONS (RFC 9110 §9.3.7).
    pub fn options() -> Reply {
        let mut headers = base_headers();
        headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        Reply {
            status: StatusCode::NO_CONTENT,
            headers,
            body: Body::Empty,
            generated: false,
            prepared: None,
        }
    }

    /// 405 with `Allow`, for a method known but not allowed on static files.
    pub(super) fn method_not_allowed() -> Reply {
        let mut reply = Reply::status(StatusCode::METHOD_NOT_ALLOWED);
        reply
            .headers
            .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        reply
    }

    /// The built-in page for a refusal (the root's own `404.html` is the
    /// decision's to add).
    pub(super) fn refused(refusal: Refusal) -> Reply {
        Reply::status(match refusal {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        })
    }

    /// The reply as sent to a request with `method`: the one place, for
    /// every answer of both backends, where HEAD loses the body and keeps the
    /// headers (RFC 9110 §9.3.2), so no early return can forget it.
    pub fn answering(self, method: &str) -> Reply {
        if method == "HEAD" {
            self.without_body()
        } else {
            self
        }
    }

    /// The same reply with its body dropped and its headers kept.
    pub fn without_body(mut self) -> Reply {
        self.body = Body::Empty;
        self
    }

    /// Bytes of body to send (0 for HEAD and for replies without one).
    pub fn body_len(&self) -> u64 {
        match &self.body {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// The fields already in wire form, when the reply was made so (then
    /// `headers` is empty): a writer sends these instead of `headers`.
    pub fn prepared(&self) -> Option<&Prepared> {
        self.prepared.as_ref()
    }

    /// The value of `Content-Length`, which every reply carries.
    pub fn content_length(&self) -> u64 {
        if let Some(prepared) = &self.prepared {
            return prepared.content_length;
        }
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// The fields every answer carries: `Date`, and `nosniff` so a browser
/// never second-guesses the `Content-Type`.
pub(super) fn base_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(10);
    headers.insert(header::DATE, date_now());
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers
}

/// The `Date` value, formatted once a second per thread rather than per reply.
pub(super) fn date_now() -> HeaderValue {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, HeaderValue)> =
            const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            *cached = (second, header_value(httpdate::fmt_http_date(now)));
        }
        cached.1.clone()
    })
}

/// A header value from text docroot formatted itself: dates, numbers, MIME
/// types, ranges — always valid, so the fallback is never reached.
pub(super) fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}
