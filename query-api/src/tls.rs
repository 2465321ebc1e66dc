//! HTTPS on the API listener. Invariant: with TLS configured there is no plaintext listener; a
//! certificate or key that cannot be loaded stops `serve` before it accepts anything.

use std::path::PathBuf;

/// PEM files of the listener's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Loads the files into a rustls server config (TLS 1.2 and 1.3, ring provider).
pub async fn load(files: &TlsFiles) -> std::io::Result<axum_server::tls_rustls::RustlsConfig> {
    // One process-wide provider; a second install (tests, restarts in-process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "TLS certificate {} / key {}: {e}",
                    files.cert.display(),
                    files.key.display()
                ),
            )
        })
}
