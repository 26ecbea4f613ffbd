//! A request as docroot sees it, whichever backend parsed it: method, raw
//! target, version and read access to the header fields, plus the checks on
//! the `Host` value and the request-target that RFC 9112 leaves to the server.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// HTTP version of a request, as far as the answer depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Read access to a request's header fields, whichever parser produced them.
pub trait HeaderSource {
    /// Every field value named `name` (matched ASCII case-insensitively), in order.
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's;
}

impl HeaderSource for HeaderMap {
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        self.get_all(name).iter().map(HeaderValue::as_bytes)
    }
}

/// A request as the backend parsed it; the target is the raw request-target.
#[derive(Debug)]
pub struct RequestView<'a, H: ?Sized> {
    pub method: &'a str,
    pub target: &'a str,
    pub version: Version,
    pub headers: &'a H,
}

/// The path and query of an origin-form or absolute-form target (RFC 9112
/// §3.2.1, §3.2.2); `None` for asterisk- and authority-form, which a GET or
/// HEAD may not use. A fragment, never valid in a request-target, is dropped
/// as hyper does (the raw parser rejects it before this point).
pub(super) fn origin_path(target: &str) -> Option<(&str, Option<&str>)> {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        // RFC 9112 §3.2.2: an origin server MUST accept absolute-form and
        // answer from its path. RFC 9110 §4.2.1: an http(s) URI with an empty
        // host is invalid; §4.2.4: userinfo in one MUST be treated as an error.
        let (scheme, rest) = target.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host);
        if host.is_empty() || authority.contains('@') {
            return None;
        }
        match rest.as_bytes().get(end) {
            Some(b'/') => &rest[end..],
            Some(_) => return Some(("/", Some(&rest[end + 1..]))),
            None => "/",
        }
    };
    Some(match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    })
}

/// RFC 9112 §3.2 with RFC 3986 §3.2.2: `uri-host [ ":" port ]`, where the host
/// is an IP-literal in brackets or a reg-name (unreserved, sub-delims, pct-encoded).
pub(super) fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&[][..], &rest[end + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, &[][..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok
        && host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_needs_a_host_and_no_userinfo() {
        for target in [
            "http://",
            "http:///index.html",
            "http://:80/index.html",
            "http://user:pw@localhost/index.html",
            "http://@localhost/",
            "https://?x",
        ] {
            assert_eq!(origin_path(target), None, "{target}");
        }
        assert_eq!(origin_path("http://localhost"), Some(("/", None)));
        assert_eq!(
            origin_path("HTTP://localhost:80/index.html"),
            Some(("/index.html", None))
        );
        assert_eq!(origin_path("http://[::1]:80/?q"), Some(("/", Some("q"))));
    }
}
