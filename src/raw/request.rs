//! The raw backend's request-head parser: bytes in, a [`Head`] or a
//! [`ParseError`] out, with no I/O — the reader in `reader.rs` gathers the
//! bytes and calls [`parse_head`] once [`holds_whole_head`] says they are all there.
//!
//! It follows RFC 9112 §2–§3 and §5 (message format, request line, field
//! lines) and RFC 9110 §5 (field syntax) strictly: exactly one SP between the
//! parts of the request line, a token for the method and every field name, no
//! whitespace before a colon, no obs-fold, no bare CR, no control bytes in a
//! value. It accepts a bare LF as a line end and skips empty lines before the
//! request line (both MAYs of RFC 9112 §2.2). It does less than hyper in one
//! place, on purpose: it never reads a request body, so [`framing`] only
//! validates `Content-Length` / `Transfer-Encoding` and the caller closes the
//! connection after any request that has one (nothing can be smuggled after it).

use http::HeaderName;

use crate::docroot::{HeaderSource, Version};

/// One field line: the name as sent, the value with surrounding OWS removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    pub name: &'b str,
    pub value: &'b [u8],
}

/// A complete, valid request head, borrowing from the buffer it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'b> {
    pub method: &'b str,
    pub target: &'b str,
    pub version: Version,
    pub headers: Vec<Header<'b>>,
    /// Bytes the head took in the buffer, leading empty lines included; what
    /// follows is the next request (or a body).
    pub len: usize,
}

/// Limits the parser itself enforces; the head's total size is the reader's.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_request_line: usize,
    pub max_headers: usize,
}

/// Every way a request head can break a rule, one variant per rule; `status`
/// maps each to the one response status it earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the head is not complete yet")]
    Incomplete,
    #[error("a CR not followed by LF (RFC 9112 §2.2)")]
    BareCr,
    #[error("the request line is longer than the limit (RFC 9112 §3)")]
    RequestLineTooLong,
    #[error("the request line is not `method SP target SP version` (RFC 9112 §3)")]
    MalformedRequestLine,
    #[error("the method is not a token (RFC 9110 §9.1)")]
    InvalidMethod,
    #[error("the request-target has a byte RFC 3986 does not allow (RFC 9112 §3.2)")]
    InvalidTarget,
    #[error("the version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3)")]
    InvalidVersion,
    #[error("the HTTP major version is not 1 (RFC 9110 §6.2)")]
    UnsupportedVersion,
    #[error("a field line starts with whitespace: obs-fold (RFC 9112 §5.2, §2.2)")]
    ObsFold,
    #[error("a field line has no colon (RFC 9112 §5)")]
    MissingColon,
    #[error("a field name is empty (RFC 9110 §5.1)")]
    EmptyFieldName,
    #[error("whitespace between a field name and the colon (RFC 9112 §5.1)")]
    WhitespaceBeforeColon,
    #[error("a field name is not a token (RFC 9110 §5.1)")]
    InvalidFieldName,
    #[error("a field value holds NUL or a control byte (RFC 9110 §5.5)")]
    InvalidFieldValue,
    #[error("more field lines than the limit (RFC 6585 §5)")]
    TooManyHeaders,
    #[error("the head is larger than the limit (RFC 6585 §5)")]
    HeadTooLarge,
    #[error("Content-Length is not 1*DIGIT, overflows, or disagrees with itself (RFC 9110 §8.6)")]
    InvalidContentLength,
    #[error("both Transfer-Encoding and Content-Length (RFC 9112 §6.1)")]
    TransferEncodingWithContentLength,
    #[error("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)")]
    TransferEncodingInHttp10,
    #[error("chunked is not the final transfer coding, or appears twice (RFC 9112 §6.1)")]
    ChunkedNotFinal,
    #[error("a transfer coding this server does not implement (RFC 9112 §6.1)")]
    UnknownTransferCoding,
}

impl ParseError {
    /// The status each broken rule is answered with (hyper's mapping where it
    /// has one: 431 for size, 414 for the target, 505 for the version).
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ParseError::RequestLineTooLong => S::URI_TOO_LONG,
            ParseError::TooManyHeaders | ParseError::HeadTooLarge => {
                S::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UnsupportedVersion => S::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnknownTransferCoding => S::NOT_IMPLEMENTED,
            _ => S::BAD_REQUEST,
        }
    }
}

/// How a request says its body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

impl BodyFraming {
    pub fn has_body(self) -> bool {
        !matches!(self, BodyFraming::None | BodyFraming::Length(0))
    }
}

impl HeaderSource for [Header<'_>] {
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        named(self, name.as_str())
    }
}

/// Every value of the fields called `name`, matched ASCII case-insensitively.
fn named<'s>(headers: &'s [Header<'_>], name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The class bits of every byte value, so each check below is one lookup
/// rather than a search through a list of allowed bytes.
const CLASSES: [u8; 256] = classes();
const TCHAR: u8 = 1;
const TARGET: u8 = 2;
const VALUE: u8 = 4;

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        // tchar of RFC 9110 §5.6.2.
        if alnum
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            table[i] |= TCHAR;
        }
        // RFC 3986's pchar, `/`, `?`, and the brackets of an IP-literal.
        if alnum
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'%'
                    | b'['
                    | b']'
            )
        {
            table[i] |= TARGET;
        }
        // RFC 9110 §5.5: VCHAR, obs-text, SP and HTAB.
        if b == b'\t' || (b >= b' ' && b <= b'~') || b >= 0x80 {
            table[i] |= VALUE;
        }
        i += 1;
    }
    table
}

/// tchar of RFC 9110 §5.6.2: what methods and field names are made of.
fn is_tchar(b: u8) -> bool {
    CLASSES[b as usize] & TCHAR != 0
}

/// Bytes allowed in a request-target: RFC 3986's pchar, `/`, `?`, and the
/// brackets of an IP-literal in absolute-form. Not `#` (a fragment is not part
/// of a request-target), not whitespace, not `\`, not non-ASCII.
fn is_target_byte(b: u8) -> bool {
    CLASSES[b as usize] & TARGET != 0
}

/// Field-value bytes of RFC 9110 §5.5: VCHAR, obs-text, SP and HTAB.
fn is_value_byte(b: u8) -> bool {
    CLASSES[b as usize] & VALUE != 0
}

/// Eight bytes at a time, as one `u64`: the word-at-a-time tests below
/// answer for all eight at once, and a byte that needs a closer look is
/// checked on its own.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether every byte of `bytes` is a field-value byte. Values are most of a
/// head, so eight are looked at at once: a word with no control byte (below
/// SP, or DEL) is all value bytes; a word with one is checked byte by byte
/// (HTAB is allowed).
fn all_value_bytes(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if has_control_byte(w) && !word.iter().all(|&b| is_value_byte(b)) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| is_value_byte(b))
}

/// Whether any of the eight bytes of `w` is a control byte: below SP, or DEL.
/// Every byte that is not a field-value byte is one, and so are HTAB, CR, LF.
fn has_control_byte(w: u64) -> bool {
    control_mask(w) != 0
}

/// Where the first LF in `bytes` is, eight bytes at a time.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * u64::from(b'\n'));
        // The lowest high bit set marks the first byte that was an LF.
        let found = w.wrapping_sub(ONES) & !w & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

/// Strips OWS (RFC 9110 §5.6.3: SP and HTAB only) from both ends.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The next line of `buf` from `pos`: its content without the line end, and
/// the position after the LF. `None` when no LF has arrived yet.
fn next_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let lf = pos + find_lf(&buf[pos..])?;
    let line = &buf[pos..lf];
    // RFC 9112 §2.2: a recipient MAY accept a bare LF as a line terminator.
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, lf + 1))
}

/// Where the request line starts: RFC 9112 §2.2 says a server SHOULD ignore
/// at least one empty line received before it.
fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut pos = 0;
    loop {
        match &buf[pos..] {
            [b'\n', ..] => pos += 1,
            [b'\r', b'\n', ..] => pos += 2,
            _ => return pos,
        }
    }
}

/// Whether `buf` holds a whole head, found without parsing it: a blank line
/// (LF, then LF or CRLF) after the request line. When it does,
/// [`parse_head`] answers with the head or an error, never `Incomplete`; so
/// a reader can wait for this and then parse each head once.
pub fn holds_whole_head(buf: &[u8]) -> bool {
    let rest = &buf[skip_empty_lines(buf)..];
    // The usual case: the head is all that has arrived.
    if rest.ends_with(b"\n\r\n") || rest.ends_with(b"\n\n") {
        return true;
    }
    let mut from = 0;
    while let Some(lf) = rest[from..].iter().position(|&b| b == b'\n') {
        from += lf + 1;
        if rest[from..].starts_with(b"\n") || rest[from..].starts_with(b"\r\n") {
            return true;
        }
    }
    false
}

/// Parses one request head from the start of `buf`.
pub fn parse_head<'b>(buf: &'b [u8], limits: &HeadLimits) -> Result<Head<'b>, ParseError> {
    let mut pos = skip_empty_lines(buf);
    if buf[pos..] == *b"\r" {
        // Half of an empty line, the LF still on its way.
        return Err(ParseError::Incomplete);
    }
    let Some((line, after)) = next_line(buf, pos) else {
        return Err(check_partial_request_line(&buf[pos..], limits));
    };
    if line.len() > limits.max_request_line {
        return Err(ParseError::RequestLineTooLong);
    }
    let (method, target, version) = parse_request_line(line)?;
    pos = after;

    let mut headers = Vec::with_capacity(16);
    loop {
        if let Some((header, after)) = clean_field_line(buf, pos) {
            if headers.len() == limits.max_headers {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push(header);
            pos = after;
            continue;
        }
        // The blank line that ends the head, and every line that breaks a
        // rule or has not fully arrived: the slow path names what it is.
        let Some((line, after)) = next_line(buf, pos) else {
            return Err(ParseError::Incomplete);
        };
        pos = after;
        if line.is_empty() {
            return Ok(Head {
                method,
                target,
                version,
                headers,
                len: pos,
            });
        }
        if headers.len() == limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(parse_field_line(line)?);
    }
}

/// Rejects a request line before its end arrives when it already breaks a
/// rule, so garbage (a TLS handshake, say) is answered at once instead of
/// holding the connection until the head timeout.
fn check_partial_request_line(partial: &[u8], limits: &HeadLimits) -> ParseError {
    if partial.len() > limits.max_request_line {
        return ParseError::RequestLineTooLong;
    }
    let method_end = partial
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(partial.len());
    let method = &partial[..method_end];
    // A trailing CR may be the first half of the CRLF still on its way.
    let method = method.strip_suffix(b"\r").unwrap_or(method);
    if method.contains(&b'\r') {
        return ParseError::BareCr;
    }
    if !method.iter().all(|&b| is_tchar(b)) {
        return ParseError::InvalidMethod;
    }
    ParseError::Incomplete
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`.
fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), ParseError> {
    // A CR can pass none of the checks below, so it is looked for only when
    // one fails: a bare CR is named for what it is.
    split_request_line(line).map_err(|e| {
        if line.contains(&b'\r') {
            ParseError::BareCr
        } else {
            e
        }
    })
}

fn split_request_line(line: &[u8]) -> Result<(&str, &str, Version), ParseError> {
    // The usual line, `tchar+ SP target-byte+ SP rest`, split where the slow
    // split below would split it (SP is neither tchar nor a target byte).
    let method_end = tchar_prefix(line);
    if method_end > 0 && line.get(method_end) == Some(&b' ') {
        let target = &line[method_end + 1..];
        let target_end = target.iter().position(|&b| !is_target_byte(b));
        if let Some(target_end) = target_end.filter(|&end| end > 0 && target[end] == b' ') {
            let version = parse_version(&target[target_end + 1..])?;
            // SAFETY: tchar and target bytes are all ASCII.
            let (method, target) = unsafe {
                (
                    tchar_str(&line[..method_end]),
                    std::str::from_utf8_unchecked(&target[..target_end]),
                )
            };
            return Ok((method, target, version));
        }
    }
    split_request_line_slow(line)
}

/// The request line split at every SP first, then each part checked: how a
/// line the fast path above does not take is named for the rule it breaks.
fn split_request_line_slow(line: &[u8]) -> Result<(&str, &str, Version), ParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let (Some(target), Some(version)) = (parts.next(), parts.next()) else {
        // One part only: HTTP/0.9's `GET /path`, or a method alone (App. C.1).
        return Err(if method.iter().all(|&b| is_tchar(b)) {
            ParseError::MalformedRequestLine
        } else {
            ParseError::InvalidMethod
        });
    };
    if method.is_empty() || target.is_empty() {
        // Two spaces in a row, or a leading space: exactly one SP is allowed,
        // because lenient splitting is how request smuggling starts (§3).
        return Err(ParseError::MalformedRequestLine);
    }
    if !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::InvalidMethod);
    }
    if !target.iter().all(|&b| is_target_byte(b)) {
        return Err(ParseError::InvalidTarget);
    }
    let version = parse_version(version)?;
    // Only ASCII has passed the checks above, so these cannot fail.
    let as_str = |b| std::str::from_utf8(b).map_err(|_| ParseError::MalformedRequestLine);
    Ok((as_str(method)?, as_str(target)?, version))
}

/// RFC 9112 §2.3: `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`, case-sensitive.
fn parse_version(version: &[u8]) -> Result<Version, ParseError> {
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                // RFC 9110 §6.2: a higher minor version is processed as the
                // highest one the server supports.
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::UnsupportedVersion),
            }
        }
        _ if version.contains(&b' ') => Err(ParseError::MalformedRequestLine),
        _ => Err(ParseError::InvalidVersion),
    }
}

/// RFC 9112 §5: `field-line = field-name ":" OWS field-value OWS`.
fn parse_field_line(line: &[u8]) -> Result<Header<'_>, ParseError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        // §5.2: obs-fold MUST be rejected or replaced; §2.2: whitespace before
        // the first field line MUST be rejected or the line ignored.
        return Err(ParseError::ObsFold);
    }
    // The name is every tchar up to the colon; anything else is looked at closer.
    let colon = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    if colon == 0 || line.get(colon) != Some(&b':') {
        return Err(field_line_error(line));
    }
    let value = trim_ows(&line[colon + 1..]);
    if !all_value_bytes(value) {
        return Err(if line.contains(&b'\r') {
            ParseError::BareCr
        } else {
            ParseError::InvalidFieldValue
        });
    }
    let name = std::str::from_utf8(&line[..colon]).map_err(|_| ParseError::InvalidFieldName)?;
    Ok(Header { name, value })
}

/// The fast path for a field line, reading each byte once: it answers only
/// for a whole line that breaks no rule, exactly as [`next_line`] and
/// [`parse_field_line`] would, and `None` for everything else (a blank line,
/// a broken rule, a line not yet ended), which the slow path then looks at.
fn clean_field_line(buf: &[u8], pos: usize) -> Option<(Header<'_>, usize)> {
    let rest = &buf[pos..];
    // `name ":"`, the name all tchar and not empty; obs-fold fails here too,
    // since SP and HTAB are not tchar.
    let colon = tchar_prefix(rest);
    if colon == 0 || *rest.get(colon)? != b':' {
        return None;
    }
    // Leading OWS is trimmed with the trailing, once the line end is found.
    let value_start = colon + 1;
    let mut at = value_start;
    // The value runs to the line end: every byte up to the first control
    // byte is a value byte, and HTAB is the one control byte a value may hold.
    let (value_end, after) = loop {
        at += first_control_byte(&rest[at..]);
        match *rest.get(at)? {
            b'\n' => break (at, at + 1),
            b'\r' if rest.get(at + 1) == Some(&b'\n') => break (at, at + 2),
            b'\t' => at += 1,
            _ => return None,
        }
    };
    let value = trim_ows(&rest[value_start..value_end]);
    // SAFETY: `colon` is the length of the tchar run at the start of `rest`,
    // so every byte before it is one.
    let name = unsafe { tchar_str(&rest[..colon]) };
    Some((Header { name, value }, pos + after))
}

/// How many bytes at the start of `bytes` are tchar. Eight class lookups are
/// ANDed before one branch, so a name costs a branch per word, not per byte.
fn tchar_prefix(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let all = word.iter().fold(TCHAR, |all, &b| all & CLASSES[b as usize]);
        if all == 0 {
            break;
        }
        at += 8;
    }
    while bytes.get(at).is_some_and(|&b| is_tchar(b)) {
        at += 1;
    }
    at
}

/// Where the first control byte of `bytes` is (below SP, or DEL; HTAB, CR
/// and LF among them), or its length when it has none: sixteen bytes at a
/// time with SSE2 where every x86-64 has it, then eight in a `u64`.
fn first_control_byte(bytes: &[u8]) -> usize {
    let mut at = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(block) = bytes.get(at..at + 16) {
        let mask = control_mask_16(block.try_into().unwrap_or(&[0; 16]));
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    while let Some(word) = bytes.get(at..at + 8) {
        let mask = control_mask(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if mask != 0 {
            return at + (mask.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b < b' ' || b == 0x7f)
        .unwrap_or(bytes.len() - at)
}

/// A bit per control byte of `block` (below SP, or DEL), bit `i` for byte `i`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn control_mask_16(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: the load reads the 16 bytes of `block` (unaligned loads are
    // allowed), and SSE2 is enabled on every x86-64 target.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        // An unsigned byte is at least SP exactly when max(byte, SP) is the byte.
        let printable = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x20)), x);
        let del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
        ((!_mm_movemask_epi8(printable) | _mm_movemask_epi8(del)) & 0xffff) as u32
    }
}

/// The high bit of each byte of `w` that is a control byte (below SP, or
/// DEL), exactly: the low seven bits of each byte are added to on their own,
/// so no carry crosses into the next byte.
fn control_mask(w: u64) -> u64 {
    let low = w & (ONES * 0x7f);
    let at_least_space = low + ONES * (0x80 - 0x20);
    let del = low + ONES;
    (!at_least_space | del) & !w & HIGHS
}

/// Bytes already checked to be tchar, as a `str`, without checking them a
/// second time as UTF-8: that check would cost more than the field's parse.
///
/// # Safety
/// Every byte of `bytes` must be a tchar (`is_tchar`).
unsafe fn tchar_str(bytes: &[u8]) -> &str {
    debug_assert!(bytes.iter().all(|&b| is_tchar(b)));
    // SAFETY: the caller vouches that every byte is a tchar, every tchar is
    // ASCII, and ASCII bytes are valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// The rule a field line broke when its name does not run up to a colon.
fn field_line_error(line: &[u8]) -> ParseError {
    if line.contains(&b'\r') {
        return ParseError::BareCr;
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return ParseError::MissingColon;
    };
    match &line[..colon] {
        [] => ParseError::EmptyFieldName,
        // §5.1: a server MUST reject whitespace between name and colon; a
        // trimming parser here is CVE-2020-35884 (tiny_http).
        [.., b' ' | b'\t'] => ParseError::WhitespaceBeforeColon,
        _ => ParseError::InvalidFieldName,
    }
}

/// The comma-separated elements of every `name` field, with empty elements
/// dropped (RFC 9110 §5.6.1.2) and OWS trimmed.
fn list_elements<'h>(headers: &'h [Header<'h>], name: &'h str) -> impl Iterator<Item = &'h [u8]> {
    named(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Decides how the body is framed, refusing every ambiguous combination
/// (RFC 9112 §6.1, §6.3) rather than guessing, since this backend never reads a
/// body: when two parsers guess differently, that is request smuggling.
pub fn framing(head: &Head<'_>) -> Result<BodyFraming, ParseError> {
    let mut length = None;
    for element in list_elements(&head.headers, "content-length") {
        // 1*DIGIT checked byte by byte: `"+5".parse::<u64>()` is Ok(5).
        if !element.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidContentLength);
        }
        let value = element.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        let value = value.ok_or(ParseError::InvalidContentLength)?;
        if length.is_some_and(|seen| seen != value) {
            return Err(ParseError::InvalidContentLength);
        }
        length = Some(value);
    }
    let has_cl_field = named(&head.headers, "content-length").next().is_some();
    if has_cl_field && length.is_none() {
        // `Content-Length:` with an empty value, or only commas.
        return Err(ParseError::InvalidContentLength);
    }
    if named(&head.headers, "transfer-encoding").next().is_none() {
        return Ok(length.map_or(BodyFraming::None, BodyFraming::Length));
    }
    if head.version == Version::Http10 {
        return Err(ParseError::TransferEncodingInHttp10);
    }
    if has_cl_field {
        return Err(ParseError::TransferEncodingWithContentLength);
    }
    let codings: Vec<&[u8]> = list_elements(&head.headers, "transfer-encoding").collect();
    let is_chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, rest)) if is_chunked(last) && !rest.iter().any(is_chunked) => {
            if rest.is_empty() {
                Ok(BodyFraming::Chunked)
            } else {
                Err(ParseError::UnknownTransferCoding)
            }
        }
        _ => Err(ParseError::ChunkedNotFinal),
    }
}

/// Whether the connection stays open after this request (RFC 9112 §9.3):
/// HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 only with
/// `Connection: keep-alive`.
pub fn keeps_alive(head: &Head<'_>) -> bool {
    let has = |token: &[u8]| {
        list_elements(&head.headers, "connection").any(|e| e.eq_ignore_ascii_case(token))
    };
    match head.version {
        Version::Http11 => !has(b"close"),
        Version::Http10 => has(b"keep-alive") && !has(b"close"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_request_line: 8192,
        max_headers: 100,
    };

    fn parse(bytes: &[u8]) -> Result<Head<'_>, ParseError> {
        parse_head(bytes, &LIMITS)
    }

    fn err(bytes: &[u8]) -> ParseError {
        parse(bytes).expect_err("should not parse")
    }

    #[test]
    fn parses_a_browser_request() {
        let bytes = b"GET /index.html?x=1 HTTP/1.1\r\nHost: localhost:12000\r\nAccept: text/html\r\nX-Empty:\r\n\r\nNEXT";
        let head = parse(bytes).unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/index.html?x=1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.headers.len(), 3);
        assert_eq!(
            head.headers[0],
            Header {
                name: "Host",
                value: b"localhost:12000"
            }
        );
        assert_eq!(head.headers[2].value, b"");
        assert_eq!(&bytes[head.len..], b"NEXT");
    }

    #[test]
    fn incomplete_until_the_blank_line() {
        let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for end in 0..full.len() {
            assert_eq!(parse(&full[..end]), Err(ParseError::Incomplete), "{end}");
        }
        assert!(parse(full).is_ok());
    }

    #[test]
    fn bare_lf_and_leading_empty_lines_are_accepted() {
        let head = parse(b"\r\n\nGET / HTTP/1.1\nHost: a\n\n").unwrap();
        assert_eq!(head.headers[0].value, b"a");
        assert_eq!(head.len, 27);
    }

    #[test]
    fn value_ows_is_trimmed_and_obs_text_kept() {
        let head = parse(b"GET / HTTP/1.1\r\nX:  caf\xc3\xa9 \t\r\n\r\n").unwrap();
        assert_eq!(head.headers[0].value, b"caf\xc3\xa9");
    }

    #[test]
    fn one_error_per_rule() {
        use ParseError::*;
        let cases: &[(&[u8], ParseError)] = &[
            (b"GET / HTTP/1.1\rHost: a\r\n\r\n", BareCr),
            (b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", BareCr),
            (b"GET  / HTTP/1.1\r\n\r\n", MalformedRequestLine),
            (b" GET / HTTP/1.1\r\n\r\n", MalformedRequestLine),
            (b"GET / HTTP/1.1 \r\n\r\n", MalformedRequestLine),
            (b"GET /index.html\r\n\r\n", MalformedRequestLine),
            (b"GET\t/ HTTP/1.1\r\n\r\n", InvalidMethod),
            (b"GE(T / HTTP/1.1\r\n\r\n", InvalidMethod),
            (b"\x16\x03\x01\x00\xa5\x01\x00", InvalidMethod),
            (b"GET /a#b HTTP/1.1\r\n\r\n", InvalidTarget),
            (b"GET /my file HTTP/1.1\r\n\r\n", MalformedRequestLine),
            (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", InvalidTarget),
            (b"GET /a\\b HTTP/1.1\r\n\r\n", InvalidTarget),
            (b"GET / http/1.1\r\n\r\n", InvalidVersion),
            (b"GET / HTTP/1.10\r\n\r\n", InvalidVersion),
            (b"GET / HTTP/2.0\r\n\r\n", UnsupportedVersion),
            (b"GET / HTTP/1.1\r\n folded\r\n\r\n", ObsFold),
            (b"GET / HTTP/1.1\r\n\tX: a\r\n\r\n", ObsFold),
            (b"GET / HTTP/1.1\r\nX-Foo bar\r\n\r\n", MissingColon),
            (b"GET / HTTP/1.1\r\n: v\r\n\r\n", EmptyFieldName),
            (
                b"GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
                WhitespaceBeforeColon,
            ),
            (b"GET / HTTP/1.1\r\nX(Foo): bar\r\n\r\n", InvalidFieldName),
            (b"GET / HTTP/1.1\r\n\xefoo: bar\r\n\r\n", InvalidFieldName),
            (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", InvalidFieldValue),
            (b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", InvalidFieldValue),
        ];
        for (bytes, expected) in cases {
            assert_eq!(err(bytes), *expected, "{}", bytes.escape_ascii());
        }
    }

    #[test]
    fn http_1_2_is_processed_as_1_1() {
        assert_eq!(
            parse(b"GET / HTTP/1.2\r\n\r\n").unwrap().version,
            Version::Http11
        );
        assert_eq!(
            parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().version,
            Version::Http10
        );
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(err(long.as_bytes()), ParseError::RequestLineTooLong);
        // Known before the line ends, so a client cannot stall us below the limit.
        assert_eq!(
            err(&long.as_bytes()[..8500]),
            ParseError::RequestLineTooLong
        );
        let ok = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(8000));
        assert!(parse(ok.as_bytes()).is_ok());
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..101 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(err(&many), ParseError::TooManyHeaders);
    }

    fn framing_of(fields: &str) -> Result<BodyFraming, ParseError> {
        framing_for("HTTP/1.1", fields)
    }

    fn framing_for(version: &str, fields: &str) -> Result<BodyFraming, ParseError> {
        let bytes = format!("POST / {version}\r\n{fields}\r\n");
        framing(&parse(bytes.as_bytes()).unwrap())
    }

    #[test]
    fn body_framing() {
        use BodyFraming::*;
        use ParseError::*;
        assert_eq!(framing_of(""), Ok(None));
        assert_eq!(framing_of("Content-Length: 0\r\n"), Ok(Length(0)));
        assert_eq!(framing_of("Content-Length: 010\r\n"), Ok(Length(10)));
        assert_eq!(
            framing_of("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Length(5))
        );
        assert_eq!(framing_of("Content-Length: 5, 5\r\n"), Ok(Length(5)));
        assert_eq!(
            framing_of("Content-Length: 5\r\nContent-Length: 6\r\n"),
            Err(InvalidContentLength)
        );
        for bad in ["-1", "+5", "0x5", "", "5 5", "18446744073709551616"] {
            let fields = format!("Content-Length: {bad}\r\n");
            assert_eq!(framing_of(&fields), Err(InvalidContentLength), "{bad}");
        }
        assert_eq!(framing_of("Transfer-Encoding: chunked\r\n"), Ok(Chunked));
        assert_eq!(framing_of("Transfer-Encoding: ,CHUNKED\r\n"), Ok(Chunked));
        assert_eq!(
            framing_of("Transfer-Encoding: gzip, chunked\r\n"),
            Err(UnknownTransferCoding)
        );
        assert_eq!(
            framing_of("Transfer-Encoding: chunked, identity\r\n"),
            Err(ChunkedNotFinal)
        );
        assert_eq!(
            framing_of("Transfer-Encoding: xchunked\r\n"),
            Err(ChunkedNotFinal)
        );
        assert_eq!(
            framing_of("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            Err(ChunkedNotFinal)
        );
        assert_eq!(
            framing_of("Transfer-Encoding: chunked\r\nContent-Length: 6\r\n"),
            Err(TransferEncodingWithContentLength)
        );
        assert_eq!(
            framing_for("HTTP/1.0", "Transfer-Encoding: chunked\r\n"),
            Err(TransferEncodingInHttp10)
        );
    }

    #[test]
    fn persistence() {
        let alive = |bytes: &[u8]| keeps_alive(&parse(bytes).unwrap());
        assert!(alive(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!alive(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n"));
        assert!(!alive(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(alive(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn a_whole_head_is_found_without_parsing() {
        let whole: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next",
            b"GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
            b"garbage\n\n",
        ];
        for bytes in whole {
            assert!(holds_whole_head(bytes), "{}", bytes.escape_ascii());
            assert_ne!(parse(bytes).err(), Some(ParseError::Incomplete));
        }
        let partial: &[&[u8]] = &[
            b"",
            b"\r\n\r\n",
            b"\n\n\r",
            b"GET / HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        ];
        for bytes in partial {
            assert!(!holds_whole_head(bytes), "{}", bytes.escape_ascii());
        }
    }

    /// Every byte at every place of every length below 64, among bytes that
    /// pass: the scans' later blocks and their tails are reached as often as
    /// their first (a random line rarely has 16 clean bytes in a row).
    #[test]
    fn scans_find_every_byte_at_every_place() {
        let is_control = |b: u8| b < b' ' || b == 0x7f;
        for len in 1..64 {
            for place in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[place] = b;
                    let control = if is_control(b) { place } else { len };
                    assert_eq!(
                        first_control_byte(&bytes),
                        control,
                        "{b:#x} at {place} of {len}"
                    );
                    let tchars = if is_tchar(b) { len } else { place };
                    assert_eq!(tchar_prefix(&bytes), tchars, "{b:#x} at {place} of {len}");
                }
            }
        }
        // The eight-byte mask on its own (x86-64 reaches it only for tails),
        // with neighbours that would carry into the byte if anything did.
        for neighbour in [b'a', 0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff] {
            for place in 0..8 {
                for b in 0..=255u8 {
                    let mut word = [neighbour; 8];
                    word[place] = b;
                    let want = word
                        .iter()
                        .enumerate()
                        .filter(|&(_, &w)| is_control(w))
                        .fold(0u64, |mask, (i, _)| mask | 0x80 << (8 * i));
                    assert_eq!(control_mask(u64::from_le_bytes(word)), want, "{word:?}");
                }
            }
        }
    }

    proptest::proptest! {
        /// The word-at-a-time scans answer as the byte-at-a-time rules do, for
        /// any bytes, at any alignment and length.
        #[test]
        fn word_scans_agree_with_byte_scans(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 9, 10, 13, 31, 32, 65, 126, 127, 128, 255]),
                0..60,
            ),
        ) {
            proptest::prop_assert_eq!(
                first_control_byte(&bytes),
                bytes.iter().position(|&b| b < b' ' || b == 0x7f).unwrap_or(bytes.len())
            );
            proptest::prop_assert_eq!(
                all_value_bytes(&bytes),
                bytes.iter().all(|&b| is_value_byte(b))
            );
            proptest::prop_assert_eq!(find_lf(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }

        /// The request line's fast path answers as the split at every SP does.
        #[test]
        fn request_line_fast_path_agrees_with_the_split(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"GET"[..], b" ", b" ", b"/", b"/a?b=1", b"HTTP/1.1", b"HTTP/1.0",
                    b"\r", b"\t", b"#", b"\xc3\xa9", b"(", b"x",
                ]),
                0..8,
            ),
        ) {
            let line = pieces.concat();
            proptest::prop_assert_eq!(split_request_line(&line), split_request_line_slow(&line));
        }

        /// The fast path for a field line agrees with the slow one wherever
        /// it answers: same field, same end of line. Lines are built as name,
        /// colon, OWS, value and line end, each part sometimes broken, the
        /// good parts drawn more often, so that the fast path answers in about
        /// one case in ten.
        #[test]
        fn clean_field_line_agrees_with_the_slow_path(
            name in proptest::sample::select(vec![
                &b"Host"[..], b"X", b"accept-encoding", b"Host", b"X", b"",
                b"Bad Name", b"x\x00", b"\xc3\xa9",
            ]),
            colon in proptest::sample::select(vec![&b":"[..], b":", b":", b"", b" :"]),
            ows in proptest::sample::select(vec![&b""[..], b" ", b"\t", b"  \t"]),
            value in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"value"[..], b"a,b;q=0.9", b" ", b"\t", b"12345678", b"(", b"\xc3\xa9",
                    b"value", b"a,b;q=0.9", b"12345678", b"\x00", b"\x7f", b"\r",
                ]),
                0..6,
            ),
            end in proptest::sample::select(vec![
                &b"\r\n"[..], b"\n", b"\r\n X", b"\r\n", b"\r", b"",
            ]),
        ) {
            let bytes = [name, colon, ows, &value.concat(), end].concat();
            if let Some((header, after)) = clean_field_line(&bytes, 0) {
                let (line, slow_after) = next_line(&bytes, 0).expect("a whole line");
                proptest::prop_assert_eq!(parse_field_line(line), Ok(header));
                proptest::prop_assert_eq!(after, slow_after);
            }
        }

        /// What lets the reader parse each head once: a head found whole never
        /// parses as `Incomplete`, and a head that parses was found whole.
        #[test]
        fn found_whole_agrees_with_the_parser(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "GET / HTTP/1.1", "\r\n", "\n", "\r", " ", "X: a", ":", "a", "\t",
                ]),
                0..16,
            ),
        ) {
            let bytes = pieces.concat().into_bytes();
            let parsed = parse(&bytes);
            if holds_whole_head(&bytes) {
                proptest::prop_assert!(!matches!(parsed, Err(ParseError::Incomplete)));
            }
            if parsed.is_ok() {
                proptest::prop_assert!(holds_whole_head(&bytes));
            }
        }
    }

    #[test]
    fn status_per_error() {
        assert_eq!(ParseError::RequestLineTooLong.status(), 414);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        assert_eq!(ParseError::UnknownTransferCoding.status(), 501);
        assert_eq!(ParseError::ObsFold.status(), 400);
    }
}

/// The fast path must change nothing `parse_head` answers, for any
/// head: the same head or the same error as a loop with the slow path alone.
#[cfg(test)]
mod fast_path {
    use super::*;

    #[test]
    fn every_tchar_and_target_byte_is_ascii() {
        // What `tchar_str`'s safety, and the request line's, rest on.
        assert!((0x80..=0xff).all(|b| !is_tchar(b) && !is_target_byte(b)));
    }

    /// `parse_head` as it was before the fast path: every line through
    /// `next_line` and `parse_field_line`.
    fn parse_head_slow<'b>(buf: &'b [u8], limits: &HeadLimits) -> Result<Head<'b>, ParseError> {
        let mut pos = skip_empty_lines(buf);
        if buf[pos..] == *b"\r" {
            return Err(ParseError::Incomplete);
        }
        let Some((line, after)) = next_line(buf, pos) else {
            return Err(check_partial_request_line(&buf[pos..], limits));
        };
        if line.len() > limits.max_request_line {
            return Err(ParseError::RequestLineTooLong);
        }
        let (method, target, version) = parse_request_line(line)?;
        pos = after;
        let mut headers = Vec::new();
        loop {
            let Some((line, after)) = next_line(buf, pos) else {
                return Err(ParseError::Incomplete);
            };
            pos = after;
            if line.is_empty() {
                return Ok(Head {
                    method,
                    target,
                    version,
                    headers,
                    len: pos,
                });
            }
            if headers.len() == limits.max_headers {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push(parse_field_line(line)?);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn parse_head_with_and_without_the_fast_path_agree(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"X"[..], b"Host", b"a-b", b":", b": ", b" ", b"\t", b"\r", b"\n",
                    b"\r\n", b"\r\n\r\n", b"\n\n", b"value ", b"v8bytes!", b"12345678",
                    b"\x00", b"\x7f", b"\x0b", b"\xc3\xa9", b"\xff", b"(", b",", b"\r\r\n",
                    b" \r\n", b"\t\r\n", b"\r\n ", b"\r\n\t",
                ]),
                0..24,
            ),
            max_headers in 0usize..4,
        ) {
            let limits = HeadLimits { max_request_line: 64, max_headers };
            let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
            buf.extend(pieces.concat());
            proptest::prop_assert_eq!(parse_head(&buf, &limits), parse_head_slow(&buf, &limits));
        }
    }
}
