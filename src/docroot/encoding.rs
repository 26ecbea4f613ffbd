//! Content negotiation for precompressed files (RFC 9110 §12.5.3): reads
//! `Accept-Encoding` with its q-values and picks the best of the encodings a
//! file has beside it (`file.br`, `file.zst`, `file.gz`), or none.

use http::header;

use super::request::HeaderSource;

/// A precompressed sibling: its coding name and file suffix, best first
/// (brotli, then zstd, are smaller than gzip for the same text).
pub(super) const VARIANTS: &[(&str, &str)] = &[("br", "br"), ("zstd", "zst"), ("gzip", "gz")];

/// The coding to send among `available` (names from [`VARIANTS`]), or `None`
/// for the file itself. A coding with q=0 is refused, and so is one whose
/// weight is not a valid qvalue; `*` sets the weight of codings not listed;
/// equal weights go to the earlier of `available`.
pub(super) fn choose<'v, H: HeaderSource + ?Sized>(
    headers: &H,
    available: &[&'v str],
) -> Option<&'v str> {
    let fields: Vec<&[u8]> = headers.values(&header::ACCEPT_ENCODING).collect();
    if fields.is_empty() {
        return None; // §12.5.3: no field means no preference: send identity
    }
    let mut listed: Vec<(String, u16)> = Vec::new();
    for element in fields
        .iter()
        .flat_map(|f| f.split(|&b| b == b','))
        .filter_map(|e| std::str::from_utf8(e).ok())
    {
        let mut params = element.split(';');
        let coding = params.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let weight = params
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .map(parse_q)
            .next();
        // RFC 9110 §12.4.2: a weight outside the qvalue grammar makes the
        // element invalid, so it is ignored; it never counts as q=1.
        match weight {
            None => listed.push((coding, 1000)),
            Some(Some(q)) => listed.push((coding, q)),
            Some(None) => {}
        }
    }
    let weight = |coding: &str| {
        let alias = if coding == "gzip" { "x-gzip" } else { coding };
        listed
            .iter()
            .find(|(c, _)| c == coding || c == alias)
            .or_else(|| listed.iter().find(|(c, _)| c == "*"))
            .map_or(0, |(_, q)| *q)
    };
    let mut best: Option<(&'v str, u16)> = None;
    for &coding in available {
        let q = weight(coding);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    best.map(|(coding, _)| coding)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Accept(&'static str);

    impl HeaderSource for Accept {
        fn values<'s>(&'s self, name: &'s http::HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
            (name == "accept-encoding")
                .then_some(self.0.as_bytes())
                .into_iter()
        }
    }

    #[test]
    fn q_values_decide() {
        let both = ["br", "gzip"];
        let pick = |accept| choose(&Accept(accept), &both);
        assert_eq!(pick("gzip, deflate, br"), Some("br"));
        assert_eq!(pick("gzip"), Some("gzip"));
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Some("gzip"));
        assert_eq!(pick("br;q=0, gzip"), Some("gzip"));
        assert_eq!(pick("*"), Some("br"));
        assert_eq!(pick("*;q=0.1, br;q=0"), Some("gzip"));
        assert_eq!(pick("identity"), None);
        assert_eq!(pick("gzip;q=0, br;q=0"), None);
        assert_eq!(pick("x-gzip"), Some("gzip"));
        for invalid in [
            "br;q=1.5",
            "br;q=-1",
            "br;q=NaN",
            "br;q=",
            "br;q=0.0001",
            "br;q=1e0",
        ] {
            assert_eq!(pick(invalid), None, "{invalid} is no weight at all");
        }
        assert_eq!(pick("br;q=NaN, gzip;q=0.1"), Some("gzip"));
        assert_eq!(
            pick("br;q=x, *;q=0.2"),
            Some("br"),
            "br falls to the wildcard"
        );
        assert_eq!(choose(&Accept("br"), &["gzip"]), None);
        assert_eq!(parse_q("0.001"), Some(1));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
    }
}
