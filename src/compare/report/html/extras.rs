//! After the cases: the slowloris experiment and the load run (when they
//! ran), and the glossary of the words the page uses.

use std::fmt::Write as _;

use super::{chip, esc};
use crate::compare::case::{Class, Level};
use crate::compare::{Comparison, Consequence, Grade};

/// What a normal client got while every worker was held by a slow head.
pub(super) fn slow_clients(out: &mut String, c: &Comparison) {
    let Some(first) = c.slow_clients.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "<section id=\"slow\">\n<h2>Slow clients (slowloris)</h2>\n<p>{} connections each sent \
         half a request head and then nothing; then a normal client asked for \
         <code>/HelloWorld.html</code> and waited {} ms (head timeout {} ms).</p>\n\
         <table class=\"plain\"><thead><tr><th>server</th><th>the normal client</th></tr></thead><tbody>",
        first.slow_connections, first.patience_ms, first.head_timeout_ms
    );
    for s in &c.slow_clients {
        let verdict = match s.why_not_served() {
            None => chip(Consequence::Ok, "served at once"),
            Some(why) => chip(Consequence::Hang, &format!("not served: {why}")),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{verdict}</td></tr>",
            esc(&s.column)
        );
    }
    out.push_str(
        "</tbody></table>\n<p>raw gathers heads that are still arriving in one poller and \
         hyper reads them asynchronously, so neither holds a thread for a slow head; the \
         textbook server gives each connection a thread and answers whatever its one read \
         held.</p>\n</section>\n",
    );
}

/// The load run's figures per server, as the client measured them.
pub(super) fn load(out: &mut String, c: &Comparison) {
    if c.load.is_empty() {
        return;
    }
    out.push_str("<section id=\"load\">\n<h2>Load</h2>\n<table class=\"plain num\"><thead><tr>");
    for name in super::super::LOAD_HEADER {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for l in &c.load {
        out.push_str("<tr>");
        for cell in super::super::load_cells(l) {
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// What a case of each class is about (the table of `compare/README.md`).
fn class_about(class: Class) -> &'static str {
    match class {
        Class::Traversal => {
            "reaching files outside the root: dot-segments, absolute paths, links, and encodings \
             of them"
        }
        Class::Framing => {
            "where a message ends: Content-Length, chunked, pipelining, segmented heads, CL.0 and \
             TE.CL smuggling"
        }
        Class::Exhaustion => {
            "resources a client can hold: huge heads, many fields, long lines, slow, partial or \
             silent clients"
        }
        Class::Robustness => {
            "bytes and syntax the grammar forbids: bare CR, NUL, obs-fold, bad versions, bad tokens"
        }
        Class::Semantics => {
            "what a well-formed request means: methods, Host, conditionals, ranges, keep-alive and \
             close, redirects"
        }
    }
}

/// What a grade means.
fn grade_about(grade: Grade) -> &'static str {
    match grade {
        Grade::Pass => "the outcome is one the RFC allows",
        Grade::Warn => "only a wrong answer, where the rule is a SHOULD or a MAY",
        Grade::Fail => {
            "anything else: a leak, a crash, a hang, a desync, a refused connection, or a wrong \
             answer where the rule is a MUST"
        }
    }
}

/// What a requirement level means (RFC 2119).
fn level_about(level: Level) -> &'static str {
    match level {
        Level::Must => "an absolute requirement (MUST NOT counts as MUST): breaking it fails",
        Level::Should => {
            "recommended, to be broken only for good reason (SHOULD NOT and RECOMMENDED count as \
             SHOULD): a wrong answer warns"
        }
        Level::May => {
            "truly optional: the RFC leaves the answer to the server; a wrong answer warns"
        }
    }
}

/// Every word the page leans on.
pub(super) fn glossary(out: &mut String) {
    out.push_str("<section id=\"glossary\">\n<h2>Glossary</h2>\n<dl>\n");
    out.push_str("<dt>consequences, the worst first</dt><dd><dl class=\"inner\">\n");
    for consequence in Consequence::ALL {
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            chip(consequence, consequence.name()),
            consequence.meaning()
        );
    }
    out.push_str("</dl></dd>\n<dt>pass, warn, fail</dt><dd><dl class=\"inner\">\n");
    for grade in [Grade::Pass, Grade::Warn, Grade::Fail] {
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            grade.name(),
            grade_about(grade)
        );
    }
    out.push_str("</dl></dd>\n<dt>MUST, SHOULD, MAY</dt><dd><dl class=\"inner\">\n");
    for level in Level::ALL {
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            level.label(),
            level_about(*level)
        );
    }
    out.push_str("</dl></dd>\n<dt>attack classes</dt><dd><dl class=\"inner\">\n");
    for class in Class::ALL {
        let _ = writeln!(
            out,
            "<dt>{} <code>{}</code></dt><dd>{}</dd>",
            class.label(),
            class.name(),
            class_about(*class)
        );
    }
    out.push_str(
        "</dl></dd>\n\
         <dt>outcome, signature</dt><dd>what a client observes: the statuses of the responses \
         in order, then how the connection ended — <code>open</code>, <code>closed</code> (FIN), \
         <code>reset</code> (RST), <code>timeout</code> (no response, still open) or \
         <code>refused</code> (never reached); <code>-</code> is no response. \
         <code>405 200 open</code> is a signature.</dd>\n\
         <dt>desync</dt><dd>a server and its client no longer agree where messages begin: it \
         answers a body or a leftover as a request of its own, or loses requests. Behind a \
         proxy that frames the bytes differently, the next user's request is answered with \
         someone else's response.</dd>\n\
         <dt>smuggling pair</dt><dd>two servers that both processed the same bytes but found a \
         different number of requests in them. Put the one that saw fewer in front (a proxy, a \
         firewall) and the one that saw more behind it: the extra requests reach the back end \
         without the front end ever seeing them (http-garden's view of where messages \
         end).</dd>\n\
         <dt>the textbook server</dt><dd>the classic socket exercise as students write it: one \
         read of at most 1024 bytes taken as the whole request, its second word joined to the \
         root, <code>200</code> and the file (or <code>404</code>), then a close; no method, \
         version or header is looked at, no limits, no timeouts; bytes it cannot decode kill \
         its handler. It runs beside the others so that what a careful parser prevents can be \
         seen happening.</dd>\n\
         <dt>the sandbox secret</dt><dd>compare copies the site into a temporary folder as \
         <code>root/</code> and writes a secret file beside it, outside the root, with a link \
         <code>root/escape</code> pointing at it. No request may ever bring it back; a \
         response that carries it, or a line of <code>/etc/passwd</code>, is a leak.</dd>\n\
         <dt>raw, hyper</dt><dd>twinserve's two backends, serving the same docroot: raw \
         parses HTTP/1.1 by hand (<code>src/raw</code>), hyper uses the hyper library. The \
         fix of each case says what raw does, and where in the source.</dd>\n\
         </dl>\n</section>\n",
    );
}
