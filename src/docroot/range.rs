//! Range requests (RFC 9110 §14): reads `Range: bytes=…` and decides, against
//! a representation's length, whether to send all of it, one part, or 416.
//!
//! Several disjoint ranges are answered with the whole representation (200),
//! a choice §14.2 allows ("a server MAY ignore the Range header field"): it
//! spares both backends a multipart body, and it is the safe answer to the
//! many-small-ranges abuse §17.15 warns of. Overlapping or adjacent ranges are
//! merged first, so `bytes=0-99,100-199` is still one part.

/// What to send for a Range request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeDecision {
    /// No usable Range (absent, malformed, another unit, several parts): 200.
    Full,
    /// One part: 206 with `Content-Range: bytes start-(start+len-1)/total`.
    Part { start: u64, len: u64 },
    /// Valid syntax, but no range overlaps the representation: 416.
    Unsatisfiable,
}

/// More ranges than this in one header are not worth parsing (§17.15).
const MAX_RANGES: usize = 100;

/// One `range-spec` before it meets a length.
enum Spec {
    /// `first-last` or `first-`.
    From { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

/// Decides the answer to `Range: value` for a representation of `len` bytes.
pub(super) fn decide(value: &[u8], len: u64) -> RangeDecision {
    let Some(specs) = parse(value) else {
        return RangeDecision::Full;
    };
    let mut parts: Vec<(u64, u64)> = specs
        .iter()
        .filter_map(|spec| match *spec {
            // §14.1.2: satisfiable when first-pos is less than the length...
            Spec::From { first, last } if first < len => {
                Some((first, last.map_or(len - 1, |l| l.min(len - 1))))
            }
            // ... or, for a suffix, when it is not zero (and there is content).
            Spec::Suffix(n) if n > 0 && len > 0 => Some((len - n.min(len), len - 1)),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    parts.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(parts.len());
    for (first, last) in parts {
        match merged.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    match merged.as_slice() {
        [(first, last)] => RangeDecision::Part {
            start: *first,
            len: last - first + 1,
        },
        _ => RangeDecision::Full,
    }
}

/// `ranges-specifier = range-unit "=" range-set` with the unit `bytes`
/// (case-insensitive); `None` for anything malformed, which is then ignored.
fn parse(value: &[u8]) -> Option<Vec<Spec>> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let (unit, set) = value.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in set.split(',').map(|e| e.trim_matches([' ', '\t'])) {
        if element.is_empty() {
            continue; // §5.6.1.2: empty list elements are ignored
        }
        if specs.len() == MAX_RANGES {
            return None;
        }
        let (first, last) = element.split_once('-')?;
        specs.push(match (first, last) {
            ("", suffix) => Spec::Suffix(digits(suffix)?),
            (first, "") => Spec::From {
                first: digits(first)?,
                last: None,
            },
            (first, last) => {
                let (first, last) = (digits(first)?, digits(last)?);
                // §14.1.1: last-pos below first-pos makes the whole set invalid.
                if last < first {
                    return None;
                }
                Spec::From {
                    first,
                    last: Some(last),
                }
            }
        });
    }
    (!specs.is_empty()).then_some(specs)
}

/// `1*DIGIT` as a u64, refusing signs, spaces and overflow.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::RangeDecision::*;
    use super::*;

    #[test]
    fn single_ranges() {
        let d = |v: &str| decide(v.as_bytes(), 1000);
        assert_eq!(d("bytes=0-4"), Part { start: 0, len: 5 });
        assert_eq!(d("bytes=995-"), Part { start: 995, len: 5 });
        assert_eq!(d("bytes=-5"), Part { start: 995, len: 5 });
        assert_eq!(
            d("bytes=-5000"),
            Part {
                start: 0,
                len: 1000
            }
        );
        assert_eq!(
            d("bytes=990-99999999"),
            Part {
                start: 990,
                len: 10
            }
        );
        assert_eq!(d("BYTES = 0-0"), Full, "no spaces around =");
        assert_eq!(d("Bytes=0-0"), Part { start: 0, len: 1 });
        assert_eq!(
            d("bytes=0-1, 2-3"),
            Part { start: 0, len: 4 },
            "adjacent merge"
        );
        assert_eq!(
            d("bytes=0-10,5-20"),
            Part { start: 0, len: 21 },
            "overlap merge"
        );
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        let d = |v: &str| decide(v.as_bytes(), 1000);
        assert_eq!(d("bytes=1000-"), Unsatisfiable);
        assert_eq!(d("bytes=-0"), Unsatisfiable);
        assert_eq!(decide(b"bytes=0-", 0), Unsatisfiable);
        for ignored in [
            "bytes=5-2",
            "items=0-1",
            "bytes=0-18446744073709551616",
            "bytes=+1-2",
            "bytes=",
            "bytes=a-b",
            "bytes 0-1",
            "bytes=0-1,10-20",
        ] {
            assert_eq!(d(ignored), Full, "{ignored}");
        }
    }

    /// `bytes=` followed by the specs, comma-separated.
    fn ranges(specs: impl Iterator<Item = String>) -> String {
        format!("bytes={}", specs.collect::<Vec<_>>().join(","))
    }

    #[test]
    fn at_most_max_ranges_specs_are_read() {
        let total = 10 * MAX_RANGES as u64;
        let d = |v: &str| decide(v.as_bytes(), total);
        let all = MAX_RANGES as u64;
        // Adjacent one-byte ranges merge into one part, however many there
        // are, so the limit alone can turn them into the whole (200).
        let adjacent = |n: usize| ranges((0..n).map(|i| format!("{i}-{i}")));
        assert_eq!(d(&adjacent(MAX_RANGES)), Part { start: 0, len: all });
        assert_eq!(d(&adjacent(MAX_RANGES + 1)), Full);
        // Every one past the end: 416 up to the limit, ignored beyond it.
        let beyond = |n: usize| ranges((0..n).map(|i| format!("{}-", total + i as u64)));
        assert_eq!(d(&beyond(MAX_RANGES)), Unsatisfiable);
        assert_eq!(d(&beyond(MAX_RANGES + 1)), Full);
        // Suffixes count like the rest.
        let suffixes = |n: usize| ranges((1..=n).map(|i| format!("-{i}")));
        let tail = Part {
            start: total - all,
            len: all,
        };
        assert_eq!(d(&suffixes(MAX_RANGES)), tail);
        assert_eq!(d(&suffixes(MAX_RANGES + 1)), Full);
        // Empty list elements are no ranges (§5.6.1.2): they do not count.
        let padded = format!("{},,,, ,", adjacent(MAX_RANGES));
        assert_eq!(d(&padded), Part { start: 0, len: all });
    }
}
