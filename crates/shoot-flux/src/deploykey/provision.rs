//! Makes sure a project's deploy key exists in the garden: read it, or create it once. Safe when
//! many shoots of a project and several controller processes race: creation never overwrites,
//! and whoever loses the race (AlreadyExists) reads and uses the winner's key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::hostkey::{self, ScanError};
use super::{DeployKey, GenerateError, SECRET_NAME, SshAddress, known_hosts_for};
use crate::config::errors::FieldErrors;
use crate::garden::{Created, Garden, GardenError};
use crate::metrics::Metrics;

/// Scanned host keys are reused this long, so a burst of new shoots opens one SSH connection.
const SCAN_REUSE: Duration = Duration::from_secs(60);
const MANAGED_BY: (&str, &str) = (
    "app.kubernetes.io/managed-by",
    "gardener-extension-shoot-flux",
);

#[derive(Debug, thiserror::Error)]
pub enum DeployKeyError {
    #[error("{0}")]
    Garden(#[from] GardenError),
    #[error(
        "the deploy key Secret {namespace}/{SECRET_NAME} cannot be used: {errors} (fix or delete it; when deleted, a new key is created)"
    )]
    Invalid {
        namespace: String,
        errors: FieldErrors,
    },
    #[error(
        "reading the SSH host key for known_hosts failed: {0}; configure the host key in the operator configuration (deployKeys.knownHosts) or create {SECRET_NAME} yourself"
    )]
    HostKey(#[from] ScanError),
    #[error("{0}")]
    Generate(#[from] GenerateError),
    #[error(
        "the deploy key Secret {0}/{SECRET_NAME} was deleted while it was being created; retrying"
    )]
    Vanished(String),
}

pub struct Provisioner {
    garden: Garden,
    known_hosts: Vec<String>,
    scan_timeout: Duration,
    metrics: Arc<Metrics>,
    scans: tokio::sync::Mutex<HashMap<SshAddress, (Instant, String)>>,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner").finish_non_exhaustive()
    }
}

fn secret_path(namespace: &str) -> String {
    format!("garden Secret {namespace}/{SECRET_NAME}")
}

fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    // stringData only appears on objects that were never stored, but costs nothing to honour.
    for (k, v) in secret.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}

impl Provisioner {
    pub fn new(
        garden: Garden,
        known_hosts: Vec<String>,
        scan_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            garden,
            known_hosts,
            scan_timeout,
            metrics,
            scans: tokio::sync::Mutex::default(),
        }
    }

    fn parse(namespace: &str, secret: &Secret) -> Result<DeployKey, DeployKeyError> {
        DeployKey::from_secret_data(&data_of(secret), &secret_path(namespace)).map_err(|errors| {
            DeployKeyError::Invalid {
                namespace: namespace.to_string(),
                errors,
            }
        })
    }

    /// The project's key: the existing Secret as it is, or a new one created now.
    pub async fn ensure(
        &self,
        project_namespace: &str,
        project: &str,
        address: &SshAddress,
    ) -> Result<DeployKey, DeployKeyError> {
        if let Some(secret) = self
            .garden
            .watched_secret(project_namespace, SECRET_NAME)
            .await?
        {
            return Self::parse(project_namespace, &secret);
        }
        let known_hosts = self.known_hosts(address).await?;
        let key = DeployKey::generate(
            &format!("shoot-flux deploy key for project {project}"),
            known_hosts,
        )?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(SECRET_NAME.into()),
                namespace: Some(project_namespace.into()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY.0.to_string(),
                    MANAGED_BY.1.to_string(),
                )])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(
                key.secret_data()
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v.into_bytes())))
                    .collect(),
            ),
            ..Default::default()
        };
        match self
            .garden
            .create_secret(project_namespace, &secret)
            .await?
        {
            Created::Created => {
                self.metrics.deploy_key_created();
                tracing::info!(
                    namespace = project_namespace,
                    fingerprint = %key.fingerprint(),
                    public_key = key.public_key(),
                    "created the project's deploy key; add the public key to the repository as a read-only deploy key"
                );
                Ok(key)
            }
            Created::LostRace(Some(winner)) => {
                self.metrics.deploy_key_create_conflict();
                let key = Self::parse(project_namespace, &winner)?;
                tracing::info!(
                    namespace = project_namespace,
                    fingerprint = %key.fingerprint(),
                    "another reconcile created the project's deploy key first (AlreadyExists); using that one"
                );
                Ok(key)
            }
            Created::LostRace(None) => Err(DeployKeyError::Vanished(project_namespace.into())),
        }
    }

    /// The operator's host keys for this host, else the host's own, read now (trust on first
    /// use) and logged with fingerprints so the operator can compare.
    async fn known_hosts(&self, address: &SshAddress) -> Result<String, DeployKeyError> {
        if let Some(lines) = known_hosts_for(&self.known_hosts, address) {
            return Ok(lines);
        }
        // One scan at a time per process; its result serves the shoots that queue behind it.
        let mut scans = self.scans.lock().await;
        if let Some((at, text)) = scans.get(address)
            && at.elapsed() < SCAN_REUSE
        {
            return Ok(text.clone());
        }
        let keys = hostkey::scan(address, self.scan_timeout).await?;
        for key in &keys {
            tracing::info!(
                host = %address.known_hosts_name(),
                key_type = %key.key_type,
                fingerprint = %key.fingerprint(),
                "recorded the Git host's SSH host key for known_hosts (trust on first use); compare the fingerprint with the one the Git host publishes"
            );
        }
        let text = hostkey::known_hosts(address, &keys);
        scans.insert(address.clone(), (Instant::now(), text.clone()));
        Ok(text)
    }
}
