//! Certificates and keys for the bed's API servers: one CA, one serving certificate for
//! 127.0.0.1/localhost (every API server listens there), one service-account signing key, and
//! for API aggregation (gardener-apiserver behind the garden) what a real cluster has: a separate
//! front-proxy CA with the client certificate the aggregator presents, a serving certificate for
//! the aggregated server's in-cluster Service name, and a workload-identity signing key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The Service (in `kube-system` of the garden) that the aggregator resolves for
/// gardener-apiserver; the aggregator verifies the server's certificate against
/// `<service>.<namespace>.svc`, so the serving certificate carries that name.
pub const GARDENER_APISERVER_SERVICE: &str = "gardener-apiserver";

#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub serving_cert_file: PathBuf,
    pub serving_key_file: PathBuf,
    pub sa_key_file: PathBuf,
    pub sa_public_key_file: PathBuf,
    /// The CA an aggregated API server trusts for the aggregator's requests
    /// (`--requestheader-client-ca-file` of kube-apiserver). Separate from [`Pki::ca_file`], as in
    /// a real cluster: a client certificate of the main CA must not pass as the front proxy.
    pub front_proxy_ca_file: PathBuf,
    /// The aggregator's client certificate (`--proxy-client-cert-file`), signed by the
    /// front-proxy CA, common name `system:kube-aggregator` as Gardener's garden uses.
    pub proxy_client_cert_file: PathBuf,
    pub proxy_client_key_file: PathBuf,
    /// gardener-apiserver's serving certificate (main CA): `gardener-apiserver.kube-system.svc`
    /// for the aggregator, plus localhost and 127.0.0.1.
    pub gardener_apiserver_cert_file: PathBuf,
    pub gardener_apiserver_key_file: PathBuf,
    /// gardener-apiserver's workload-identity token signing key.
    pub workload_identity_key_file: PathBuf,
}

fn ca(common_name: &str) -> Result<(String, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate().context("generating CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let cert = params
        .self_signed(&key)
        .with_context(|| format!("self-signing {common_name}"))?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A serving certificate for `dns_names` and 127.0.0.1: (certificate PEM, key PEM).
fn serving(issuer: &Issuer<'_, KeyPair>, dns_names: &[&str]) -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(dns_names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "127.0.0.1");
    params.distinguished_name = dn;
    let cert = params
        .signed_by(&key, issuer)
        .context("signing serving cert")?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    pub fn generate(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (ca_pem, issuer) = ca("shoot-flux test bed CA")?;
        let (serving_cert, serving_key) = serving(&issuer, &["localhost"])?;
        let gardener_name = format!("{GARDENER_APISERVER_SERVICE}.kube-system.svc");
        let (gardener_cert, gardener_key) = serving(&issuer, &[&gardener_name, "localhost"])?;

        let (front_proxy_ca_pem, front_proxy) = ca("shoot-flux test bed front-proxy CA")?;
        let proxy_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "system:kube-aggregator");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let proxy_client = params
            .signed_by(&proxy_key, &front_proxy)
            .context("signing the front-proxy client cert")?;

        let sa_key = KeyPair::generate()?;
        let workload_identity_key = KeyPair::generate()?;

        let pki = Self {
            ca_pem,
            ca_file: dir.join("ca.crt"),
            serving_cert_file: dir.join("serving.crt"),
            serving_key_file: dir.join("serving.key"),
            sa_key_file: dir.join("sa.key"),
            sa_public_key_file: dir.join("sa.pub"),
            front_proxy_ca_file: dir.join("front-proxy-ca.crt"),
            proxy_client_cert_file: dir.join("front-proxy-client.crt"),
            proxy_client_key_file: dir.join("front-proxy-client.key"),
            gardener_apiserver_cert_file: dir.join("gardener-apiserver.crt"),
            gardener_apiserver_key_file: dir.join("gardener-apiserver.key"),
            workload_identity_key_file: dir.join("workload-identity.key"),
        };
        std::fs::write(&pki.ca_file, &pki.ca_pem)?;
        std::fs::write(&pki.serving_cert_file, serving_cert)?;
        std::fs::write(&pki.serving_key_file, serving_key)?;
        std::fs::write(&pki.sa_key_file, sa_key.serialize_pem())?;
        std::fs::write(&pki.sa_public_key_file, sa_key.public_key_pem())?;
        std::fs::write(&pki.front_proxy_ca_file, front_proxy_ca_pem)?;
        std::fs::write(&pki.proxy_client_cert_file, proxy_client.pem())?;
        std::fs::write(&pki.proxy_client_key_file, proxy_key.serialize_pem())?;
        std::fs::write(&pki.gardener_apiserver_cert_file, gardener_cert)?;
        std::fs::write(&pki.gardener_apiserver_key_file, gardener_key)?;
        std::fs::write(
            &pki.workload_identity_key_file,
            workload_identity_key.serialize_pem(),
        )?;
        Ok(pki)
    }
}
