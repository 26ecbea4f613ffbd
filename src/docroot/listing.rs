//! The directory listing of `--list-dirs`: an HTML page of a folder that has
//! no `index.html`, sorted by name, every name escaped for HTML and every link
//! percent-encoded, so no file name can inject markup or point elsewhere.

use std::fmt::Write as _;

use percent_encoding::{NON_ALPHANUMERIC, percent_encode};

/// One row of the listing, from the entry's own descriptor.
pub struct Entry {
    pub name: Vec<u8>,
    pub is_dir: bool,
    pub len: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// The page for a folder's visible `entries`, shown at `url_path` (its
/// request path, ending in `/`). Which entries are visible is the caller's
/// rule (hidden names, links out), kept in one place with serving.
pub fn page(url_path: &str, mut entries: Vec<Entry>) -> String {
    entries.sort_by(|a, b| a.name.cmp(&b.name));

    let title = html_escape(url_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <title>Index of {title}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem}}\
         td{{padding:.15rem 1rem .15rem 0}}td.n{{text-align:right}}</style>\n\
         </head><body>\n<h1>Index of {title}</h1>\n<table>\n\
         <tr><th>Name</th><th>Size</th><th>Last modified</th></tr>\n"
    );
    if url_path != "/" {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for entry in &entries {
        // Encode every byte that is not alphanumeric: the href stays a single
        // relative path segment whatever the name holds (`?`, `#`, `:`, `"`).
        let mut href = percent_encode(&entry.name, NON_ALPHANUMERIC).to_string();
        let mut shown = html_escape(&String::from_utf8_lossy(&entry.name));
        if entry.is_dir {
            href.push('/');
            shown.push('/');
        }
        let size = if entry.is_dir {
            "-".to_string()
        } else {
            entry.len.to_string()
        };
        let modified = entry
            .modified
            .map(httpdate::fmt_http_date)
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr><td><a href=\"./{href}\">{shown}</a></td><td class=\"n\">{size}</td><td>{modified}</td></tr>"
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
