//! Bytes as the page shows them: in the escaped form of the case files, a
//! line broken after every `\n` so that a request reads as lines while every
//! byte stays visible, and as a hex dump; both cut at a length a reader
//! can take in, saying how much was left out.

use std::fmt::Write as _;

use crate::compare::case::escape;
use crate::html::escape as esc;

/// The most bytes shown of one sent segment, or of an answer that is not
/// HTTP responses.
pub(super) const SHOWN_BYTES: usize = 1536;
/// The most bytes shown of one response body: enough to see what came back
/// (a page, the secret, a password file), short enough that the next
/// response on the stream is in view.
const SHOWN_BODY: usize = 320;
/// The most bytes a hex dump shows: enough for any head in the corpus, not
/// the 70,000 octets of its longest target.
pub(super) const HEX_BYTES: usize = 256;

/// One byte of escaped text: the characters that stand for it, and how many
/// bytes they stand for (a character other than an escape stands for its
/// UTF-8 bytes).
struct Token<'t> {
    text: &'t str,
    bytes: usize,
    newline: bool,
}

/// Splits `escape_ascii`-style text into its escapes and characters.
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        let len = match (c, rest.as_bytes().get(1)) {
            ('\\', Some(b'x')) => 4.min(rest.len()),
            ('\\', Some(_)) => 2,
            _ => c.len_utf8(),
        };
        let (text, tail) = rest.split_at(len);
        rest = tail;
        Some(Token {
            text,
            bytes: if c == '\\' { 1 } else { len },
            newline: text == "\\n",
        })
    })
}

/// Escaped text (the case file's form, or `escape_ascii` of bytes
/// received) as HTML for a `<pre>`: a real line break after each `\n`, cut
/// after `limit` bytes with a note of how many more there were.
pub(super) fn escaped(text: &str, limit: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(limit.saturating_mul(4)) + 64);
    let mut bytes = 0;
    let mut more = 0;
    for token in tokens(text) {
        if bytes >= limit {
            more += token.bytes;
            continue;
        }
        bytes += token.bytes;
        shown.push_str(token.text);
        if token.newline {
            shown.push('\n');
        }
    }
    let mut html = esc(&shown);
    if more > 0 {
        let _ = write!(
            html,
            "\n<i class=\"cut\">… {} more bytes</i>",
            thousands(more)
        );
    }
    html
}

/// What a server returned, as HTML for a `<pre>`: each response it holds
/// with its head whole and its body cut after [`SHOWN_BODY`] bytes, then
/// any bytes after the last whole response. `methods` are the case's
/// request methods in order (a response to HEAD has no body), GET by default.
pub(super) fn received(bytes: &[u8], methods: &[String]) -> String {
    let mut reader = crate::client::ResponseReader::new(bytes);
    let mut spans = Vec::new();
    loop {
        let start = reader.position() as usize;
        let method = methods.get(spans.len()).map_or("GET", String::as_str);
        if reader.read_message(method).is_err() {
            break;
        }
        spans.push(start..reader.position() as usize);
    }
    let rest = spans.last().map_or(0, |span| span.end);
    let mut html = String::new();
    for (n, span) in spans.iter().enumerate() {
        if spans.len() > 1 {
            let _ = writeln!(
                html,
                "<i class=\"cut\">── response {} of {}</i>",
                n + 1,
                spans.len()
            );
        }
        let message = &bytes[span.clone()];
        let head_len = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |at| at + 4);
        html.push_str(&escaped(&escape(&message[..head_len]), usize::MAX));
        let body = &message[head_len..];
        if !body.is_empty() {
            html.push_str(&escaped(&escape(body), SHOWN_BODY));
            if !html.ends_with('\n') {
                html.push('\n');
            }
        }
    }
    if rest < bytes.len() {
        if !spans.is_empty() {
            let _ = writeln!(
                html,
                "<i class=\"cut\">── after the last whole response</i>"
            );
        }
        html.push_str(&escaped(&escape(&bytes[rest..]), SHOWN_BYTES));
    }
    html.trim_end().to_string()
}

/// A classic hex dump of the first [`HEX_BYTES`] of `bytes`: offset, sixteen
/// bytes in two groups of eight, and the printable ones as text.
pub(super) fn hex_dump(bytes: &[u8]) -> String {
    let mut dump = String::new();
    for (row, chunk) in bytes.chunks(16).take(HEX_BYTES / 16).enumerate() {
        let _ = write!(dump, "{:04x} ", row * 16);
        for i in 0..16 {
            if i == 8 {
                dump.push(' ');
            }
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(dump, " {b:02x}");
                }
                None => dump.push_str("   "),
            }
        }
        dump.push_str("  |");
        dump.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        dump.push_str("|\n");
    }
    let mut html = esc(dump.trim_end());
    if bytes.len() > HEX_BYTES {
        let _ = write!(
            html,
            "\n<i class=\"cut\">… {} more bytes</i>",
            thousands(bytes.len() - HEX_BYTES)
        );
    }
    html
}

/// `69744` as `69,744`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_after_each_newline_escape_only() {
        assert_eq!(
            escaped(r"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 100),
            "GET / HTTP/1.1\\r\\n\nHost: a\\r\\n\n\\r\\n\n"
        );
        // An escaped backslash followed by `n` is two bytes, not a newline.
        assert_eq!(escaped(r"a\\nb", 100), r"a\\nb");
        assert_eq!(escaped(r"\x00\xff<", 100), r"\x00\xff&lt;");
    }

    #[test]
    fn long_text_is_cut_with_the_count_of_the_rest() {
        let shown = escaped(&"a\\x41".repeat(1000), 10);
        assert!(shown.starts_with("a\\x41a\\x41"), "{shown}");
        assert!(shown.ends_with("… 1,990 more bytes</i>"), "{shown}");
        assert_eq!(thousands(69744), "69,744");
        assert_eq!(thousands(100), "100");
    }

    #[test]
    fn each_response_whole_head_short_body() {
        let body = "x".repeat(400);
        let stream = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{body}\
             HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok<leftover"
        );
        let shown = received(stream.as_bytes(), &[]);
        assert_eq!(
            shown,
            format!(
                "<i class=\"cut\">── response 1 of 2</i>\n\
                 HTTP/1.1 200 OK\\r\\n\nContent-Length: 400\\r\\n\n\\r\\n\n\
                 {}\n<i class=\"cut\">… 80 more bytes</i>\n\
                 <i class=\"cut\">── response 2 of 2</i>\n\
                 HTTP/1.1 200 OK\\r\\n\nContent-Length: 2\\r\\n\n\\r\\n\nok\n\
                 <i class=\"cut\">── after the last whole response</i>\n&lt;leftover",
                "x".repeat(320)
            )
        );
        // A HEAD's response has no body: what follows is the next response.
        let head_then_get = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let shown = received(head_then_get, &["HEAD".into(), "GET".into()]);
        assert!(
            shown.contains("response 2 of 2") && shown.ends_with("hello"),
            "{shown}"
        );
        // Not HTTP at all: the bytes as they came.
        assert_eq!(received(b"\x16\x03", &[]), "\\x16\\x03");
    }

    #[test]
    fn hex_dump_rows() {
        let dump = hex_dump(b"GET / HTTP/1.1\r\n<b>");
        assert_eq!(
            dump,
            "0000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|\n\
             0010  3c 62 3e                                          |&lt;b&gt;|"
        );
        assert!(hex_dump(&[b'x'; 300]).ends_with("… 44 more bytes</i>"));
    }
}
