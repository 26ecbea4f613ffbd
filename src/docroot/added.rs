//! The fields an operator adds to every answer: `--header`, the
//! `--security-headers` set, and CORS (`--cors`) with its preflight, applied
//! in one place after the answer is decided so both backends send them alike.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::reply::Reply;
use super::request::HeaderSource;

/// Who may read these files from another origin's page (`--cors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// `*`: any page, without credentials.
    Any,
    /// One origin, `scheme://host[:port]`, sent back with `Vary: Origin`.
    Origin(HeaderValue),
}

impl Cors {
    /// `*` or an origin as a browser sends it in `Origin`: a scheme, `://`,
    /// a host and an optional port, no path.
    pub fn parse(text: &str) -> Result<Cors, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Cors::Any);
        }
        let bad = || format!("{text:?} is not * or an origin such as https://app.example:8443");
        let (scheme, authority) = text.split_once("://").ok_or_else(bad)?;
        let scheme_ok = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let authority_ok = !authority.is_empty()
            && super::request::is_valid_host(authority.as_bytes())
            && !authority.contains(['/', '?', '#', '@']);
        if !scheme_ok || !authority_ok {
            return Err(bad());
        }
        HeaderValue::from_str(text)
            .map(Cors::Origin)
            .map_err(|_| bad())
    }

    fn allow_origin(&self) -> HeaderValue {
        match self {
            Cors::Any => HeaderValue::from_static("*"),
            Cors::Origin(origin) => origin.clone(),
        }
    }
}

/// Fields `--header` may not set: they frame the message or manage the
/// connection, which the backends alone decide.
const RESERVED: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A field value an operator gave (`--header`, `--cache-control`) as it is
/// sent: without surrounding spaces and tabs, which are not part of it (RFC
/// 9110 §5.5). Empty means there is no value to send.
pub fn trim_field_value(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Whether `--header` may add a field named `name`; why not if not.
pub fn check_added_header(name: &HeaderName) -> Result<(), String> {
    if RESERVED.contains(&name.as_str()) {
        return Err(format!(
            "{name} is set by the server itself and cannot be added with --header"
        ));
    }
    Ok(())
}

/// The answers' added fields, prepared once from the options.
#[derive(Debug, Default)]
pub(super) struct Added {
    headers: Vec<(HeaderName, HeaderValue)>,
    security: bool,
    cors: Option<Cors>,
}

/// The methods a preflight is told (RFC 9110 §10.2.1's `Allow` too).
const METHODS: &str = "GET, HEAD, OPTIONS";
/// Response fields a script may read beyond the CORS-safelisted ones.
const EXPOSED: &str = "ETag, Content-Range, Accept-Ranges, Content-Encoding";
/// For pages the server writes itself: nothing to load, inline style only.
const GENERATED_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

impl Added {
    pub(super) fn new(
        headers: &[(HeaderName, HeaderValue)],
        security: bool,
        cors: Option<&Cors>,
    ) -> Result<Added, String> {
        for (name, _) in headers {
            check_added_header(name)?;
        }
        Ok(Added {
            headers: headers.to_vec(),
            security,
            cors: cors.cloned(),
        })
    }

    /// Whether [`Added::apply`] leaves every reply as it is.
    pub(super) fn adds_nothing(&self) -> bool {
        self.headers.is_empty() && !self.security && self.cors.is_none()
    }

    /// Adds the fields to `reply`, the answer to a request with `method`
    /// and `fields`. `generated` marks a page the server wrote (a listing,
    /// an error page), which gets the restrictive CSP.
    pub(super) fn apply<H: HeaderSource + ?Sized>(
        &self,
        reply: &mut Reply,
        method: &str,
        fields: &H,
        generated: bool,
    ) {
        let headers = &mut reply.headers;
        if self.security {
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            );
            headers.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
            if generated {
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(GENERATED_CSP),
                );
            }
        }
        if let Some(cors) = &self.cors {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow_origin());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
            if matches!(cors, Cors::Origin(_)) {
                add_vary(headers, "Origin");
            }
            let requested_method = fields
                .values(&header::ACCESS_CONTROL_REQUEST_METHOD)
                .next()
                .is_some();
            if method == "OPTIONS" && requested_method {
                preflight(headers, fields);
            }
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// The answer to a CORS preflight (Fetch standard §3.2.3): the methods
/// allowed, the request fields asked for, and how long to remember it.
fn preflight<H: HeaderSource + ?Sized>(headers: &mut HeaderMap, fields: &H) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    // Every field a GET may carry is harmless to a static server: the ones
    // asked for are allowed as asked.
    let asked: Vec<&[u8]> = fields
        .values(&header::ACCESS_CONTROL_REQUEST_HEADERS)
        .collect();
    if !asked.is_empty()
        && let Ok(value) = HeaderValue::from_bytes(&asked.join(&b","[..]))
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    add_vary(
        headers,
        "Access-Control-Request-Method, Access-Control-Request-Headers",
    );
}

/// Adds `names` to `Vary`, beside what is there (`Accept-Encoding`).
fn add_vary(headers: &mut HeaderMap, names: &str) {
    let value = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => format!("{existing}, {names}"),
        _ => names.to_string(),
    };
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(header::VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_checked() {
        assert_eq!(Cors::parse("*"), Ok(Cors::Any));
        for good in [
            "https://app.example",
            "http://localhost:5173",
            "http://[::1]:80",
        ] {
            assert!(matches!(Cors::parse(good), Ok(Cors::Origin(_))), "{good}");
        }
        for bad in [
            "",
            "app.example",
            "https://",
            "https://a/b",
            "https://a b",
            "https://u@a",
        ] {
            assert!(Cors::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn framing_fields_cannot_be_added() {
        for name in [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ] {
            assert!(check_added_header(&name).is_err(), "{name}");
        }
        assert!(check_added_header(&header::CACHE_CONTROL).is_ok());
    }
}
