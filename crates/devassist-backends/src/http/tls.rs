//! The TLS settings for `https` upstreams: which roots are trusted, which client certificate
//! is shown, which protocols ALPN offers. rustls with ring does the work.
//!
//! Roots: Mozilla's bundled ones (a container without a CA bundle still reaches public
//! hosts), the system's, and a backend's own `ca_file`. ALPN offers `h2` and `http/1.1`:
//! HTTP/2 is used when the upstream picks it.

use super::HttpConfig;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The client configuration for `settings`: the shared default one when the backend adds
/// no CA and no client certificate.
pub(super) fn client_config(settings: &HttpConfig) -> Result<Arc<ClientConfig>, String> {
    let custom = settings.ca_file.is_some()
        || settings.client_cert.is_some()
        || settings.client_key.is_some();
    if !custom {
        static SHARED: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
        return SHARED
            .get_or_init(|| build(default_roots().clone(), None))
            .clone();
    }
    let mut roots = default_roots().clone();
    if let Some(path) = &settings.ca_file {
        let certs = read_certs(path, "ca_file")?;
        let (added, ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "ca_file {}: none of its {ignored} certificates is a usable CA",
                path.display()
            ));
        }
    }
    let identity = match (&settings.client_cert, &settings.client_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client_cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client_key {}: {e}", key.display()))?;
            Some((chain, key))
        }
        (Some(_), None) => return Err("client_cert is set without client_key".into()),
        (None, Some(_)) => return Err("client_key is set without client_cert".into()),
    };
    build(roots, identity)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn build(roots: RootCertStore, identity: Option<Identity>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate and key do not fit together: {e}"))?,
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Mozilla's roots and the system's, loaded once.
fn default_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(
            system_roots = added,
            "Loaded trusted roots for https upstreams"
        );
        roots
    })
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}
