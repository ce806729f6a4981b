//! HTTPS: the server certificate and the rustls configuration each TLS handshake uses.
//!
//! At the first start with HTTPS on, netamp makes a self-signed certificate with rcgen
//! (subject alternative names: the host name, `<host name>.local`, `localhost` and every
//! local address, so a client that is given the certificate as its CA can verify any of
//! them) and keeps it with its key (0600) in `certs/` of the state directory. The
//! configuration sits behind a lock that each handshake reads, so a certificate swapped
//! by [`TlsState::replace`] is what the next handshake presents, without a restart.
//! TLS 1.2 and 1.3 only (rustls has nothing older), aws-lc-rs as the crypto provider.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use tokio_rustls::rustls::pki_types::ServerName;

use crate::error::ControlError;
use crate::store;

/// The server certificate in use and the configuration built from it.
pub struct TlsState {
    dir: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
}

impl TlsState {
    /// Loads `certs/https.crt` and `certs/https.key` from `data_dir`, making a self-signed
    /// pair first when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ControlError> {
        let dir = data_dir.join("certs");
        std::fs::create_dir_all(&dir).map_err(|source| ControlError::State {
            path: dir.clone(),
            source,
        })?;
        let (crt, key) = (dir.join("https.crt"), dir.join("https.key"));
        if !crt.exists() || !key.exists() {
            let names = subject_names();
            let (cert_pem, key_pem) = self_signed(&names)
                .map_err(|e| ControlError::Config(format!("HTTPS certificate: {e}")))?;
            store::write_atomic(&key, key_pem.as_bytes())?;
            store::write_atomic(&crt, cert_pem.as_bytes())?;
            tracing::info!(
                "HTTPS: made a self-signed certificate for {} ({})",
                names.join(", "),
                crt.display()
            );
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| ControlError::State {
                path: p.to_owned(),
                source,
            })
        };
        let cert_pem = read(&crt)?;
        let config = match server_config(&cert_pem, &read(&key)?) {
            Ok(c) => c,
            Err(e) => {
                // A kill between a replacement's two writes (key, then certificate)
                // leaves the new key beside the old certificate, whose key is the
                // previous generation: that pair is the one last acknowledged.
                let prev = store::prev_path(&key);
                let old = std::fs::read_to_string(&prev)
                    .ok()
                    .and_then(|k| Some((server_config(&cert_pem, &k).ok()?, k)));
                let Some((config, old_key)) = old else {
                    return Err(ControlError::CorruptState(crt.clone(), e));
                };
                store::write_atomic(&key, old_key.as_bytes())?;
                tracing::warn!(
                    "HTTPS: the key did not match the certificate (a replacement was cut short); using the certificate's own key again"
                );
                config
            }
        };
        Ok(Self {
            dir,
            config: RwLock::new(Arc::new(config)),
        })
    }

    /// SIP over TLS on `addr` with this certificate: each handshake takes the one in use
    /// then (without HTTP's ALPN).
    pub fn sip_listen(
        self: &Arc<Self>,
        addr: &str,
    ) -> Result<netamp_sip::ua::TlsListen, ControlError> {
        let me = self.clone();
        Ok(netamp_sip::ua::TlsListen {
            addr: addr
                .parse()
                .map_err(|e| ControlError::Config(format!("[sip] tls_listen {addr:?}: {e}")))?,
            config: Arc::new(move || {
                let current = me.config.read().unwrap_or_else(|p| p.into_inner()).clone();
                let mut sip = (*current).clone();
                sip.alpn_protocols.clear();
                Arc::new(sip)
            }),
        })
    }

    /// The certificate in use with its chain, PEM.
    pub fn certificate_pem(&self) -> Result<String, String> {
        std::fs::read_to_string(self.dir.join("https.crt")).map_err(|e| e.to_string())
    }

    /// The key in use, PEM (for the certificate store; never sent anywhere).
    pub fn key_pem(&self) -> Result<String, String> {
        std::fs::read_to_string(self.dir.join("https.key")).map_err(|e| e.to_string())
    }

    /// What the next handshake uses.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(config.clone())
    }

    /// Makes `cert_pem` (with its chain) and `key_pem` the server certificate: checked
    /// first, stored, then used from the next handshake on. A pair that does not work
    /// changes nothing.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        let config = server_config(cert_pem, key_pem)?;
        store::write_atomic(&self.dir.join("https.key"), key_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        store::write_atomic(&self.dir.join("https.crt"), cert_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }
}

/// The names a self-signed certificate is made for.
fn subject_names() -> Vec<String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut names = Vec::new();
    if !host.is_empty() && host != "localhost" {
        names.push(host.clone());
        names.push(format!("{host}.local"));
    }
    names.push("localhost".into());
    let mut addrs: Vec<String> = if_addrs::get_if_addrs()
        .map(|a| a.into_iter().map(|i| i.ip().to_string()).collect())
        .unwrap_or_default();
    for loopback in ["127.0.0.1", "::1"] {
        if !addrs.iter().any(|a| a == loopback) {
            addrs.push(loopback.into());
        }
    }
    names.extend(addrs);
    names
}

/// A self-signed certificate and its key (ECDSA P-256), PEM.
fn self_signed(names: &[String]) -> Result<(String, String), rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "netamp".into()),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "netamp");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A rustls server configuration for this certificate chain and key.
pub(crate) fn server_config(cert_pem: &str, key_pem: &str) -> Result<ServerConfig, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM text".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TLS client configuration (TLS 1.2 and 1.3, aws-lc-rs): verifying the server against
/// `roots`, or (`None`) accepting any certificate.
pub fn client_config(
    roots: Option<Arc<rustls::RootCertStore>>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    Ok(match roots {
        Some(roots) => builder.with_root_certificates(roots).with_no_client_auth(),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    })
}

/// Accepts any server certificate: a client whose operator switched verification off.
#[derive(Debug)]
pub(crate) struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_cut_between_its_key_and_its_certificate_loads_the_old_pair() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = TlsState::load_or_create(dir.path()).expect("create");
        let crt = first.certificate_pem().expect("crt");
        drop(first);
        // The second pair's key is written, the process dies before its certificate.
        let (_, key2) = self_signed(&["other.example".into()]).expect("pair");
        store::write_atomic(&dir.path().join("certs/https.key"), key2.as_bytes()).expect("key");
        let again = TlsState::load_or_create(dir.path()).expect("the old pair loads");
        assert_eq!(again.certificate_pem().expect("crt"), crt);
        TlsState::load_or_create(dir.path()).expect("and keeps loading");
    }

    #[test]
    fn a_certificate_is_made_once_kept_private_and_a_bad_replacement_changes_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let tls = TlsState::load_or_create(dir.path()).expect("create");
        let crt = std::fs::read_to_string(dir.path().join("certs/https.crt")).expect("crt");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("certs/https.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Loaded again, not made again.
        TlsState::load_or_create(dir.path()).expect("load");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("certs/https.crt")).expect("crt"),
            crt
        );
        assert!(tls.replace("not a certificate", "nor a key").is_err());
        let (other, other_key) = self_signed(&["other.example".into()]).expect("other");
        // A key that is not the certificate's.
        let (_, wrong_key) = self_signed(&["x".into()]).expect("x");
        assert!(tls.replace(&other, &wrong_key).is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("certs/https.crt")).expect("crt"),
            crt
        );
        tls.replace(&other, &other_key).expect("replace");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("certs/https.crt")).expect("crt"),
            other
        );
        assert!(subject_names().iter().any(|n| n == "127.0.0.1"));
    }
}
