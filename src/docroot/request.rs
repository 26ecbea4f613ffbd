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

    /// Whether any of `names` is present: one look for several names that
    /// are nearly always all absent (preconditions, Range).
    fn has_any(&self, names: &[HeaderName]) -> bool {
        names.iter().any(|name| self.values(name).next().is_some())
    }

    /// The value of a field that may appear once; `Err` when it appears
    /// more than once.
    fn only<'s>(&'s self, name: &'s HeaderName) -> Result<Option<&'s [u8]>, Repeated> {
        let mut values = self.values(name);
        match (values.next(), values.next()) {
            (value, None) => Ok(value),
            (Some(_), Some(_)) | (None, Some(_)) => Err(Repeated),
        }
    }
}

/// A field that may appear once appeared more than once.
#[derive(Debug)]
pub struct Repeated;

/// Up to this many field names, a name is first looked for by comparing it
/// with each: most names docroot asks about are absent, and for the few
/// fields a request usually has, that says so for less than hashing it.
const SCAN_UP_TO: usize = 8;

impl HeaderSource for HeaderMap {
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        let absent = self.keys_len() <= SCAN_UP_TO && !self.keys().any(|key| key == name);
        let found = (!absent).then(|| self.get_all(name).iter());
        found.into_iter().flatten().map(HeaderValue::as_bytes)
    }

    fn only<'s>(&'s self, name: &'s HeaderName) -> Result<Option<&'s [u8]>, Repeated> {
        // With no name repeated (nearly every request), the first value is
        // the one: among a few fields, found by comparing names in order.
        if self.len() == self.keys_len() {
            let value = if self.keys_len() <= SCAN_UP_TO {
                self.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value)
            } else {
                self.get(name)
            };
            return Ok(value.map(HeaderValue::as_bytes));
        }
        let mut values = self.get_all(name).iter();
        match (values.next(), values.next()) {
            (value, None) => Ok(value.map(HeaderValue::as_bytes)),
            _ => Err(Repeated),
        }
    }

    fn has_any(&self, names: &[HeaderName]) -> bool {
        if self.keys_len() <= SCAN_UP_TO {
            // One pass over the few keys rather than one per name.
            self.keys().any(|key| names.contains(key))
        } else {
            names.iter().any(|name| self.contains_key(name))
        }
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
    // memchr rather than `split_once`: its searcher costs more than a short target.
    let find = |text: &str, byte: u8| memchr::memchr(byte, text.as_bytes());
    // Nearly every target: a path alone, found in one search.
    if target.starts_with('/') && memchr::memchr2(b'#', b'?', target.as_bytes()).is_none() {
        return Some((target, None));
    }
    let target = find(target, b'#').map_or(target, |at| &target[..at]);
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
    Some(match find(path_and_query, b'?') {
        Some(at) => (&path_and_query[..at], Some(&path_and_query[at + 1..])),
        None => (path_and_query, None),
    })
}

/// RFC 9112 §3.2 with RFC 3986 §3.2.2: `uri-host [ ":" port ]`, where the host
/// is an IP-literal in brackets (an IPv6 address or an IPvFuture), or a
/// reg-name / IPv4 address (unreserved, sub-delims, `%` and two hex digits).
/// The host may not be empty: RFC 9110 §4.2.1 forbids an `http` URI with an
/// empty host, and a recipient MUST reject one as invalid.
pub(super) fn is_valid_host(value: &[u8]) -> bool {
    let (host_ok, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        (is_ip_literal(&rest[..end]), &rest[end + 1..])
    } else {
        let (host, port) = match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, &[][..]),
        };
        (!host.is_empty() && is_reg_name(host), port)
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    host_ok && port_ok
}

/// [`is_valid_host`], remembering the last value found valid on this
/// thread: nearly every request names the same host as the one before.
pub(super) fn is_valid_host_remembered(value: &[u8]) -> bool {
    const LONGEST: usize = 64;
    thread_local! {
        static LAST: std::cell::RefCell<(usize, [u8; LONGEST])> =
            const { std::cell::RefCell::new((0, [0; LONGEST])) };
    }
    LAST.with_borrow_mut(|(len, last)| {
        if *len > 0 && last[..*len] == *value {
            return true;
        }
        let valid = is_valid_host(value);
        if valid && value.len() <= LONGEST {
            last[..value.len()].copy_from_slice(value);
            *len = value.len();
        }
        valid
    })
}

/// RFC 3986 §3.2.2: `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, the
/// part between the brackets. std's parser reads exactly RFC 4291's text forms.
fn is_ip_literal(literal: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = literal {
        // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail.iter().all(|&b| is(b, UNRESERVED | SUB_DELIM | COLON));
    }
    std::str::from_utf8(literal).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, which also
/// covers `IPv4address`.
fn is_reg_name(host: &[u8]) -> bool {
    well_formed(host, UNRESERVED | SUB_DELIM)
}

/// RFC 3986's character classes, one bit each, looked up per byte: the
/// check runs on every request's target and Host.
const UNRESERVED: u8 = 1; // ALPHA DIGIT - . _ ~ (§2.3)
const SUB_DELIM: u8 = 2; // ! $ & ' ( ) * + , ; = (§2.2)
const COLON: u8 = 4;
const AT: u8 = 8;
const SLASH: u8 = 16;
const QUESTION: u8 = 32;
/// `pchar` (§3.3), less the `%` that [`well_formed`] checks.
const PCHAR: u8 = UNRESERVED | SUB_DELIM | COLON | AT;
const PATH: u8 = PCHAR | SLASH;
const QUERY: u8 = PATH | QUESTION;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            UNRESERVED
        } else {
            match c {
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {
                    SUB_DELIM
                }
                b':' => COLON,
                b'@' => AT,
                b'/' => SLASH,
                b'?' => QUESTION,
                _ => 0,
            }
        };
        b += 1;
    }
    table
};

fn is(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// A byte a path segment or `/` may hold unescaped (`pchar` less `%`).
pub(super) fn is_path_byte(b: u8) -> bool {
    is(b, PATH)
}

/// Whether every byte of `text` is in `class` or starts a `%` HEXDIG HEXDIG.
fn well_formed(text: &[u8], class: u8) -> bool {
    // Nearly every text is all of the class: that is checked a byte at a
    // time with no branch but the class, the escapes only from the first other.
    let Some(mut i) = text.iter().position(|&b| !is(b, class)) else {
        return true;
    };
    while i < text.len() {
        if is(text[i], class) {
            i += 1;
        } else if text[i] == b'%'
            && text
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// Whether `target` is a request-target by RFC 9112 §3.2's grammar, in any
/// of its four forms, with every byte as RFC 3986 allows it: no byte outside
/// its character set (no space, control, `#`, `\`, `"`, `{`, non-ASCII ...),
/// and every `%` followed by two hex digits. The raw parser refuses most of
/// these bytes itself; hyper lets several through (UTF-8, `"`, `{`, `}`, `\`,
/// `^`, `|` ...), so this check, in docroot, is what holds for both. Whether
/// the form suits the method is decided later.
pub(super) fn is_valid_target(target: &str) -> bool {
    let bytes = target.as_bytes();
    if bytes == b"*" {
        return true;
    }
    if bytes.starts_with(b"/") {
        return is_path_and_query(bytes);
    }
    // absolute-form: scheme ":" hier-part [ "?" query ], here with an
    // authority (`//`), as every http(s) URI has; authority-form otherwise.
    let scheme_end = bytes.iter().position(|&b| b == b':').unwrap_or(0);
    let (scheme, rest) = bytes.split_at(scheme_end);
    if let Some(rest) = rest.strip_prefix(b"://") {
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        // userinfo is valid syntax (refused later, RFC 9110 §4.2.4).
        let host_port = match authority.iter().rposition(|&b| b == b'@') {
            Some(at) => {
                let userinfo = &authority[..at];
                if !well_formed(userinfo, UNRESERVED | SUB_DELIM | COLON) {
                    return false;
                }
                &authority[at + 1..]
            }
            None => authority,
        };
        return scheme_ok
            && (host_port.is_empty() || is_valid_host(host_port))
            && (path.is_empty() || is_path_and_query(path));
    }
    // authority-form (CONNECT): uri-host ":" port.
    bytes.contains(&b':') && is_valid_host(bytes)
}

/// `query` (RFC 3986 §3.4): pchars, `/` and `?`.
pub(super) fn is_query(bytes: &[u8]) -> bool {
    well_formed(bytes, QUERY)
}

/// `path-abempty [ "?" query ]`: pchars and `/`, then after the first `?`
/// pchars, `/` and `?`.
fn is_path_and_query(bytes: &[u8]) -> bool {
    // Most targets have neither query nor escape: one pass says so.
    if bytes.iter().all(|&b| is(b, PATH)) {
        return true;
    }
    match memchr::memchr(b'?', bytes) {
        Some(q) => well_formed(&bytes[..q], PATH) && well_formed(&bytes[q + 1..], QUERY),
        None => well_formed(bytes, PATH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_names_values_come_in_order_however_many_fields() {
        use http::header::{HOST, RANGE};
        for others in [0, 3, SCAN_UP_TO + 1] {
            let mut map = HeaderMap::new();
            map.append(RANGE, HeaderValue::from_static("bytes=0-1"));
            for i in 0..others {
                let name = HeaderName::try_from(format!("x-{i}")).unwrap();
                map.append(name, HeaderValue::from(i));
            }
            map.append(RANGE, HeaderValue::from_static("bytes=2-3"));
            let values: Vec<&[u8]> = HeaderSource::values(&map, &RANGE).collect();
            assert_eq!(values, [&b"bytes=0-1"[..], b"bytes=2-3"], "{others}");
            assert_eq!(HeaderSource::values(&map, &HOST).count(), 0, "{others}");
            // The one look for several names agrees with a look for each.
            assert!(map.has_any(&[HOST, RANGE]), "{others}");
            assert!(!map.has_any(&[HOST, http::header::IF_MATCH]), "{others}");
            assert!(!map.has_any(&[]), "{others}");
        }
    }

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

    #[test]
    fn a_field_that_may_appear_once_is_found_alone_or_found_repeated() {
        use http::header::{ACCEPT, HOST};
        let mut map = HeaderMap::new();
        assert!(matches!(map.only(&HOST), Ok(None)));
        map.append(HOST, HeaderValue::from_static("a"));
        assert_eq!(map.only(&HOST).unwrap(), Some(&b"a"[..]));
        // Another name repeated leaves Host alone.
        map.append(ACCEPT, HeaderValue::from_static("x"));
        map.append(ACCEPT, HeaderValue::from_static("y"));
        assert_eq!(map.only(&HOST).unwrap(), Some(&b"a"[..]));
        assert!(map.only(&ACCEPT).is_err());
        map.append(HOST, HeaderValue::from_static("b"));
        assert!(map.only(&HOST).is_err());
        let mut map = HeaderMap::new();
        map.append(ACCEPT, HeaderValue::from_static("x"));
        map.append(ACCEPT, HeaderValue::from_static("y"));
        assert!(matches!(map.only(&HOST), Ok(None)));
    }

    #[test]
    fn only_valid_hosts_are_remembered() {
        // On a thread that has remembered nothing, an empty Host is no match.
        let fresh = std::thread::spawn(|| is_valid_host_remembered(b"")).join();
        assert!(!fresh.unwrap());
        // An invalid value is refused each time it comes, not remembered.
        assert!(!is_valid_host_remembered(b"a b"));
        assert!(!is_valid_host_remembered(b"a b"));
        let long = format!("{}:80", "a".repeat(100));
        assert!(is_valid_host_remembered(long.as_bytes()));
        assert!(is_valid_host_remembered(long.as_bytes()));
    }

    #[test]
    fn host_values_by_rfc_3986() {
        for good in [
            "localhost",
            "localhost:12000",
            "example.com:",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[::ffff:192.0.2.1]",
            "[v1.fe:x]",
            "caf%C3%A9.example",
            "a!$&'()*+,;=-._~",
        ] {
            assert!(is_valid_host(good.as_bytes()), "{good}");
            assert!(is_valid_host_remembered(good.as_bytes()), "{good}");
            assert!(is_valid_host_remembered(good.as_bytes()), "{good} again");
        }
        for bad in [
            &b""[..],
            b":80",
            b"a b",
            b"a/b",
            b"a@b",
            b"a:port",
            b"a:80:80",
            b"caf\xc3\xa9",
            b"a%zz",
            b"a%2",
            b"[::1",
            b"[]",
            b"[::g]",
            b"[1.2.3.4]",
            b"[::1]x",
            b"[v.x]",
            b"[vz.x]",
            b"a\tb",
        ] {
            assert!(!is_valid_host(bad), "{}", bad.escape_ascii());
            // What was remembered stands only for itself: not for a value
            // it begins, or one beginning with it.
            for good in ["localhost:12000", "a"] {
                assert!(is_valid_host_remembered(good.as_bytes()));
                assert!(!is_valid_host_remembered(bad), "{}", bad.escape_ascii());
                let longer = [good.as_bytes(), bad].concat();
                assert_eq!(
                    is_valid_host_remembered(&longer),
                    is_valid_host(&longer),
                    "{}",
                    longer.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn request_targets_by_rfc_3986() {
        for good in [
            "*",
            "/",
            "/index.html",
            "/a%20b/c?x=1&y=/?z",
            "/!$&'()*+,;=:@-._~",
            "/%00",
            "http://localhost/x?q",
            "https://[::1]:443",
            "http://user:pw@host/",
            "localhost:443",
            "//a",
        ] {
            assert!(is_valid_target(good), "{good}");
        }
        for bad in [
            "/caf\u{e9}.html",
            "/a b",
            "/a#b",
            "/a\\b",
            "/a\"b",
            "/{x}",
            "/a|b",
            "/a^b",
            "/a`b",
            "/<a>",
            "/[a]",
            "/%",
            "/%2",
            "/%zz",
            "/a?%g0",
            "/a?b#c",
            "/a\tb",
            "/a\x7fb",
            "index.html",
            "",
            "http://a b/",
            "1http://a/",
            "http://[::1/",
            "localhost",
        ] {
            assert!(!is_valid_target(bad), "{}", bad.escape_debug());
        }
    }
}
