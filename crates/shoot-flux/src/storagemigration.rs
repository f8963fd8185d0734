//! The storage migration before a Flux upgrade, done in the shoot through its least-privilege
//! access (what is migrated is decided by `flux::storedversions`): give the CRD its bridge when
//! the shoot stores at a version the new Flux drops, write every object back at the storage
//! version, then trim `status.storedVersions`. Idempotent: a run that stops anywhere (deadline,
//! crash, restart) is repeated from the start, and an object already stored at the storage
//! version costs the API server no write (it skips updates that encode to the stored bytes).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::json;

use crate::apierror::is_not_found;
use crate::apiresources::cluster_resource;
use crate::extensionconditions::write_conditions;
use crate::progress;
use crate::shootaccess::{self, ShootAccessError};
use shoot_flux_core::access;
use shoot_flux_core::flux::bundle::InstallBundle;
use shoot_flux_core::flux::storedversions::{self, BundleCrd, Migration, ShootCrd};
use shoot_flux_core::gardener::conditions::Verdict;
use shoot_flux_core::gardener::types::Extension;

/// The budget of one request to the shoot's API server.
const SHOOT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an upgrade waits in one reconcile for a shoot access token or RBAC on their way.
const SHOOT_ACCESS_WAIT: Duration = Duration::from_secs(60);
/// Objects listed per request.
const PAGE: u32 = 500;
/// Objects written back at the same time.
const WRITERS: usize = 8;
/// How long a version new to a CRD may take to be served.
const BRIDGE_SERVED_WAIT: Duration = Duration::from_secs(60);

/// What one CRD's migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub crd: String,
    pub from: Vec<String>,
    pub to: String,
    pub objects: usize,
    /// Requests sent to the shoot for it (reading the CRD excluded).
    pub requests: usize,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("reading CustomResourceDefinition {crd} in the shoot: {source}")]
    Read { crd: String, source: kube::Error },
    #[error(
        "migrating the objects of CustomResourceDefinition {crd} from stored version(s) {from} to {to} in the shoot: {step}: {source}"
    )]
    Migrate {
        crd: String,
        from: String,
        to: String,
        step: &'static str,
        source: kube::Error,
    },
}

impl MigrationError {
    /// A refused request: the shoot access or its RBAC is not there yet.
    pub fn is_forbidden(&self) -> bool {
        let source = match self {
            Self::Read { source, .. } | Self::Migrate { source, .. } => source,
        };
        matches!(source, kube::Error::Api(e) if e.code == 401 || e.code == 403)
    }
}

/// Why an upgrade cannot go ahead yet.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("{0}")]
    ShootAccess(#[from] ShootAccessError),
    #[error("{0}")]
    Migration(#[from] MigrationError),
    #[error("seed API request failed: {0}")]
    Seed(#[from] kube::Error),
    /// The shoot access is not usable yet; retried soon.
    #[error("{0}")]
    Waiting(String),
}

/// Before `bundle` replaces an install GRM applied: reads the shoot's CRDs and migrates what
/// they store at versions the bundle drops, saying so as `FluxUpgradeReady` on the Extension.
/// Waits a while for a token or RBAC still on their way (the caller has just written both).
pub async fn before_upgrade(
    seed: &Client,
    ext: &Extension,
    bundle: &InstallBundle,
) -> Result<(), UpgradeError> {
    let started = Instant::now();
    loop {
        progress::step(
            format!(
                "reading the shoot's Flux CRDs before upgrading Flux (through Secret {}/{})",
                ext.namespace,
                access::SECRET_NAME
            ),
            progress::SEED,
        );
        let waiting = match attempt(seed, ext, bundle).await {
            Ok(()) => return Ok(()),
            Err(UpgradeError::ShootAccess(ShootAccessError::Waiting(_))) => true,
            Err(UpgradeError::Migration(e)) if e.is_forbidden() => true,
            Err(e) => return Err(e),
        };
        if waiting && started.elapsed() >= SHOOT_ACCESS_WAIT {
            return Err(UpgradeError::Waiting(format!(
                "the Flux upgrade waits until the shoot's CRDs are checked for stored versions it drops, and the shoot access (Secret {}/{} and its RBAC) is still not usable after {}s",
                ext.namespace,
                access::SECRET_NAME,
                SHOOT_ACCESS_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn attempt(
    seed: &Client,
    ext: &Extension,
    bundle: &InstallBundle,
) -> Result<(), UpgradeError> {
    // The Cluster's annotations name the current generic kubeconfig: its metadata is enough.
    let cluster = Api::<DynamicObject>::all_with(seed.clone(), &cluster_resource())
        .get_metadata(&ext.namespace)
        .await?;
    let generic = cluster
        .metadata
        .annotations
        .unwrap_or_default()
        .remove(access::GENERIC_KUBECONFIG_ANNOTATION);
    let token = shootaccess::token(seed, &ext.namespace).await?;
    let shoot = shootaccess::client(
        seed,
        &ext.namespace,
        generic.as_deref(),
        &token,
        SHOOT_REQUEST_TIMEOUT,
        None,
    )
    .await?;
    let migrations = plan(&shoot, &bundle.crds).await?;
    if migrations.is_empty() {
        return Ok(());
    }
    let version = bundle.version.to_string();
    let say = |verdict: Verdict| async move {
        write_conditions(
            seed,
            &ext.namespace,
            &ext.name,
            &[(storedversions::UPGRADE_CONDITION, verdict)],
        )
        .await
    };
    say(storedversions::migrating(&migrations, &version)).await?;
    match run(&shoot, &migrations).await {
        Ok(_) => Ok(say(storedversions::migrated(&migrations, &version)).await?),
        Err(e) => {
            say(storedversions::migration_failed(&e.to_string(), &version)).await?;
            Err(e.into())
        }
    }
}

/// Reads the bundle's CRDs in the shoot: the migrations they need before the bundle may be
/// applied (empty when none).
pub async fn plan(shoot: &Client, bundle: &[BundleCrd]) -> Result<Vec<Migration>, MigrationError> {
    let crds: Api<CustomResourceDefinition> = Api::all(shoot.clone());
    let mut current: Vec<ShootCrd> = Vec::new();
    for crd in bundle {
        progress::step(
            format!(
                "reading CustomResourceDefinition {} in the shoot for its stored versions",
                crd.name
            ),
            progress::SEED,
        );
        let object = crds
            .get_opt(&crd.name)
            .await
            .map_err(|source| MigrationError::Read {
                crd: crd.name.clone(),
                source,
            })?;
        if let Some(shoot_crd) = object
            .and_then(|o| serde_json::to_value(o).ok())
            .as_ref()
            .and_then(storedversions::shoot_crd)
        {
            current.push(shoot_crd);
        }
    }
    Ok(storedversions::migrations(bundle, &current))
}

/// Carries out `migrations`, one CRD after the other.
pub async fn run(
    shoot: &Client,
    migrations: &[Migration],
) -> Result<Vec<Migrated>, MigrationError> {
    let crds: Api<CustomResourceDefinition> = Api::all(shoot.clone());
    let mut done = Vec::new();
    for migration in migrations {
        done.push(migrate(shoot, &crds, migration).await?);
    }
    Ok(done)
}

async fn migrate(
    shoot: &Client,
    crds: &Api<CustomResourceDefinition>,
    migration: &Migration,
) -> Result<Migrated, MigrationError> {
    let error = |step: &'static str| {
        let crd = migration.crd.clone();
        let from = migration.dropped.join(", ");
        let to = migration.version.clone();
        move |source| MigrationError::Migrate {
            crd,
            from,
            to,
            step,
            source,
        }
    };
    let started = Instant::now();
    let mut requests = 0;
    let passes = if let Some(bridge) = &migration.bridge {
        progress::step(
            format!(
                "giving CustomResourceDefinition {} in the shoot storage version {} while it keeps serving {}",
                migration.crd,
                migration.version,
                migration.dropped.join(", ")
            ),
            progress::SEED,
        );
        crds.patch(
            &migration.crd,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"versions": bridge}})),
        )
        .await
        .map_err(error("writing the bridge versions"))?;
        requests += 1;
        // The API server swaps a CRD's storage when its own informer sees the update; a write in
        // that moment may still be stored at the old version. A second pass, after the first
        // has taken its time, writes those back too.
        2
    } else {
        1
    };
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&migration.group, &migration.version, ""),
        &migration.plural,
    );
    let objects: Api<DynamicObject> = Api::all_with(shoot.clone(), &resource);
    if migration.bridge.is_some() {
        // A version new to the CRD is served once the API server's own informer has seen the
        // update; until then it answers 404.
        let started = Instant::now();
        loop {
            match objects.list(&ListParams::default().limit(1)).await {
                Err(e) if is_not_found(&e) && started.elapsed() < BRIDGE_SERVED_WAIT => {
                    requests += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => {
                    requests += 1;
                    other.map_err(error("waiting for the bridge version to be served"))?;
                    break;
                }
            }
        }
    }
    let mut written = 0;
    for pass in 1..=passes {
        let mut continue_token: Option<String> = None;
        written = 0;
        loop {
            progress::step(
                format!(
                    "writing back the objects of CustomResourceDefinition {} at {} in the shoot (pass {pass} of {passes}, {written} done)",
                    migration.crd, migration.version
                ),
                progress::SEED,
            );
            let mut params = ListParams::default().limit(PAGE);
            if let Some(token) = &continue_token {
                params = params.continue_token(token);
            }
            let page = objects
                .list(&params)
                .await
                .map_err(error("listing the objects"))?;
            requests += 1;
            let names: Vec<(Option<String>, String)> = page
                .items
                .iter()
                .filter_map(|o| Some((o.metadata.namespace.clone(), o.metadata.name.clone()?)))
                .collect();
            requests += names.len();
            written += names.len();
            stream::iter(names)
                .map(|(namespace, name)| {
                    let api: Api<DynamicObject> = match &namespace {
                        Some(ns) => Api::namespaced_with(shoot.clone(), ns, &resource),
                        None => Api::all_with(shoot.clone(), &resource),
                    };
                    async move {
                        // An empty patch is a write of the object as it is: the API server
                        // encodes it at the storage version.
                        match api
                            .patch(&name, &PatchParams::default(), &Patch::Merge(&json!({})))
                            .await
                        {
                            Ok(_) => Ok(()),
                            Err(e) if is_not_found(&e) => Ok(()),
                            Err(e) => Err(e),
                        }
                    }
                })
                .buffer_unordered(WRITERS)
                .try_collect::<Vec<()>>()
                .await
                .map_err(error("writing an object back"))?;
            continue_token = page.metadata.continue_.filter(|t| !t.is_empty());
            if continue_token.is_none() {
                break;
            }
        }
    }
    progress::step(
        format!(
            "trimming the stored versions of CustomResourceDefinition {} in the shoot to {}",
            migration.crd,
            migration.stored_versions.join(", ")
        ),
        progress::SEED,
    );
    crds.patch_status(
        &migration.crd,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"storedVersions": migration.stored_versions}})),
    )
    .await
    .map_err(error("trimming status.storedVersions"))?;
    requests += 1;
    tracing::info!(
        crd = %migration.crd,
        from = %migration.dropped.join(", "),
        to = %migration.version,
        objects = written,
        requests,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "migrated the stored objects of a CustomResourceDefinition before the Flux upgrade"
    );
    Ok(Migrated {
        crd: migration.crd.clone(),
        from: migration.dropped.clone(),
        to: migration.version.clone(),
        objects: written,
        requests,
        elapsed: started.elapsed(),
    })
}
