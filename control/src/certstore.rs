//! The certificate store, `certs/` of the state directory: server certificates with
//! their keys (uploaded as PEM or PKCS#12, or made here from a certificate signing
//! request netamp generated), and CA certificates.
//!
//! - `server/<id>.crt` (the certificate and its chain), `server/<id>.key` (0600, never
//!   returned), `server/<id>.csr` while a request waits for its certificate;
//! - `ca/<id>.crt`: certificates netamp trusts, besides the system's, when it connects
//!   out over TLS (HTTPS recipients, e-mail, remote syslog).
//!
//! The pair HTTPS and SIP over TLS present stays in `certs/https.{crt,key}`
//! ([`crate::tls::TlsState`]); picking a stored certificate copies it there. Which entry is
//! in use is read off the certificates themselves, so there is no third file to keep in
//! step. Certificates are parsed with x509-parser, requests made with rcgen.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

use crate::store;

/// Most server certificates stored.
pub const MAX_SERVER: usize = 16;
/// Most CA certificates stored.
pub const MAX_CA: usize = 64;
/// Largest PEM text accepted (a certificate with a long chain is a few kB).
pub const MAX_PEM: usize = 64 * 1024;

/// What a store operation can refuse.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The id is not 1–64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
    #[error("id {0:?}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    BadId(String),
    /// No such entry.
    #[error("no certificate {0:?}")]
    NotFound(String),
    /// The entry is the one HTTPS uses.
    #[error("{0:?} is the certificate in use; pick another one first")]
    InUse(String),
    /// The store holds as many as it may.
    #[error("the store holds at most {0} of these")]
    Full(usize),
    /// The input is not what it must be.
    #[error("{0}")]
    Invalid(String),
    /// The state directory failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// The two kinds of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A certificate netamp presents, with its key.
    Server,
    /// A certificate netamp trusts.
    Ca,
}

impl Kind {
    /// The entries' directory name, also the API's path segment.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Ca => "ca",
        }
    }
}

/// What a certificate says, for a listing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and addresses it is for.
    pub names: Vec<String>,
    /// Valid from (RFC 3339).
    pub not_before: String,
    /// Valid until (RFC 3339).
    pub not_after: String,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Whether it is a CA certificate.
    pub ca: bool,
    /// Certificates after the first (the chain).
    pub chain: usize,
}

/// One stored entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its id.
    pub id: String,
    /// `ready`, or `pending` for a signing request still waiting for its certificate.
    pub state: &'static str,
    /// Whether HTTPS and SIP over TLS present it now (server entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_use: Option<bool>,
    /// The certificate, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertInfo>,
}

/// Names for a new signing request.
#[derive(Debug, Clone, Default)]
pub struct CsrSubject {
    /// Common name.
    pub common_name: String,
    /// Subject alternative names: DNS names or IP addresses.
    pub names: Vec<String>,
    /// Organization, if any.
    pub organization: Option<String>,
    /// Two-letter country code, if any.
    pub country: Option<String>,
}

/// The store.
pub struct CertStore {
    dir: PathBuf,
    /// Writers one at a time (a check and its write must not interleave with another's).
    write: Mutex<()>,
    /// Bumped on every change of the CA entries: TLS clients rebuild their trust then.
    ca_generation: AtomicU64,
    /// The system's CAs with the store's, and the generation they were read at.
    roots: Mutex<Option<(u64, Arc<rustls::RootCertStore>)>>,
}

fn storage(e: impl std::fmt::Display) -> CertError {
    CertError::Storage(e.to_string())
}

/// Checks an id.
pub fn check_id(id: &str) -> Result<(), CertError> {
    let ok = (1..=64).contains(&id.len())
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(CertError::BadId(id.to_string()))
    }
}

/// The certificates of a PEM text, at least one, each a parsable X.509 certificate.
pub fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    if pem.len() > MAX_PEM {
        return Err(CertError::Invalid(format!(
            "the PEM text is longer than {MAX_PEM} bytes"
        )));
    }
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Invalid(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(CertError::Invalid("no certificate in the PEM text".into()));
    }
    for c in &chain {
        x509_parser::parse_x509_certificate(c)
            .map_err(|e| CertError::Invalid(format!("certificate: {e}")))?;
    }
    Ok(chain)
}

/// What the first certificate of `chain` says.
pub fn describe(chain: &[CertificateDer<'_>]) -> Option<CertInfo> {
    use sha2::Digest as _;
    use x509_parser::extensions::GeneralName;
    let der = chain.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let time = |t: x509_parser::time::ASN1Time| {
        chrono::DateTime::from_timestamp(t.timestamp(), 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        names.push(std::net::Ipv4Addr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        names.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        serial: hex(cert.raw_serial()),
        sha256: hex(&sha2::Sha256::digest(der.as_ref())),
        ca: cert.is_ca(),
        chain: chain.len() - 1,
    })
}

impl CertStore {
    /// The store in `certs_dir` (made when missing).
    pub fn open(certs_dir: &Path) -> Result<Self, CertError> {
        for kind in [Kind::Server, Kind::Ca] {
            std::fs::create_dir_all(certs_dir.join(kind.dir())).map_err(storage)?;
        }
        Ok(Self {
            dir: certs_dir.to_owned(),
            write: Mutex::new(()),
            ca_generation: AtomicU64::new(0),
            roots: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, kind: Kind, id: &str, ext: &str) -> PathBuf {
        self.dir.join(kind.dir()).join(format!("{id}.{ext}"))
    }

    fn read(&self, kind: Kind, id: &str, ext: &str) -> Option<String> {
        std::fs::read_to_string(self.path(kind, id, ext)).ok()
    }

    fn write(&self, kind: Kind, id: &str, ext: &str, text: &str) -> Result<(), CertError> {
        store::write_atomic(&self.path(kind, id, ext), text.as_bytes()).map_err(storage)
    }

    /// Removes an entry's file and its previous generation.
    fn remove(&self, kind: Kind, id: &str, ext: &str) -> Result<(), CertError> {
        let path = self.path(kind, id, ext);
        for p in [store::prev_path(&path), path] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(storage(e)),
            }
        }
        Ok(())
    }

    /// The ids of `kind`, sorted: every `.crt`, and for servers every pending `.csr`.
    fn ids(&self, kind: Kind) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join(kind.dir())) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name
                    .strip_suffix(".crt")
                    .or_else(|| name.strip_suffix(".csr"))?;
                check_id(id).ok()?;
                Some(id.to_string())
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The entries of `kind`; `in_use` is the certificate HTTPS presents (PEM).
    pub fn list(&self, kind: Kind, in_use: Option<&str>) -> Vec<Entry> {
        self.ids(kind)
            .into_iter()
            .filter_map(|id| self.entry(kind, &id, in_use))
            .collect()
    }

    /// One entry.
    pub fn entry(&self, kind: Kind, id: &str, in_use: Option<&str>) -> Option<Entry> {
        check_id(id).ok()?;
        let crt = self.read(kind, id, "crt");
        let certificate = crt
            .as_deref()
            .and_then(|p| parse_chain(p).ok())
            .and_then(|c| describe(&c));
        if crt.is_none() && (kind == Kind::Ca || self.read(kind, id, "csr").is_none()) {
            return None;
        }
        Some(Entry {
            id: id.to_string(),
            state: if crt.is_some() { "ready" } else { "pending" },
            in_use: (kind == Kind::Server)
                .then(|| crt.is_some() && crt.as_deref().map(str::trim) == in_use.map(str::trim)),
            certificate,
        })
    }

    /// An entry's certificate (with its chain) as stored, PEM.
    pub fn certificate_pem(&self, kind: Kind, id: &str) -> Result<String, CertError> {
        check_id(id)?;
        self.read(kind, id, "crt")
            .ok_or_else(|| CertError::NotFound(id.to_string()))
    }

    /// A pending request's PEM.
    pub fn csr_pem(&self, id: &str) -> Result<String, CertError> {
        check_id(id)?;
        self.read(Kind::Server, id, "csr")
            .ok_or_else(|| CertError::NotFound(id.to_string()))
    }

    /// A server entry's certificate and key, PEM.
    pub fn server_pair(&self, id: &str) -> Result<(String, String), CertError> {
        check_id(id)?;
        match (
            self.read(Kind::Server, id, "crt"),
            self.read(Kind::Server, id, "key"),
        ) {
            (Some(c), Some(k)) => Ok((c, k)),
            _ => Err(CertError::NotFound(id.to_string())),
        }
    }

    fn room_for(&self, kind: Kind, id: &str) -> Result<(), CertError> {
        let max = match kind {
            Kind::Server => MAX_SERVER,
            Kind::Ca => MAX_CA,
        };
        let ids = self.ids(kind);
        if !ids.iter().any(|i| i == id) && ids.len() >= max {
            return Err(CertError::Full(max));
        }
        Ok(())
    }

    /// Stores a server certificate under `id`: with `key`, or without one for the key of
    /// the request made for `id`. The pair must work as a TLS server's (the key is the
    /// certificate's); `in_use` (PEM) may not be replaced here.
    pub fn put_server(
        &self,
        id: &str,
        chain_pem: &str,
        key_pem: Option<&str>,
        in_use: Option<&str>,
    ) -> Result<(), CertError> {
        check_id(id)?;
        parse_chain(chain_pem)?;
        let _w = self.lock();
        self.room_for(Kind::Server, id)?;
        if self.entry(Kind::Server, id, in_use).and_then(|e| e.in_use) == Some(true) {
            return Err(CertError::InUse(id.to_string()));
        }
        let key = match key_pem {
            Some(k) => k.to_string(),
            None => self.read(Kind::Server, id, "key").ok_or_else(|| {
                CertError::Invalid(format!(
                    "no key: send one, or make a signing request for {id:?} first"
                ))
            })?,
        };
        crate::tls::server_config(chain_pem, &key).map_err(CertError::Invalid)?;
        self.write(Kind::Server, id, "key", &key)?;
        self.write(Kind::Server, id, "crt", chain_pem)?;
        self.remove(Kind::Server, id, "csr")
    }

    /// Makes a key and a certificate signing request for it under `id` (ECDSA P-256);
    /// the request's PEM. The key waits for the certificate a CA signs.
    pub fn create_csr(&self, id: &str, subject: &CsrSubject) -> Result<String, CertError> {
        check_id(id)?;
        let invalid = |e: rcgen::Error| CertError::Invalid(format!("signing request: {e}"));
        let cn = subject.common_name.trim();
        if cn.is_empty() || cn.len() > 64 {
            return Err(CertError::Invalid("common_name: 1 to 64 characters".into()));
        }
        if subject.names.len() > 32 {
            return Err(CertError::Invalid("names: at most 32".into()));
        }
        let mut names = subject.names.clone();
        if names.is_empty() {
            names.push(cn.to_string());
        }
        let mut params = rcgen::CertificateParams::new(names).map_err(invalid)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if let Some(o) = subject.organization.as_deref().filter(|o| !o.is_empty()) {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, o);
        }
        if let Some(c) = subject.country.as_deref().filter(|c| !c.is_empty()) {
            if c.len() != 2 || !c.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(CertError::Invalid("country: a two-letter code".into()));
            }
            params
                .distinguished_name
                .push(rcgen::DnType::CountryName, c.to_ascii_uppercase());
        }
        let key = rcgen::KeyPair::generate().map_err(invalid)?;
        let csr = params
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .map_err(invalid)?;
        let _w = self.lock();
        if self.read(Kind::Server, id, "crt").is_some() {
            return Err(CertError::Invalid(format!(
                "{id:?} already holds a certificate; delete it or pick another id"
            )));
        }
        self.room_for(Kind::Server, id)?;
        self.write(Kind::Server, id, "key", &key.serialize_pem())?;
        self.write(Kind::Server, id, "csr", &csr)?;
        Ok(csr)
    }

    /// Stores CA certificates (one or more, PEM) under `id`.
    pub fn put_ca(&self, id: &str, pem: &str) -> Result<(), CertError> {
        check_id(id)?;
        parse_chain(pem)?;
        let _w = self.lock();
        self.room_for(Kind::Ca, id)?;
        self.write(Kind::Ca, id, "crt", pem)?;
        self.ca_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Deletes an entry; the server certificate in use (`in_use`, PEM) cannot go.
    pub fn delete(&self, kind: Kind, id: &str, in_use: Option<&str>) -> Result<(), CertError> {
        check_id(id)?;
        let _w = self.lock();
        let entry = self
            .entry(kind, id, in_use)
            .ok_or_else(|| CertError::NotFound(id.to_string()))?;
        if entry.in_use == Some(true) {
            return Err(CertError::InUse(id.to_string()));
        }
        for ext in ["crt", "key", "csr"] {
            self.remove(kind, id, ext)?;
        }
        if kind == Kind::Ca {
            self.ca_generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Files the pair in use under an id of its own when no entry holds it yet (the
    /// self-signed certificate of the first start, or one from before the store):
    /// `default`, or `default-2`… when that is taken.
    pub fn adopt(&self, cert_pem: &str, key_pem: &str) -> Result<(), CertError> {
        let _w = self.lock();
        let held = self.ids(Kind::Server).iter().any(|id| {
            self.read(Kind::Server, id, "crt").as_deref().map(str::trim) == Some(cert_pem.trim())
        });
        if held {
            return Ok(());
        }
        let id = std::iter::once("default".to_string())
            .chain((2..).map(|n| format!("default-{n}")))
            .find(|id| {
                self.read(Kind::Server, id, "crt").is_none()
                    && self.read(Kind::Server, id, "key").is_none()
            })
            .unwrap_or_else(|| "default".into());
        self.write(Kind::Server, &id, "key", key_pem)?;
        self.write(Kind::Server, &id, "crt", cert_pem)
    }

    /// Changes with every change of the CA entries.
    pub fn ca_generation(&self) -> u64 {
        self.ca_generation.load(Ordering::Acquire)
    }

    /// The CA certificates netamp trusts as a client: the system's and the store's.
    /// Reading the system's costs a directory walk, so the set is kept until the store's
    /// CA certificates change.
    pub fn trusted_roots(&self) -> Arc<rustls::RootCertStore> {
        let generation = self.ca_generation();
        let mut cached = self.roots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, roots)) = cached.as_ref() {
            if *g == generation {
                return roots.clone();
            }
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots.add_parsable_certificates(self.trust_anchors());
        let roots = Arc::new(roots);
        *cached = Some((generation, roots.clone()));
        roots
    }

    /// Every stored CA certificate.
    pub fn trust_anchors(&self) -> Vec<CertificateDer<'static>> {
        self.ids(Kind::Ca)
            .iter()
            .filter_map(|id| self.read(Kind::Ca, id, "crt"))
            .filter_map(|pem| parse_chain(&pem).ok())
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test CA");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        (cert, rcgen::Issuer::new(params, key))
    }

    #[test]
    fn a_signing_request_becomes_a_certificate_with_the_key_made_for_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = CertStore::open(dir.path()).expect("open");
        let csr = store
            .create_csr(
                "amp1",
                &CsrSubject {
                    common_name: "amp1.example".into(),
                    names: vec!["amp1.example".into(), "192.0.2.7".into()],
                    organization: Some("Site".into()),
                    country: Some("se".into()),
                },
            )
            .expect("csr");
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let e = store.entry(Kind::Server, "amp1", None).expect("pending");
        assert_eq!((e.state, e.in_use), ("pending", Some(false)));
        // A CA signs it (as an operator's CA would, from the PEM alone).
        let (_, issuer) = ca();
        let req = rcgen::CertificateSigningRequestParams::from_pem(&csr).expect("parse csr");
        let signed = req.signed_by(&issuer).expect("sign").pem();
        // The key stays with the store: the certificate alone completes the entry.
        store.put_server("amp1", &signed, None, None).expect("put");
        let e = store.entry(Kind::Server, "amp1", None).expect("ready");
        assert_eq!(e.state, "ready");
        let info = e.certificate.expect("info");
        assert!(info.subject.contains("amp1.example"), "{info:?}");
        assert!(info.subject.contains("C=SE"), "{info:?}");
        assert_eq!(info.names, ["amp1.example", "192.0.2.7"]);
        assert!(info.issuer.contains("test CA"));
        assert!(store.csr_pem("amp1").is_err(), "the request is done");
        // A second request for a held id is refused and changes nothing.
        assert!(store
            .create_csr(
                "amp1",
                &CsrSubject {
                    common_name: "x".into(),
                    ..Default::default()
                }
            )
            .is_err());
        assert_eq!(store.server_pair("amp1").expect("pair").0, signed);
    }

    #[test]
    fn bad_input_changes_nothing_and_the_pair_in_use_stays() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = CertStore::open(dir.path()).expect("open");
        for id in ["", "../x", ".hidden", "a/b", &"x".repeat(65)] {
            assert!(matches!(check_id(id), Err(CertError::BadId(_))), "{id:?}");
        }
        assert!(store.put_ca("c", "not pem").is_err());
        assert!(store.put_server("s", "x", Some("y"), None).is_err());
        assert!(store.list(Kind::Ca, None).is_empty());
        assert!(store.list(Kind::Server, None).is_empty());
        // No key and no request: refused.
        let (ca_cert, _) = ca();
        assert!(store.put_server("s", &ca_cert.pem(), None, None).is_err());

        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["amp".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert")
            .pem();
        store.adopt(&cert, &key.serialize_pem()).expect("adopt");
        store
            .adopt(&cert, &key.serialize_pem())
            .expect("adopted once");
        let list = store.list(Kind::Server, Some(&cert));
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].id.as_str(), list[0].in_use),
            ("default", Some(true))
        );
        assert!(matches!(
            store.delete(Kind::Server, "default", Some(&cert)),
            Err(CertError::InUse(_))
        ));
        // A key that is not the certificate's.
        let other = rcgen::KeyPair::generate().expect("other");
        assert!(store
            .put_server("t", &cert, Some(&other.serialize_pem()), None)
            .is_err());
        assert!(store.entry(Kind::Server, "t", None).is_none());

        let before = store.ca_generation();
        let system = store.trusted_roots().len();
        store.put_ca("root", &ca_cert.pem()).expect("ca");
        assert_eq!(store.trust_anchors().len(), 1);
        assert_eq!(
            store.trusted_roots().len(),
            system + 1,
            "the client trust follows"
        );
        assert!(store.ca_generation() > before);
        let listed = store.list(Kind::Ca, None);
        assert!(listed[0].certificate.as_ref().expect("info").ca);
        store.delete(Kind::Ca, "root", None).expect("delete");
        assert!(store.trust_anchors().is_empty());
        assert_eq!(store.trusted_roots().len(), system);
        assert!(matches!(
            store.delete(Kind::Ca, "root", None),
            Err(CertError::NotFound(_))
        ));
    }
}
