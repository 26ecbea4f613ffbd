//! The directory listing of `--list-dirs`: an HTML page of a folder that has
//! no `index.html`, sorted by name, every name escaped for HTML and every link
//! percent-encoded, so no file name can inject markup or point elsewhere.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{NON_ALPHANUMERIC, percent_encode};

/// One row of the listing.
struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// The page for `dir`, shown at `url_path` (its decoded request path, ending
/// in `/`). `visible` decides which entries appear (hidden files, symlinks out).
pub fn page(
    dir: &Path,
    url_path: &str,
    visible: impl Fn(&Path, &[u8]) -> bool,
) -> std::io::Result<String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().as_bytes().to_vec();
        let path = entry.path();
        if !visible(&path, &name) {
            continue;
        }
        // Follows symlinks, as serving the entry would.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() && !meta.is_dir() {
            continue;
        }
        entries.push(Entry {
            name,
            is_dir: meta.is_dir(),
            len: meta.len(),
            modified: meta.modified().ok(),
        });
    }
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
    Ok(html)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_linked_safely_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "12345").unwrap();
        std::fs::write(dir.path().join("<script>a?#.html"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        let html = page(dir.path(), "/files/", |_, name| !name.starts_with(b".")).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;a?#.html"));
        assert!(html.contains("href=\"./%3Cscript%3Ea%3F%23%2Ehtml\""));
        assert!(html.contains("href=\"./sub/\">sub/</a>"));
        assert!(html.contains("<td class=\"n\">5</td>"));
        assert!(!html.contains("hidden"));
        let order: Vec<usize> = ["&lt;script", "b.txt", "sub/"]
            .iter()
            .map(|n| html.find(n).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "sorted: {order:?}");
        assert!(html.contains("href=\"../\""));
    }
}
