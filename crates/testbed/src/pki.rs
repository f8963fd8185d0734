//! Certificates and keys for the bed's API servers: one CA, one serving certificate for
//! 127.0.0.1/localhost (every API server listens there), and one service-account signing key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub serving_cert_file: PathBuf,
    pub serving_key_file: PathBuf,
    pub sa_key_file: PathBuf,
    pub sa_public_key_file: PathBuf,
}

impl Pki {
    pub fn generate(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate().context("generating CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "shoot-flux test bed CA");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).context("self-signing CA")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse()?));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "127.0.0.1");
        params.distinguished_name = dn;
        let serving = params
            .signed_by(&serving_key, &issuer)
            .context("signing serving cert")?;

        let sa_key = KeyPair::generate()?;

        let pki = Self {
            ca_pem: ca_cert.pem(),
            ca_file: dir.join("ca.crt"),
            serving_cert_file: dir.join("serving.crt"),
            serving_key_file: dir.join("serving.key"),
            sa_key_file: dir.join("sa.key"),
            sa_public_key_file: dir.join("sa.pub"),
        };
        std::fs::write(&pki.ca_file, &pki.ca_pem)?;
        std::fs::write(&pki.serving_cert_file, serving.pem())?;
        std::fs::write(&pki.serving_key_file, serving_key.serialize_pem())?;
        std::fs::write(&pki.sa_key_file, sa_key.serialize_pem())?;
        std::fs::write(&pki.sa_public_key_file, sa_key.public_key_pem())?;
        Ok(pki)
    }
}
