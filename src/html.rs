//! Escaping text for HTML, shared by the pages twinserve writes: the
//! directory listing (file names chosen by whoever fills the folder) and
//! compare's lesson page (bytes returned by any `--target`). One copy, so a
//! fix to it reaches both.

/// `text` safe in HTML element content and in a double- or single-quoted
/// attribute value: `& < > " '` become character references.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_quotes_become_references() {
        assert_eq!(
            super::escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        // Already escaped text is escaped again: it is text, not markup.
        assert_eq!(super::escape("&amp;"), "&amp;amp;");
        assert_eq!(super::escape("été"), "été");
    }
}
