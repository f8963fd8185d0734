//! Makes sure a project's deploy key exists in the garden: read it, or create it once. Safe when
//! many shoots of a project and several controller processes race: creation never overwrites,
//! and whoever loses the race (AlreadyExists) reads and uses the winner's key. Read keys are held
//! (`garden::DeployKeys`) for the shoots that use them, so a steady shoot costs no request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use zeroize::Zeroize;

use crate::garden::{Created, Garden, GardenError, KnownSecret, scrub};
use crate::hostkey::{self, ScanError};
use crate::metrics::Metrics;
use shoot_flux_core::deploykey::{
    DeployKey, GenerateError, SECRET_NAME, SshAddress, known_hosts_for,
};
use shoot_flux_core::fielderrors::FieldErrors;

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

/// Takes the data out of a read Secret (moved, not copied) and scrubs the rest.
fn take_data(mut secret: Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = secret
        .data
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    // stringData only appears on objects that were never stored, but costs nothing to honour.
    for (k, v) in secret.string_data.take().unwrap_or_default() {
        out.insert(k, v.into_bytes());
    }
    scrub(&mut secret);
    out
}

impl Provisioner {
    pub fn new(
        garden: Garden,
        known_hosts: Vec<String>,
        scan_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        garden.deploy_keys().report_to(metrics.deploy_keys_held());
        Self {
            garden,
            known_hosts,
            scan_timeout,
            metrics,
            scans: tokio::sync::Mutex::default(),
        }
    }

    /// The key in a read Secret; the Secret's copy of it is zeroized either way.
    fn parse(namespace: &str, secret: Secret) -> Result<DeployKey, DeployKeyError> {
        let mut data = take_data(secret);
        let parsed = DeployKey::from_secret_data(&data, &secret_path(namespace));
        for value in data.values_mut() {
            value.zeroize();
        }
        parsed.map_err(|errors| DeployKeyError::Invalid {
            namespace: namespace.to_string(),
            errors,
        })
    }

    /// Reads the project's key now and holds it for `user`; None when there is none.
    async fn read(
        &self,
        project_namespace: &str,
        user: &str,
    ) -> Result<Option<DeployKey>, DeployKeyError> {
        let Some(secret) = self.garden.secret(project_namespace, SECRET_NAME).await? else {
            return Ok(None);
        };
        let version = secret.metadata.resource_version.clone();
        let key = Self::parse(project_namespace, secret)?;
        self.garden
            .deploy_keys()
            .keep(project_namespace, version.as_deref(), &key, user);
        Ok(Some(key))
    }

    /// The shoot in namespace `user` no longer needs its project's key in this process.
    pub fn release(&self, user: &str) {
        self.garden.deploy_keys().release(user);
    }

    /// The project's key for the shoot in namespace `user`: held from an earlier read while the
    /// Secret is at that version, else the existing Secret as it is, or a new one created now.
    /// Only projects with shoots here are ever read.
    pub async fn ensure(
        &self,
        project_namespace: &str,
        project: &str,
        address: &SshAddress,
        user: &str,
    ) -> Result<DeployKey, DeployKeyError> {
        let keys = self.garden.deploy_keys();
        match self.garden.deploy_key_secret(project_namespace) {
            KnownSecret::Present { resource_version } => {
                if let Some(key) = keys.current(project_namespace, &resource_version, user) {
                    return Ok(key);
                }
                // The shoots of a project reconcile together: one of them reads.
                let lock = keys.read_lock(project_namespace);
                let _reading = lock.lock().await;
                if let Some(key) = keys.current(project_namespace, &resource_version, user) {
                    return Ok(key);
                }
                if let Some(key) = self.read(project_namespace, user).await? {
                    return Ok(key);
                }
            }
            KnownSecret::Unknown => {
                if let Some(key) = self.read(project_namespace, user).await? {
                    return Ok(key);
                }
            }
            KnownSecret::Absent => {}
        }
        let known_hosts = self.known_hosts(address).await?;
        let key = DeployKey::generate(
            &format!("shoot-flux deploy key for project {project}"),
            known_hosts,
        )?;
        let mut secret = Secret {
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
        let created = self.garden.create_secret(project_namespace, &secret).await;
        scrub(&mut secret);
        match created? {
            Created::Created { resource_version } => {
                self.metrics.deploy_key_created();
                self.garden.deploy_keys().keep(
                    project_namespace,
                    resource_version.as_deref(),
                    &key,
                    user,
                );
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
                let version = winner.metadata.resource_version.clone();
                let key = Self::parse(project_namespace, *winner)?;
                self.garden
                    .deploy_keys()
                    .keep(project_namespace, version.as_deref(), &key, user);
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
