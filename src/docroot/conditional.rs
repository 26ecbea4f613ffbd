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

/// The validators of the selected representation; none for a file changed
/// within the last second (`Representation::settle`): no tag then matches
/// but `*`, and the dates are ignored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Validators<'a> {
    /// The strong ETag, quotes included.
    pub(super) etag: Option<&'a str>,
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
            tags.len() == 1
                && !tags[0].0
                && v.etag
                    .is_some_and(|etag| tags[0].1 == etag.trim_matches('"'))
        });
    }
    match (parse_date(text), v.modified) {
        (Some(date), Some(modified)) => date == seconds(modified),
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
    parse_date(text)
}

/// An HTTP-date (RFC 9110 §5.6.7) in seconds since the epoch, or `None`.
/// httpdate reads all three formats, but puts an RFC 850 date's two-digit
/// year in 1970–2069 whatever the date today; §5.6.7 says a recipient MUST
/// read one that would be more than 50 years in the future as the most recent
/// past year with those digits. So that form is read here, with that window.
fn parse_date(text: &str) -> Option<u64> {
    match rfc850(text) {
        Some(parts) => {
            let now = seconds(SystemTime::now());
            rfc850_seconds(parts, civil_from_days(now / 86_400).0)
        }
        None => httpdate::parse_http_date(text).ok().map(seconds),
    }
}

/// The fields of `weekday, DD-Mon-YY HH:MM:SS GMT`: weekday (0 = Sunday),
/// day, month (1–12), two-digit year, and seconds into the day.
type Rfc850 = (u32, u32, u32, u32, u32);

/// Reads the RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`), or `None`.
fn rfc850(text: &str) -> Option<Rfc850> {
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (day_name, rest) = text.split_once(", ")?;
    let weekday = DAYS.iter().position(|d| *d == day_name)? as u32;
    // DD-Mon-YY HH:MM:SS GMT
    let b = rest.as_bytes();
    let shape = b.len() == 22
        && b[2] == b'-'
        && b[6] == b'-'
        && b[9] == b' '
        && b[12] == b':'
        && b[15] == b':'
        && &b[18..] == b" GMT";
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &rest[range];
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let month = MONTHS.iter().position(|m| *m == &rest[3..6])? as u32 + 1;
    let (hour, minute, second) = (number(10..12)?, number(13..15)?, number(16..18)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let time = hour * 3600 + minute * 60 + second;
    Some((weekday, number(0..2)?, month, number(7..9)?, time))
}

/// The RFC 850 date in seconds since the epoch, its year the one ending in
/// its two digits that is at most 50 years after `this_year`, the weekday
/// checked against that date (as httpdate checks every date), or `None`.
fn rfc850_seconds((weekday, day, month, yy, time): Rfc850, this_year: i64) -> Option<u64> {
    let mut year = this_year - this_year.rem_euclid(100) + i64::from(yy);
    if year > this_year + 50 {
        year -= 100;
    }
    let days = days_from_civil(year, month, day);
    let real = civil_from_days(u64::try_from(days).ok()?) == (year, month, day);
    let right_day = (days + 4).rem_euclid(7) == i64::from(weekday); // 1970-01-01 was a Thursday
    (real && right_day).then(|| days as u64 * 86_400 + u64::from(time))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month, day) `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// HTTP dates have one-second resolution; file times are finer.
fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `*` or a list of entity-tags, one of which matches `etag`.
fn list_matches(field: &str, etag: Option<&str>, strong: bool) -> bool {
    if field.trim_matches([' ', '\t']) == "*" {
        return true;
    }
    let Some(etag) = etag else {
        return false;
    };
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
            etag: Some("\"abc\""),
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

    #[test]
    fn an_rfc_850_year_is_read_within_fifty_years_ahead() {
        let read = |text: &str, this_year| rfc850(text).and_then(|p| rfc850_seconds(p, this_year));
        let imf = |text: &str| httpdate::parse_http_date(text).ok().map(seconds);
        // In 2026: up to 2076 ahead, from 2077 on a century back.
        assert_eq!(
            read("Tuesday, 01-Jan-75 00:00:00 GMT", 2026),
            imf("Tue, 01 Jan 2075 00:00:00 GMT")
        );
        assert_eq!(
            read("Saturday, 01-Jan-77 00:00:00 GMT", 2026),
            imf("Sat, 01 Jan 1977 00:00:00 GMT")
        );
        assert_eq!(
            read("Sunday, 06-Nov-94 08:49:37 GMT", 2026),
            imf("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            read("Tuesday, 14-Nov-23 22:13:20 GMT", 2026),
            imf("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        // In 2060, "94" is 2094, no longer 1994.
        assert_eq!(
            read("Thursday, 06-Nov-94 08:49:37 GMT", 2060),
            imf("Thu, 06 Nov 2094 08:49:37 GMT")
        );
        // Where httpdate reads 1975, and so finds the weekday wrong.
        assert!(httpdate::parse_http_date("Tuesday, 01-Jan-75 00:00:00 GMT").is_err());
        // Wrong weekday, no such day, bad shapes: not a date.
        for bad in [
            "Monday, 01-Jan-75 00:00:00 GMT",
            "Tuesday, 30-Feb-75 00:00:00 GMT",
            "Tuesday, 01-Jan-75 24:00:00 GMT",
            "Tuesday, 1-Jan-75 00:00:00 GMT",
            "Tue, 01-Jan-75 00:00:00 GMT",
            "Tuesday, 01-Jan-75 00:00:00 UTC",
        ] {
            assert_eq!(read(bad, 2026), None, "{bad}");
        }
        for days in [0, 1, 59, 365, 10_957, 19_675, 47_482, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days as i64);
        }
    }
}
