//! Where the client sends its requests: a `HOST PORT FILE` triple or an
//! `http://` URL, names resolved to every address they have, and the first
//! address that accepts a connection. Also the durations its flags take.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::ClientError;

/// A server and the path asked of it, as the user wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name or an address, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    /// `http://HOST[:PORT][/PATH]`, HOST a name, an IPv4 address or a
    /// bracketed IPv6 one; the port defaults to 80 and the path to `/`.
    pub fn from_url(url: &str) -> Result<Target, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{scheme}:// is not supported; the client speaks plain http://"
                ));
            }
            None => return Err(format!("{url:?} is not an http:// URL")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        if authority.contains('@') {
            return Err("user information in the URL is not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{authority:?} lacks its closing ]"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("unexpected {after:?} after [{host}]")),
                },
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(port) => parse_port(port)?,
        };
        Ok(Target {
            host: host.to_string(),
            port,
            path,
        })
    }

    /// `HOST PORT FILE` as three arguments; `[::1]` is taken as `::1`.
    pub fn from_parts(host: &str, port: &str, path: &str) -> Result<Target, String> {
        Ok(Target {
            host: unbracket(host).to_string(),
            port: parse_port(port)?,
            path: path.to_string(),
        })
    }

    /// `host:port` as a user writes it in messages: IPv6 in brackets.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.bracketed(), self.port)
    }

    fn bracketed(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The `Host` field: the name as given, IPv6 in brackets, the port unless 80.
    pub fn host_header(&self) -> String {
        let host = self.bracketed();
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn parse_port(port: &str) -> Result<u16, String> {
    port.parse()
        .map_err(|_| format!("PORT must be a number from 0 to 65535, not {port:?}"))
}

/// Every address `host` stands for, in the resolver's order; an address
/// literal (`[::1]` too) without asking the resolver.
pub fn resolve_all(host: &str, port: u16) -> Result<Vec<SocketAddr>, ClientError> {
    let host = unbracket(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let failed = |cause: String| ClientError::Resolve {
        host: host.to_string(),
        cause,
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| failed(resolver_words(&e)))?
        .collect();
    if addrs.is_empty() {
        return Err(failed("no addresses".into()));
    }
    Ok(addrs)
}

/// The resolver's reason without std's "failed to lookup address
/// information: " prefix, which says nothing "cannot resolve" has not.
fn resolver_words(e: &io::Error) -> String {
    let text = e.to_string();
    text.strip_prefix("failed to lookup address information: ")
        .map(str::to_string)
        .unwrap_or(text)
}

/// The first address `host` stands for.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, ClientError> {
    resolve_all(host, port).map(|addrs| addrs[0])
}

/// The first of `addrs` that accepts a connection within `timeout` (the
/// probe is closed at once), or one line saying why none did.
pub fn connect_any(
    target: &str,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<SocketAddr, ClientError> {
    let mut causes = Vec::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => return Ok(*addr),
            Err(e) => causes.push(format!("{addr}: {}", io_words(&e, timeout))),
        }
    }
    Err(ClientError::Unreachable {
        target: target.to_string(),
        cause: causes.join("; "),
    })
}

/// An I/O error in a user's words: "timed out after 5 s", "connection
/// refused", without the OS error number.
pub(crate) fn io_words(e: &io::Error, timeout: Duration) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => format!("timed out after {}", show_duration(timeout)),
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// A duration as a flag takes it: a number with an optional unit — `ms`,
/// `s` (the default), `m` or `h` — such as `500ms`, `2s`, `1.5`, `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; try 2s, 500ms or 1m"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?}; use ms, s, m or h")),
    };
    let secs = number * scale;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("must be above 0 and at most a day".into())
    }
}

/// `5 s`, `500 ms`, `1.5 s`: how the client prints a duration a user set.
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{} s", trim_float(secs))
    } else {
        format!("{} ms", trim_float(secs * 1000.0))
    }
}

fn trim_float(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_parts() {
        let t = Target::from_url("http://127.0.0.1:12000/HelloWorld.html").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 12000, "/HelloWorld.html")
        );
        let t = Target::from_url("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(t.host_header(), "[::1]:8080");
        let t = Target::from_url("HTTP://example.com/a?b=c#frag").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/a?b=c"));
        assert_eq!(t.host_header(), "example.com");
        assert!(
            Target::from_url("https://x/")
                .unwrap_err()
                .contains("https")
        );
        assert!(Target::from_url("http://:80/").is_err());
        assert!(Target::from_url("http://x:99999/").is_err());
        assert!(Target::from_url("127.0.0.1:80").is_err());
        let t = Target::from_parts("[::1]", "12000", "f").unwrap();
        assert_eq!(t.host, "::1");
        // Messages name it as it was written: brackets kept, the port always.
        assert_eq!(t.authority(), "[::1]:12000");
        assert_eq!(Target::from_url("http://h/").unwrap().authority(), "h:80");
        assert!(Target::from_parts("h", "http", "f").is_err());
    }

    #[test]
    fn resolving_literals_and_names() {
        assert_eq!(
            resolve_all("[::1]", 80).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert_eq!(
            resolve("10.1.2.3", 80).unwrap(),
            "10.1.2.3:80".parse().unwrap()
        );
        assert!(!resolve_all("localhost", 80).unwrap().is_empty());
        // .invalid never resolves (RFC 6761), so no packet leaves this machine.
        let err = resolve("no-such-host.invalid", 80).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot resolve no-such-host.invalid: "),
            "{err}"
        );
        assert!(!err.contains("failed to lookup"), "{err}");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "-1s", "0", "2 parsecs", "1e999", "2d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250 ms");
    }
}
