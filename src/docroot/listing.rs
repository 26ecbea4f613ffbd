//! The directory listing (with `Options::list_dirs`): the entries of a folder
//! that has no `index.html`, each looked at as a request for it would be, and
//! the HTML page of them, sorted by name, every name shown decoded and
//! escaped for HTML, and every link percent-encoded where a URL needs it, so
//! no file name can inject markup or point elsewhere.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{percent_decode_str, percent_encode};

use super::beneath::Beneath;
use super::resolve::SEGMENT_ESCAPES;
use crate::html::escape as html_escape;

/// One row of the listing, from the entry's own descriptor.
pub(super) struct Entry {
    pub(super) name: Vec<u8>,
    pub(super) is_dir: bool,
    pub(super) len: u64,
    pub(super) modified: Option<std::time::SystemTime>,
}

/// The visible files and folders in `dir` (at `relative` below the root),
/// read from its descriptor: no `.` names unless `serve_hidden`, no link
/// that may not be followed, nothing but regular files and folders.
pub(super) fn entries(
    dir: &File,
    relative: &Path,
    beneath: &Beneath,
    serve_hidden: bool,
) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir.as_fd())? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." || (name.starts_with(b".") && !serve_hidden) {
            continue;
        }
        // The entry in this very folder; only a link is looked up again,
        // beneath the root, to see whether it may be followed.
        let Ok(meta) = beneath.entry(dir, relative, OsStr::from_bytes(name)) else {
            continue;
        };
        if meta.is_file() || meta.is_dir() {
            entries.push(Entry {
                name: name.to_vec(),
                is_dir: meta.is_dir(),
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    Ok(entries)
}

/// The page for a folder's visible `entries` (from [`entries`]), shown at
/// `url_path` (its request path, ending in `/`).
pub(super) fn page(url_path: &str, mut entries: Vec<Entry>) -> String {
    entries.sort_by(|a, b| a.name.cmp(&b.name));

    // The path as its names read, not as the request spelled it (`%20`).
    let title = html_escape(&percent_decode_str(url_path).decode_utf8_lossy());
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
        // The href stays a single relative path segment whatever the name
        // holds; `&` and `'` are escaped for HTML below, not for the URL.
        let mut href = html_escape(&percent_encode(&entry.name, SEGMENT_ESCAPES).to_string());
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
