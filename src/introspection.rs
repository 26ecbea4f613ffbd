//! The introspection answer: a request as one backend parsed it, written by
//! raw's and hyper's `describe` and read back by `compare`. One type, so the
//! two writers and the reader cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Backend;

/// A request as a backend understood it.
///
/// Fields are in alphabetical order: the order the JSON has always had, and
/// so the order compare's reports print them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParsedRequest {
    #[serde(with = "backend_name")]
    pub backend: Backend,
    pub body: RequestBody,
    /// Names as the backend holds them, values escaped with `escape_ascii`.
    pub headers: Vec<(String, String)>,
    pub method: String,
    pub target: String,
    /// As the backend names it, e.g. `HTTP/1.1`.
    pub version: String,
}

impl ParsedRequest {
    /// The JSON body of the introspection answer.
    pub fn to_json(&self) -> String {
        // Strings, numbers and string-keyed structs only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How the backend framed the request's body, written `none`,
/// `content-length N` or `chunked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RequestBody {
    None,
    ContentLength(u64),
    Chunked,
}

impl fmt::Display for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestBody::None => f.write_str("none"),
            RequestBody::ContentLength(n) => write!(f, "content-length {n}"),
            RequestBody::Chunked => f.write_str("chunked"),
        }
    }
}

impl From<RequestBody> for String {
    fn from(body: RequestBody) -> String {
        body.to_string()
    }
}

impl TryFrom<String> for RequestBody {
    type Error = String;

    fn try_from(text: String) -> Result<RequestBody, String> {
        match text.as_str() {
            "none" => Ok(RequestBody::None),
            "chunked" => Ok(RequestBody::Chunked),
            _ => text
                .strip_prefix("content-length ")
                .and_then(|n| n.parse().ok())
                .map(RequestBody::ContentLength)
                .ok_or_else(|| format!("{text:?} is not none, chunked or content-length N")),
        }
    }
}

/// `Backend` as its name, `raw` or `hyper`.
mod backend_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Backend;

    pub fn serialize<S: Serializer>(backend: &Backend, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(backend.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Backend, D::Error> {
        let name = String::deserialize(d)?;
        [Backend::Raw, Backend::Hyper]
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown backend {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_documented_form() {
        let parsed = ParsedRequest {
            backend: Backend::Raw,
            body: RequestBody::ContentLength(5),
            headers: vec![("Host".into(), "a".into())],
            method: "POST".into(),
            target: "/".into(),
            version: "HTTP/1.1".into(),
        };
        let json = parsed.to_json();
        assert_eq!(
            json,
            r#"{"backend":"raw","body":"content-length 5","headers":[["Host","a"]],"method":"POST","target":"/","version":"HTTP/1.1"}"#
        );
        assert_eq!(
            serde_json::from_str::<ParsedRequest>(&json).unwrap(),
            parsed
        );
        for body in [RequestBody::None, RequestBody::Chunked] {
            assert_eq!(RequestBody::try_from(body.to_string()), Ok(body));
        }
        assert!(RequestBody::try_from("content-length x".to_string()).is_err());
    }
}
