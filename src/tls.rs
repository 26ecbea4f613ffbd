//! TLS for the hyper backend: a rustls server configuration from PEM files or
//! from a certificate made at start for local use, offering TLS 1.2 and 1.3
//! only and ALPN `h2` then `http/1.1`; and the matching HTTP/1.1 client
//! configuration ([`client_config`]) for a client that speaks HTTPS.
//!
//! The crypto provider is *ring*: it builds from crates.io with a C compiler
//! alone, where aws-lc-rs may also want cmake.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// ALPN protocol ids, most preferred first (RFC 7301; RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The names a `--self-signed` certificate is made for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS could not be set up; each message names the file or step.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain in {path}")]
    Certs {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)")]
    NoCerts { path: PathBuf },
    #[error("cannot read the private key in {path}")]
    Key {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("the certificate and key cannot be used together")]
    Rustls(#[from] rustls::Error),
    #[error("cannot make a self-signed certificate")]
    Generate(#[from] rcgen::Error),
}

/// A server's TLS setup, ready for the hyper backend.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as `AB:CD:...`.
    pub fingerprint: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// From a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let chain = certs_from_pem_file(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
            path: key.to_path_buf(),
            source,
        })?;
        Tls::new(chain, key)
    }

    /// A fresh certificate for localhost, 127.0.0.1 and ::1, signed by its
    /// own key: for local use, where the client is told to trust it.
    pub fn self_signed() -> Result<Tls, TlsError> {
        let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names)?;
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        Tls::new(vec![made.cert.der().clone()], key.into())
    }

    /// TLS 1.2 and 1.3 only, no client certificates, ALPN `h2` and `http/1.1`.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Tls, TlsError> {
        let fingerprint = fingerprint(&chain[0]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            fingerprint,
        })
    }

    /// The same certificate offering HTTP/1.1 alone.
    pub fn http1_only(&self) -> Tls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Tls {
            config: Arc::new(config),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// Whom an HTTPS client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Servers whose chain leads to one of these certificates.
    Roots(Vec<CertificateDer<'static>>),
    /// Any certificate (`--insecure`, for a self-signed local server): the
    /// handshake's signatures are still checked, the certificate is not.
    AnyCertificate,
}

/// The certificates in a PEM file, for [`Trust::Roots`].
pub fn certs_from_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certs {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCerts {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// A client configuration for HTTP/1.1 over TLS 1.2 or 1.3 (ALPN
/// `http/1.1`), on the same provider as the server; for a blocking client,
/// wrap the socket in `rustls::StreamOwned`.
pub fn client_config(trust: Trust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let mut config = match trust {
        Trust::Roots(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots.add(cert)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::AnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// [`Trust::AnyCertificate`]: accepts the server's certificate unseen, and
/// checks that the server holds its key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// SHA-256 of a certificate's DER bytes, as colon-separated upper-case hex
/// (the form browsers and `openssl x509 -fingerprint -sha256` show).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let mut text = String::with_capacity(95);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02X}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_offers_h2_then_http11_and_has_a_fingerprint() {
        let tls = Tls::self_signed().unwrap();
        assert_eq!(
            tls.config.alpn_protocols,
            [ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
        );
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1);
        assert!(
            tls.fingerprint
                .bytes()
                .all(|b| b == b':' || b.is_ascii_hexdigit())
        );
        assert_eq!(
            tls.http1_only().config.alpn_protocols,
            [ALPN_HTTP11.to_vec()]
        );
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let missing = Tls::from_pem_files(&cert, &key).unwrap_err().to_string();
        assert!(missing.contains("cert.pem"), "{missing}");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let empty = Tls::from_pem_files(&cert, &key).unwrap_err().to_string();
        assert!(empty.contains("holds no certificate"), "{empty}");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let bad_key = Tls::from_pem_files(&cert, &key).unwrap_err().to_string();
        assert!(bad_key.contains("key"), "{bad_key}");
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        Tls::from_pem_files(&cert, &key).unwrap();
        assert_eq!(certs_from_pem_file(&cert).unwrap().len(), 1);
        // A key that is not the certificate's.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key, other.serialize_pem()).unwrap();
        assert!(Tls::from_pem_files(&cert, &key).is_err());
    }

    /// One HTTP/1.1 request over blocking TLS to a hyper backend serving
    /// HTTPS with `server`; the response's first line, or the error.
    fn fetch(server: &Tls, client: Arc<rustls::ClientConfig>) -> Result<String, std::io::Error> {
        use std::io::{Read, Write};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("site");
        let mut config = crate::Config::new(root);
        config.hyper.tls = Some(server.clone());
        let handle = crate::spawn(crate::Backend::Hyper, config).unwrap();
        let tcp = std::net::TcpStream::connect(handle.local_addr())?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(client, name).map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut answer = Vec::new();
        let read = tls.read_to_end(&mut answer);
        if answer.is_empty() {
            read?;
        }
        handle.shutdown().unwrap();
        let text = String::from_utf8_lossy(&answer);
        Ok(text.lines().next().unwrap_or_default().to_string())
    }

    #[test]
    fn the_client_config_trusts_its_roots_or_with_any_certificate_anything() {
        let server = Tls::self_signed().unwrap();
        let insecure = client_config(Trust::AnyCertificate).unwrap();
        assert_eq!(fetch(&server, insecure).unwrap(), "HTTP/1.1 200 OK");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let own = Tls::new(
            vec![made.cert.der().clone()],
            PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()).into(),
        )
        .unwrap();
        let trusting = client_config(Trust::Roots(vec![made.cert.der().clone()])).unwrap();
        assert_eq!(
            fetch(&own, Arc::clone(&trusting)).unwrap(),
            "HTTP/1.1 200 OK"
        );
        // Another server's certificate is refused.
        assert!(fetch(&server, trusting).is_err());
    }
}
