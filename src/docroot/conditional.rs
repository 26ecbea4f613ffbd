//! Conditional requests (RFC 9110 §13): evaluates If-Match,
//! If-Unmodified-Since, If-None-Match and If-Modified-Since in the order of
//! §13.2.2 against a representation's ETag and Last-Modified, and If-Range
//! (§13.1.5) for range requests.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderName, header};

use super::request::HeaderSource;

/// What the preconditions say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Serve as usual.
    Proceed,
    /// 304: the client's copy is current (GET and HEAD only).
    NotModified,
    /// 412: a precondition failed.
    Failed,
}

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Validators<'a> {
    /// The strong ETag, quotes included.
    pub(super) etag: &'a str,
    pub(super) modified: Option<SystemTime>,
}

/// §13.2.2, steps 1–4.
pub(super) fn evaluate<H: HeaderSource + ?Sized>(
    headers: &H,
    get_or_head: bool,
    v: Validators<'_>,
) -> Precondition {
    // Step 1: If-Match, strong comparison (§13.1.1).
    if let Some(field) = joined(headers, &header::IF_MATCH) {
        if !list_matches(&field, v.etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = single_date(headers, &header::IF_UNMODIFIED_SINCE) {
        // Step 2, only without If-Match; an invalid date is ignored.
        if v.modified.is_some_and(|m| seconds(m) > date) {
            return Precondition::Failed;
        }
    }
    // Step 3: If-None-Match, weak comparison (§13.1.2).
    if let Some(field) = joined(headers, &header::IF_NONE_MATCH) {
        if list_matches(&field, v.etag, false) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        // Step 4, only without If-None-Match and only for GET/HEAD (§13.1.3).
        if let Some(date) = single_date(headers, &header::IF_MODIFIED_SINCE)
            && v.modified.is_some_and(|m| seconds(m) <= date)
        {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// §13.1.5: whether a Range request may be served as a range. With an entity
/// tag, it must match strongly; with a date, it must equal Last-Modified
/// exactly. Anything else (absent field aside) means "send it all".
pub(super) fn if_range_allows<H: HeaderSource + ?Sized>(headers: &H, v: Validators<'_>) -> bool {
    let mut values = headers.values(&header::IF_RANGE);
    let (Some(value), None) = (values.next(), values.next()) else {
        // Absent: nothing to check. Repeated: invalid, so no range.
        return headers.values(&header::IF_RANGE).next().is_none();
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let text = text.trim_matches([' ', '\t']);
    if text.starts_with('"') || text.starts_with("W/") {
        return entity_tags(text).is_some_and(|tags| {
            tags.len() == 1 && !tags[0].0 && tags[0].1 == v.etag.trim_matches('"')
        });
    }
    match (httpdate::parse_http_date(text), v.modified) {
        (Ok(date), Some(modified)) => seconds(date) == seconds(modified),
        _ => false,
    }
}

/// All lines of a list field joined with commas (§5.3), or `None` if absent.
fn joined<H: HeaderSource + ?Sized>(headers: &H, name: &HeaderName) -> Option<String> {
    let parts: Vec<String> = headers
        .values(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// A date field given once with a valid HTTP-date (all three formats of
/// §5.6.7), in seconds since the epoch; otherwise `None`, and it is ignored.
fn single_date<H: HeaderSource + ?Sized>(headers: &H, name: &HeaderName) -> Option<u64> {
    let mut values = headers.values(name);
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    httpdate::parse_http_date(text).ok().map(seconds)
}

/// HTTP dates have one-second resolution; file times are finer.
fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `*` or a list of entity-tags, one of which matches `etag`.
fn list_matches(field: &str, etag: &str, strong: bool) -> bool {
    if field.trim_matches([' ', '\t']) == "*" {
        return true;
    }
    let opaque = etag.trim_matches('"');
    entity_tags(field).is_some_and(|tags| {
        tags.iter()
            .any(|(weak, tag)| tag == opaque && !(strong && *weak))
    })
}

/// Parses `#entity-tag` (§8.8.3): `[W/] "opaque"`, where the opaque part may
/// hold commas, so the list cannot simply be split on them. `None` if malformed.
fn entity_tags(field: &str) -> Option<Vec<(bool, String)>> {
    let mut tags = Vec::new();
    let mut rest = field;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        rest = rest.strip_prefix('"')?;
        let end = rest.find('"')?;
        tags.push((weak, rest[..end].to_string()));
        rest = &rest[end + 1..];
        if !(rest.is_empty() || rest.starts_with([',', ' ', '\t'])) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Fields(Vec<(&'static str, String)>);

    impl HeaderSource for Fields {
        fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
            self.0
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, v)| v.as_bytes())
        }
    }

    const MODIFIED: u64 = 1_700_000_000;

    fn v() -> Validators<'static> {
        Validators {
            etag: "\"abc\"",
            modified: Some(UNIX_EPOCH + Duration::from_secs(MODIFIED) + Duration::from_millis(500)),
        }
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn eval(fields: &[(&'static str, String)]) -> Precondition {
        evaluate(&Fields(fields.to_vec()), true, v())
    }

    #[test]
    fn the_order_of_section_13_2_2() {
        use Precondition::*;
        let s = |t: &str| t.to_string();
        assert_eq!(eval(&[]), Proceed);
        assert_eq!(eval(&[("if-match", s("\"abc\""))]), Proceed);
        assert_eq!(eval(&[("if-match", s("\"x\", \"abc\""))]), Proceed);
        assert_eq!(
            eval(&[("if-match", s("W/\"abc\""))]),
            Failed,
            "If-Match is strong"
        );
        assert_eq!(eval(&[("if-match", s("*"))]), Proceed);
        assert_eq!(
            eval(&[("if-unmodified-since", date(MODIFIED - 10))]),
            Failed
        );
        assert_eq!(eval(&[("if-unmodified-since", date(MODIFIED))]), Proceed);
        assert_eq!(
            eval(&[("if-unmodified-since", s("yesterday"))]),
            Proceed,
            "invalid: ignored"
        );
        assert_eq!(
            eval(&[("if-match", s("\"abc\"")), ("if-unmodified-since", date(1))]),
            Proceed,
            "If-Unmodified-Since is ignored when If-Match is present"
        );
        assert_eq!(
            eval(&[("if-none-match", s("W/\"abc\""))]),
            NotModified,
            "weak comparison"
        );
        assert_eq!(
            eval(&[("if-none-match", s("\"a,b\", \"abc\""))]),
            NotModified
        );
        assert_eq!(eval(&[("if-none-match", s("*"))]), NotModified);
        assert_eq!(eval(&[("if-none-match", s("\"zzz\""))]), Proceed);
        assert_eq!(eval(&[("if-modified-since", date(MODIFIED))]), NotModified);
        assert_eq!(eval(&[("if-modified-since", date(MODIFIED - 1))]), Proceed);
        assert_eq!(
            eval(&[
                ("if-none-match", s("\"zzz\"")),
                ("if-modified-since", date(MODIFIED))
            ]),
            Proceed,
            "If-Modified-Since is ignored when If-None-Match is present"
        );
        let rfc850 = "Tuesday, 14-Nov-23 22:13:20 GMT".to_string();
        let asctime = "Tue Nov 14 22:13:20 2023".to_string();
        assert_eq!(eval(&[("if-modified-since", rfc850)]), NotModified);
        assert_eq!(eval(&[("if-modified-since", asctime)]), NotModified);
        let post = evaluate(&Fields(vec![("if-none-match", s("*"))]), false, v());
        assert_eq!(post, Failed, "If-None-Match on POST is 412");
    }

    #[test]
    fn if_range() {
        let allows = |value: String| if_range_allows(&Fields(vec![("if-range", value)]), v());
        assert!(if_range_allows(&Fields(vec![]), v()));
        assert!(allows("\"abc\"".into()));
        assert!(!allows("W/\"abc\"".into()), "weak tags never match");
        assert!(!allows("\"zzz\"".into()));
        assert!(allows(date(MODIFIED)));
        assert!(!allows(date(MODIFIED + 1)), "a date must match exactly");
        assert!(!allows("garbage".into()));
    }
}
