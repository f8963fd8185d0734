//! What shoot-flux does for one shoot, top to bottom: Reconcile, Delete, ForceDelete, Migrate and
//! Restore. It fetches inputs, calls the pure configuration and
//! rendering code, and applies the result to the seed; status is the reconciler's business.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::apierror::{is_conflict, is_not_found};
use crate::apiresources::{managed_resource_resource, typed_managed_resource};
use crate::garden::{Garden, GardenError};
use crate::keyprovision::{DeployKeyError, Provisioner};
use crate::kubeclient::WriteMode;
use crate::manifests::ManifestStore;
use crate::metrics::Metrics;
use crate::progress::{self, EXTERNAL, SEED};
use crate::shootaccess;
use crate::storagemigration::{self, UpgradeError};
use shoot_flux_core::access;
use shoot_flux_core::api::v1alpha1::{self, DeletionPolicy};
use shoot_flux_core::config::operator::{ManifestSource, OperatorConfig};
use shoot_flux_core::config::{self, EffectiveConfig, project};
use shoot_flux_core::fielderrors::FieldErrors;
use shoot_flux_core::flux::bundle::{InstallBundle, ManifestError};
use shoot_flux_core::flux::objects::SecretPayload;
use shoot_flux_core::fluxversion::VersionRequest;
use shoot_flux_core::gardener::conditions;
use shoot_flux_core::gardener::shoot::ShootFacts;
use shoot_flux_core::gardener::status::ErrorCode;
use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::managedresource::{
    self, ACCESS_NAME, CONFIG_NAME, DesiredManagedResource, INSTALL_NAME, ManagedResource,
    OWNER_LABEL,
};
use shoot_flux_core::plan::{self, Fetched, Plan, PlanError, ShootInputs};
use shoot_flux_core::syncstatus::{Installed, PROVIDER_STATUS_KIND};
use shoot_flux_core::takeover::stackit_bootstrapped;

/// What deleting a ManagedResource does to the objects GRM applied into the shoot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShootObjects {
    /// `keepObjects`: they stay (the shoot goes away anyway, or Flux is orphaned on purpose).
    Keep,
    Delete,
}

/// Whether deleting a ManagedResource waits until GRM has removed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    No,
    UntilGone,
}

pub const FIELD_MANAGER: &str = "gardener-extension-shoot-flux";
/// How long Delete waits for the shoot objects of one ManagedResource to be removed.
const DELETE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    #[error("{0}")]
    Configuration(String),
    #[error("{0}")]
    Garden(#[from] GardenError),
    #[error("{0}")]
    Manifests(#[from] ManifestError),
    #[error("seed API request failed: {0}")]
    Seed(#[from] kube::Error),
    #[error("{0}")]
    Cleanup(String),
    #[error("{0}")]
    DeployKey(#[from] DeployKeyError),
    #[error("{0}")]
    Upgrade(#[from] UpgradeError),
}

impl From<PlanError> for ActuatorError {
    fn from(e: PlanError) -> Self {
        Self::Configuration(e.to_string())
    }
}

impl From<FieldErrors> for ActuatorError {
    fn from(e: FieldErrors) -> Self {
        Self::Configuration(format!("invalid configuration: {e}"))
    }
}

impl ActuatorError {
    pub fn codes(&self) -> Vec<ErrorCode> {
        match self {
            Self::Configuration(_) | Self::Manifests(ManifestError::NotFound { .. }) => {
                vec![ErrorCode::ConfigurationProblem]
            }
            Self::Garden(GardenError::Forbidden { .. }) => vec![ErrorCode::InfraUnauthorized],
            Self::Garden(_) | Self::Manifests(_) => vec![ErrorCode::RetryableInfraDependencies],
            Self::Seed(_) => vec![],
            Self::Cleanup(_) => vec![ErrorCode::CleanupClusterResources],
            Self::DeployKey(DeployKeyError::Invalid { .. }) => {
                vec![ErrorCode::ConfigurationProblem]
            }
            Self::DeployKey(DeployKeyError::Garden(GardenError::Forbidden { .. })) => {
                vec![ErrorCode::InfraUnauthorized]
            }
            Self::DeployKey(_) => vec![ErrorCode::RetryableInfraDependencies],
            Self::Upgrade(_) => vec![],
        }
    }

    /// A stable, short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Configuration(_) => "configuration",
            Self::Garden(_) => "garden",
            Self::Manifests(_) => "manifests",
            Self::Seed(_) => "seed",
            Self::Cleanup(_) => "cleanup",
            Self::DeployKey(_) => "deploy-key",
            Self::Upgrade(UpgradeError::Waiting(_)) => "shoot-access",
            Self::Upgrade(_) => "storage-migration",
        }
    }

    /// Errors that only a change of input can fix are retried slowly, not with a tight backoff.
    pub fn requeue_after(&self) -> Option<Duration> {
        match self {
            Self::Configuration(_) | Self::Manifests(ManifestError::NotFound { .. }) => {
                Some(Duration::from_secs(300))
            }
            Self::Garden(GardenError::Forbidden { .. })
            | Self::DeployKey(DeployKeyError::Garden(GardenError::Forbidden { .. })) => {
                Some(Duration::from_secs(60))
            }
            Self::DeployKey(DeployKeyError::Invalid { .. }) => Some(Duration::from_secs(300)),
            Self::Upgrade(UpgradeError::Waiting(_)) => Some(Duration::from_secs(15)),
            _ => None,
        }
    }
}

/// What a reconcile installed, and whether it had to write anything to the seed for it.
#[derive(Debug)]
pub struct Reconciled {
    pub installed: Installed,
    pub wrote: bool,
}

pub struct Actuator {
    seed: Client,
    garden: Garden,
    manifests: Arc<ManifestStore>,
    operator: OperatorConfig,
    deploy_keys: Provisioner,
}

impl std::fmt::Debug for Actuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actuator").finish_non_exhaustive()
    }
}

fn mr_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &managed_resource_resource())
}

async fn typed_get(
    mrs: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<ManagedResource>, kube::Error> {
    Ok(mrs
        .get_opt(name)
        .await?
        .as_ref()
        .and_then(typed_managed_resource))
}

impl Actuator {
    pub fn new(
        seed: Client,
        garden: Garden,
        manifests: Arc<ManifestStore>,
        operator: OperatorConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let deploy_keys = Provisioner::new(
            garden.clone(),
            operator.deploy_keys.known_hosts.clone(),
            operator.deploy_keys.host_key_scan_timeout,
            metrics,
        );
        Self {
            seed,
            garden,
            manifests,
            operator,
            deploy_keys,
        }
    }

    /// What a successful reconcile could not do, for the status; None when nothing is missing.
    pub fn success_note(&self) -> Option<&'static str> {
        self.garden.client().is_none().then_some(
            "no garden access, so the project's flux-config ConfigMap was not read and the shoot has Flux without sync objects",
        )
    }

    /// Create or update everything for the shoot. A bad configuration fails before anything is
    /// written, so the last applied good state stays.
    pub async fn reconcile(
        &self,
        ext: &Extension,
        shoot: &ShootFacts,
    ) -> Result<Reconciled, ActuatorError> {
        // The shoot's own layer is validated first: it needs no request.
        plan::shoot_layer(ext, shoot)?;
        progress::step(
            format!(
                "reading the {} ConfigMap of project {} from the garden",
                project::CONFIGMAP_NAME,
                shoot.project
            ),
            EXTERNAL,
        );
        let project_config = match self.garden.project_config(&shoot.project_namespace).await {
            Ok(data) => data,
            Err(GardenError::NotConfigured) => None,
            Err(e) => return Err(e.into()),
        };
        let inputs = ShootInputs {
            extension: ext,
            shoot,
            operator: &self.operator,
            project_config: project_config.as_ref(),
        };
        let configured = plan::configure(&inputs)?;
        let effective = &configured.effective;
        if effective.flux_version == VersionRequest::Latest {
            progress::step(
                format!(
                    "resolving the latest Flux release at {}",
                    source_text(&self.operator.flux.manifests)
                ),
                EXTERNAL,
            );
        }
        let version = self.manifests.resolve(&effective.flux_version).await?;
        effective.check_version(&version)?;
        let field = effective.flux_version_field;
        progress::step(
            format!(
                "fetching the install manifests of Flux {version} from {}",
                source_text(&self.operator.flux.manifests)
            ),
            EXTERNAL,
        );
        let bundle = match self
            .manifests
            .install_bundle(&version, &plan::install_options(effective))
            .await
        {
            Err(ManifestError::NotFound { version, location }) => {
                return Err(ActuatorError::Configuration(format!(
                    "invalid configuration: {field}: Flux {version} does not exist (no {location})"
                )));
            }
            other => other?,
        };
        let deploy_key = match plan::deploy_key_address(effective)? {
            Some(address) => {
                progress::step(
                    format!(
                        "providing the deploy key of project {} (garden Secret {}/{})",
                        shoot.project,
                        shoot.project_namespace,
                        shoot_flux_core::deploykey::SECRET_NAME
                    ),
                    EXTERNAL,
                );
                Some(
                    self.deploy_keys
                        .ensure(
                            &shoot.project_namespace,
                            &shoot.project,
                            &address,
                            &ext.namespace,
                        )
                        .await?,
                )
            }
            None => {
                // A repository that is not private (any more) needs no key held for this shoot.
                self.deploy_keys.release(&ext.namespace);
                None
            }
        };
        let fetched = Fetched {
            install: Some(&bundle),
            deploy_key: deploy_key.as_ref(),
            secrets: self.seed_secrets(&ext.namespace, effective).await?,
        };
        let Plan {
            desired, installed, ..
        } = plan::plan(&configured, &fetched)?;
        let (Some(install_mr), Some(installed)) = (&desired.install, installed) else {
            return Err(ActuatorError::Configuration(
                "internal error: the plan has no install part although the bundle was given".into(),
            ));
        };
        // An Extension that never had a status is new: its objects are created without reading
        // first (AlreadyExists falls back to read and update).
        let mode = if ext.status.last_operation.is_none() {
            WriteMode::CreateFirst
        } else {
            WriteMode::ReadFirst
        };
        let install_existing = self.existing(install_mr, mode).await?;
        if install_existing
            .as_ref()
            .is_some_and(|existing| managedresource::may_meet_stored_versions(existing, install_mr))
        {
            if shoot.is_hibernation_enabled() {
                // The shoot's CRDs cannot be read while it sleeps, and GRM applies nothing then:
                // the install and config stay as they are, and the reconcile at wake-up upgrades.
                tracing::info!(namespace = %ext.namespace, "the Flux upgrade waits until the shoot wakes up");
                let access = self.apply(&desired.access, mode).await?;
                shootaccess::ensure_secret(&self.seed, &ext.namespace, mode).await?;
                return Ok(Reconciled {
                    installed,
                    wrote: access.wrote,
                });
            }
            self.migrate_stored_versions(ext, &bundle, &desired.access, mode)
                .await?;
        }
        // Install first: the config objects need Flux's CRDs.
        let install = self.apply_over(install_mr, install_existing).await?;
        let config = self.apply(&desired.config, mode).await?;
        let access = self.apply(&desired.access, mode).await?;
        let wrote = install.wrote || config.wrote || access.wrote;
        // A predecessor's secrets can only be there until shoot-flux has once recorded its own
        // success, or when this reconcile replaced a predecessor's reference: only then is the
        // namespace looked at, so a steady shoot costs no request for it.
        let took_over = install.took_over || config.took_over;
        if took_over
            || (mode == WriteMode::ReadFirst
                && ext.status.provider_status_kind.as_deref() != Some(PROVIDER_STATUS_KIND))
        {
            progress::step(
                format!(
                    "removing the predecessor's ManagedResource secrets in {}",
                    ext.namespace
                ),
                SEED,
            );
            self.remove_predecessor_secrets(&ext.namespace).await?;
        }
        progress::step(
            format!(
                "writing Secret {}/{} in the seed",
                ext.namespace,
                access::SECRET_NAME
            ),
            SEED,
        );
        shootaccess::ensure_secret(&self.seed, &ext.namespace, mode).await?;
        Ok(Reconciled { installed, wrote })
    }

    /// Before an install that replaces one GRM applied: the shoot access (RBAC first), then
    /// the storage migration (`storagemigration::before_upgrade`).
    async fn migrate_stored_versions(
        &self,
        ext: &Extension,
        bundle: &InstallBundle,
        access_mr: &DesiredManagedResource,
        mode: WriteMode,
    ) -> Result<(), ActuatorError> {
        if bundle.crds.is_empty() {
            return Ok(());
        }
        self.apply(access_mr, mode).await?;
        shootaccess::ensure_secret(&self.seed, &ext.namespace, mode).await?;
        Ok(storagemigration::before_upgrade(&self.seed, ext, bundle).await?)
    }

    /// The seed copies of the `Shoot.spec.resources` Secrets the configuration names.
    async fn seed_secrets(
        &self,
        namespace: &str,
        effective: &EffectiveConfig,
    ) -> Result<BTreeMap<String, SecretPayload>, ActuatorError> {
        use base64::Engine;
        let secrets: Api<Secret> = Api::namespaced(self.seed.clone(), namespace);
        let mut out = BTreeMap::new();
        for copy in &effective.secret_copies {
            if out.contains_key(&copy.seed_name) {
                continue;
            }
            progress::step(
                format!("reading Secret {namespace}/{} in the seed", copy.seed_name),
                SEED,
            );
            if let Some(secret) = secrets.get_opt(&copy.seed_name).await? {
                let data = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v.0)))
                    .collect();
                let copy_labels = secret
                    .metadata
                    .annotations
                    .unwrap_or_default()
                    .remove(shoot_flux_core::flux::objects::COPY_LABELS_ANNOTATION);
                out.insert(
                    copy.seed_name.clone(),
                    SecretPayload {
                        type_: secret.type_,
                        data,
                        labels: secret.metadata.labels.unwrap_or_default(),
                        copy_labels,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Creates or updates one ManagedResource and its secret; says whether anything was written
    /// and whether the MR it replaced referenced a predecessor's secret.
    /// One read (the MR) when nothing changed, none in `WriteMode::CreateFirst` (the MR is expected not to
    /// exist). The secret is immutable and named after its content: an MR that references it
    /// means it exists; otherwise it is created, and AlreadyExists means it is there, with this
    /// very content.
    async fn apply(
        &self,
        desired: &DesiredManagedResource,
        mode: WriteMode,
    ) -> Result<Applied, ActuatorError> {
        let existing = self.existing(desired, mode).await?;
        self.apply_over(desired, existing).await
    }

    /// The ManagedResource as it is in the seed; not read in `WriteMode::CreateFirst`.
    async fn existing(
        &self,
        desired: &DesiredManagedResource,
        mode: WriteMode,
    ) -> Result<Option<ManagedResource>, ActuatorError> {
        if mode == WriteMode::CreateFirst {
            return Ok(None);
        }
        let mrs = mr_api(&self.seed, &desired.namespace);
        Ok(typed_get(&mrs, &desired.name).await?)
    }

    /// `apply` with the ManagedResource as `existing` read it.
    async fn apply_over(
        &self,
        desired: &DesiredManagedResource,
        existing: Option<ManagedResource>,
    ) -> Result<Applied, ActuatorError> {
        let namespace = desired.namespace.as_str();
        progress::step(
            format!(
                "writing ManagedResource {namespace}/{} in the seed",
                desired.name
            ),
            SEED,
        );
        let mrs = mr_api(&self.seed, namespace);
        let patch = managedresource::merge_patch(existing.as_ref(), desired);
        let predecessor = managedresource::predecessor_secret_name(&desired.name);
        let mut took_over = existing
            .as_ref()
            .is_some_and(|mr| mr.references(&predecessor));
        let secrets: Api<Secret> = Api::namespaced(self.seed.clone(), namespace);
        if patch.is_none() {
            // Up to date. Unless GRM reports that it could not apply it (e.g. someone deleted
            // the secret), the referenced secret is there: no read for a steady shoot.
            let applied = existing
                .as_ref()
                .is_some_and(managedresource::resources_applied);
            if applied
                || secrets
                    .get_metadata_opt(&desired.secret_name)
                    .await?
                    .is_some()
            {
                return Ok(Applied::default());
            }
        }
        let referenced = existing
            .as_ref()
            .is_some_and(|mr| mr.references(&desired.secret_name));
        if !referenced || patch.is_none() {
            match crate::kubeclient::create_unread(&secrets, &desired.secret).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match (existing.is_some(), patch) {
            (_, None) => {}
            (false, Some(object)) => {
                let object: DynamicObject = serde_json::from_value(object)
                    .map_err(|e| ActuatorError::Configuration(e.to_string()))?;
                match crate::kubeclient::create_unread(&mrs, &object).await {
                    Ok(_) => {}
                    // Created meanwhile (another process, or a cache that had not seen it):
                    // patched like an existing one.
                    Err(e) if is_conflict(&e) => {
                        let current = typed_get(&mrs, &desired.name).await?;
                        took_over |= current
                            .as_ref()
                            .is_some_and(|mr| mr.references(&predecessor));
                        if let Some(patch) = managedresource::merge_patch(current.as_ref(), desired)
                        {
                            mrs.patch(
                                &desired.name,
                                &PatchParams::default(),
                                &Patch::Merge(&patch),
                            )
                            .await?;
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            (true, Some(patch)) => {
                mrs.patch(
                    &desired.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            }
        }
        Ok(Applied {
            wrote: true,
            took_over,
        })
    }

    /// Deletes what a predecessor left behind in the namespace (see
    /// `managedresource::predecessor_leftovers`); idempotent.
    async fn remove_predecessor_secrets(&self, namespace: &str) -> Result<(), ActuatorError> {
        let managed_resources: Vec<ManagedResource> = mr_api(&self.seed, namespace)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|o| typed_managed_resource(&o))
            .collect();
        let secrets: Api<Secret> = Api::namespaced(self.seed.clone(), namespace);
        let metadata: Vec<_> = secrets
            .list_metadata(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|s| s.metadata)
            .collect();
        for name in managedresource::predecessor_leftovers(&managed_resources, &metadata) {
            match secrets.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(namespace, secret = %name, "deleted a predecessor's ManagedResource secret that nothing references any more");
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Delete: while the shoot itself goes away or sleeps, Flux cannot run, so the MRs are
    /// removed with `keepObjects` and no wait. On a running shoot the config MR goes first (Flux
    /// prunes what it deployed), then the install MR, each waited for.
    pub async fn delete(&self, ext: &Extension, shoot: &ShootFacts) -> Result<(), ActuatorError> {
        // The shoot leaves this seed: its project's deploy key is not needed for it any more.
        self.deploy_keys.release(&ext.namespace);
        let policy = deletion_policy(ext, shoot);
        if shoot.deleting || shoot.is_hibernation_enabled() {
            for name in [CONFIG_NAME, INSTALL_NAME, ACCESS_NAME] {
                self.delete_managed_resource(&ext.namespace, name, ShootObjects::Keep, Wait::No)
                    .await?;
            }
        } else if policy == DeletionPolicy::Orphan {
            // Flux and what it deployed stay in the shoot; our own read access does not.
            for name in [CONFIG_NAME, INSTALL_NAME] {
                self.delete_managed_resource(&ext.namespace, name, ShootObjects::Keep, Wait::No)
                    .await?;
            }
            self.delete_managed_resource(
                &ext.namespace,
                ACCESS_NAME,
                ShootObjects::Delete,
                Wait::No,
            )
            .await?;
        } else {
            for name in [CONFIG_NAME, INSTALL_NAME, ACCESS_NAME] {
                self.delete_managed_resource(
                    &ext.namespace,
                    name,
                    ShootObjects::Delete,
                    Wait::UntilGone,
                )
                .await?;
            }
        }
        self.delete_secrets(&ext.namespace).await
    }

    /// ForceDelete must succeed even if shoot objects are orphaned.
    pub async fn force_delete(
        &self,
        ext: &Extension,
        _shoot: &ShootFacts,
    ) -> Result<(), ActuatorError> {
        // The shoot leaves this seed: its project's deploy key is not needed for it any more.
        self.deploy_keys.release(&ext.namespace);
        for name in [CONFIG_NAME, INSTALL_NAME, ACCESS_NAME] {
            self.delete_managed_resource(&ext.namespace, name, ShootObjects::Keep, Wait::No)
                .await?;
        }
        self.delete_secrets(&ext.namespace).await
    }

    /// Migrate keeps every shoot object and removes ours from this seed.
    pub async fn migrate(&self, ext: &Extension, _shoot: &ShootFacts) -> Result<(), ActuatorError> {
        // The shoot leaves this seed: its project's deploy key is not needed for it any more.
        self.deploy_keys.release(&ext.namespace);
        for name in [CONFIG_NAME, INSTALL_NAME, ACCESS_NAME] {
            self.delete_managed_resource(&ext.namespace, name, ShootObjects::Keep, Wait::UntilGone)
                .await?;
        }
        self.delete_secrets(&ext.namespace).await
    }

    /// Restore is a reconcile: all state is derived from the configuration.
    pub async fn restore(
        &self,
        ext: &Extension,
        shoot: &ShootFacts,
    ) -> Result<Installed, ActuatorError> {
        self.reconcile(ext, shoot).await.map(|r| r.installed)
    }

    async fn delete_managed_resource(
        &self,
        namespace: &str,
        name: &str,
        shoot_objects: ShootObjects,
        wait: Wait,
    ) -> Result<(), ActuatorError> {
        progress::step(
            format!("deleting ManagedResource {namespace}/{name} in the seed"),
            SEED,
        );
        let mrs = mr_api(&self.seed, namespace);
        let Some(existing) = mrs.get_opt(name).await? else {
            return Ok(());
        };
        if shoot_objects == ShootObjects::Keep
            && existing.data["spec"]["keepObjects"] != json!(true)
        {
            mrs.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"keepObjects": true}})),
            )
            .await?;
        }
        if existing.metadata.deletion_timestamp.is_none() {
            match mrs.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        if wait == Wait::No {
            return Ok(());
        }
        progress::step(
            format!(
                "waiting for GRM to delete the shoot objects of ManagedResource {namespace}/{name}"
            ),
            SEED,
        );
        let started = Instant::now();
        while started.elapsed() < DELETE_WAIT {
            if mrs.get_opt(name).await?.is_none() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let reason = mrs
            .get_opt(name)
            .await?
            .and_then(|mr| condition_message(&mr.data, "ResourcesApplied"))
            .unwrap_or_default();
        Err(ActuatorError::Cleanup(format!(
            "the shoot objects of ManagedResource {namespace}/{name} are still being deleted {reason}"
        )))
    }

    async fn delete_secrets(&self, namespace: &str) -> Result<(), ActuatorError> {
        progress::step(
            format!("deleting the ManagedResource Secrets in {namespace} in the seed"),
            SEED,
        );
        let secrets: Api<Secret> = Api::namespaced(self.seed.clone(), namespace);
        for name in [CONFIG_NAME, INSTALL_NAME, ACCESS_NAME] {
            let list = secrets
                .list_metadata(&ListParams::default().labels(&format!("{OWNER_LABEL}={name}")))
                .await?;
            for secret in list.items {
                if let Some(secret_name) = secret.metadata.name {
                    match secrets.delete(&secret_name, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        match secrets
            .delete(access::SECRET_NAME, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What `Actuator::apply` did to one ManagedResource.
#[derive(Debug, Default, Clone, Copy)]
struct Applied {
    wrote: bool,
    /// The MR it replaced referenced the secret a predecessor wrote for it.
    took_over: bool,
}

/// The deletion policy of the shoot's configuration. A providerConfig that no longer decodes
/// keeps what is in the shoot: removing workloads on a typo would destroy working state.
fn deletion_policy(ext: &Extension, shoot: &ShootFacts) -> DeletionPolicy {
    match v1alpha1::decode(ext.spec.provider_config.as_ref(), &shoot.resources) {
        Ok(config) => config::management(&config, stackit_bootstrapped(ext)).1,
        Err(e) => {
            tracing::warn!(namespace = %ext.namespace, error = %e, "providerConfig is invalid; deleting with policy Orphan");
            DeletionPolicy::Orphan
        }
    }
}

/// Where the Flux manifests come from, for the progress notes.
fn source_text(source: &ManifestSource) -> String {
    match source {
        ManifestSource::BaseUrl(url) => url.clone(),
        ManifestSource::Directory(dir) => format!("directory {dir}"),
        ManifestSource::Oci(oci) => oci.to_string(),
    }
}

fn condition_message(object: &Value, kind: &str) -> Option<String> {
    conditions::in_object(object, kind)
        .and_then(|c| c["message"].as_str())
        .map(|m| format!("({m})"))
}
