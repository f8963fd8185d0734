//! gardener-apiserver: Gardener's own API (`core.gardener.cloud`, `seedmanagement`, `operations`,
//! `security`) served as an aggregated API of the bed's garden kube-apiserver, so that Projects,
//! CloudProfiles, Seeds, Shoots, ControllerRegistrations and ControllerDeployments are real
//! objects, defaulted, validated and admitted by Gardener's code at the version the bed pins.
//! Started only by the tests that ask for it ([`crate::Bed::gardener_apiserver`]).
//!
//! What of a real garden it reproduces:
//! - the binary built from the gardener module as released (`hack/testbed/install
//!   gardener-apiserver`), with the flags gardener-operator gives it: delegated authentication
//!   and authorization (`--authentication-kubeconfig`, `--authorization-kubeconfig`: TokenReview
//!   and SubjectAccessReview against the garden, the front-proxy CA read from the garden's
//!   `extension-apiserver-authentication` ConfigMap), `--kubeconfig` for the garden's core API
//!   (its admission plugins read Namespaces, Secrets, ... there), `--cluster-identity`, a
//!   workload-identity issuer and signing key, `--authorization-always-allow-paths=/healthz`;
//! - its own etcd prefix (`/registry-gardener`, Gardener's default) on the bed's etcd;
//! - Gardener's default admission plugins, unchanged (no `--enable-admission-plugins` or
//!   `--disable-admission-plugins`, as gardener-operator without extra plugins configured):
//!   among them NamespaceLifecycle, ResourceReferenceManager, ExtensionValidator (an extension
//!   type needs a ControllerRegistration), ExtensionLabels, ShootValidator, ShootMutator,
//!   ShootQuotaValidator, ShootDNS, SeedValidator, ControllerRegistrationResources,
//!   ProjectMutator, DeletionConfirmation, ResourceQuota, and the webhook and policy plugins
//!   (MutatingAdmissionWebhook, ValidatingAdmissionWebhook, ValidatingAdmissionPolicy) that
//!   read their configurations from the garden;
//! - the APIService objects gardener-operator creates (group priority 10000, version priority
//!   20), a Service `kube-system/gardener-apiserver`, TLS verified by the aggregator against the
//!   bed's CA for `gardener-apiserver.kube-system.svc`, and the garden kube-apiserver's
//!   front-proxy flags (see [`crate::apiserver`]).
//!
//! What not:
//! - the Service is an ExternalName on `localhost` and the garden runs without
//!   `--enable-aggregator-routing`: a real garden points an EndpointSlice at the server's IP, but
//!   endpoints may not be loopback addresses;
//! - admission webhooks for Gardener's resources must be addressed by `clientConfig.url`: a
//!   `clientConfig.service` resolves to `<name>.<namespace>.svc`, which no DNS here answers;
//! - it authenticates to the garden with the bed's admin token (group `system:masters`), not
//!   with a ServiceAccount bound to gardener-apiserver's ClusterRole;
//! - API priority and fairness is off (as on the bed's API servers), no audit log, no etcd
//!   encryption, one replica, no gardener-controller-manager, scheduler or gardenlet: nothing
//!   reconciles the objects (a Project's namespace is created by the test, Shoots stay
//!   unscheduled unless `spec.seedName` is set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::apiserver::{ApiServer, render_kubeconfig};
use crate::kubeutil::wait_for;
use crate::paths;
use crate::pki::{GARDENER_APISERVER_SERVICE, Pki};
use crate::ports::free_port;
use crate::process::Process;

/// The groups and versions gardener-apiserver serves, as gardener-operator registers them.
pub const API_GROUP_VERSIONS: &[(&str, &str)] = &[
    ("core.gardener.cloud", "v1"),
    ("core.gardener.cloud", "v1beta1"),
    ("seedmanagement.gardener.cloud", "v1alpha1"),
    ("operations.gardener.cloud", "v1alpha1"),
    ("security.gardener.cloud", "v1alpha1"),
];

/// Its etcd prefix (gardener-apiserver's default), apart from the garden's `/garden`.
pub const ETCD_PREFIX: &str = "/registry-gardener";

/// The cluster identity it is started with (`kube-system/cluster-identity` in the garden).
pub const CLUSTER_IDENTITY: &str = "shoot-flux-testbed-garden";

const FIELD_MANAGER: &str = "testbed-gardener-apiserver";

#[derive(Debug)]
pub struct GardenerApiServer {
    port: u16,
    kubeconfig_yaml: String,
    pub process: Process,
}

impl GardenerApiServer {
    /// Starts gardener-apiserver for `garden` (which must serve aggregated APIs, as the bed's
    /// garden does), registers it there and returns once every group is available through the
    /// garden.
    pub(crate) async fn start(
        garden: &ApiServer,
        etcd_url: &str,
        pki: &Pki,
        run_dir: &Path,
    ) -> Result<Self> {
        let port = free_port()?;
        let garden_kubeconfig = garden.kubeconfig_path().display().to_string();
        let mut command = Command::new(paths::binary("gardener-apiserver")?);
        command
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--etcd-prefix={ETCD_PREFIX}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!(
                "--tls-cert-file={}",
                pki.gardener_apiserver_cert_file.display()
            ))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.gardener_apiserver_key_file.display()
            ))
            .arg(format!("--kubeconfig={garden_kubeconfig}"))
            .arg(format!("--authentication-kubeconfig={garden_kubeconfig}"))
            .arg(format!("--authorization-kubeconfig={garden_kubeconfig}"))
            .arg("--authorization-always-allow-paths=/healthz")
            .arg(format!("--cluster-identity={CLUSTER_IDENTITY}"))
            .arg(format!(
                "--workload-identity-token-issuer={}/workload-identity",
                garden.url()
            ))
            .arg(format!(
                "--workload-identity-signing-key-file={}",
                pki.workload_identity_key_file.display()
            ))
            .arg("--enable-priority-and-fairness=false")
            .arg("--profiling=false")
            .arg("--log-level=info")
            .arg("--log-format=text");
        let process = Process::spawn(
            "gardener-apiserver",
            command,
            &run_dir.join("gardener-apiserver.log"),
        )?;
        let mut server = Self {
            port,
            kubeconfig_yaml: render_kubeconfig(
                "gardener-apiserver",
                &format!("https://127.0.0.1:{port}"),
                &pki.ca_pem,
                garden.admin_token(),
            ),
            process,
        };
        server.wait_ready().await?;
        server
            .register(&garden.client().await?, &pki.ca_pem)
            .await?;
        Ok(server)
    }

    /// Waits for its own `/readyz` (post-start hooks done, informers of the admission plugins
    /// synced), asked directly with the garden's admin token (authenticated by the garden).
    async fn wait_ready(&mut self) -> Result<()> {
        let client = self.direct_client().await?;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            self.process.ensure_running()?;
            let ready = client
                .request_text(
                    http::Request::get("/readyz")
                        .body(Vec::new())
                        .context("building /readyz request")?,
                )
                .await;
            if matches!(ready, Ok(ref body) if body.trim() == "ok") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "gardener-apiserver not ready within 180s: {ready:?} (log: {})",
                    self.process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The Service and APIServices in the garden, then waits until the aggregator reports every
    /// APIService available and the garden serves every group.
    async fn register(&self, garden: &Client, ca_pem: &str) -> Result<()> {
        use base64::Engine as _;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let service: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": GARDENER_APISERVER_SERVICE, "namespace": "kube-system"},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}],
            },
        }))?;
        Api::<Service>::namespaced(garden.clone(), "kube-system")
            .patch(GARDENER_APISERVER_SERVICE, &params, &Patch::Apply(&service))
            .await
            .context("creating the gardener-apiserver Service in the garden")?;
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
        let api_services: Api<APIService> = Api::all(garden.clone());
        for (group, version) in API_GROUP_VERSIONS {
            let name = format!("{version}.{group}");
            let api_service: APIService = serde_json::from_value(serde_json::json!({
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "version": version,
                    "groupPriorityMinimum": 10000,
                    "versionPriority": 20,
                    "caBundle": ca_bundle,
                    "service": {
                        "name": GARDENER_APISERVER_SERVICE,
                        "namespace": "kube-system",
                        "port": self.port,
                    },
                },
            }))?;
            api_services
                .patch(&name, &params, &Patch::Apply(&api_service))
                .await
                .with_context(|| format!("creating APIService {name} in the garden"))?;
        }
        for (group, version) in API_GROUP_VERSIONS {
            let name = format!("{version}.{group}");
            wait_for(
                &format!("APIService {name} available in the garden"),
                Duration::from_secs(120),
                || async {
                    let api_service = api_services.get(&name).await?;
                    let available = api_service
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .into_iter()
                        .find(|c| c.type_ == "Available");
                    match available {
                        Some(c) if c.status == "True" => Ok(Some(())),
                        Some(c) => {
                            bail!("Available={}: {}", c.status, c.message.unwrap_or_default())
                        }
                        None => Ok(None),
                    }
                },
            )
            .await?;
            // The aggregator's proxy handler for the group is registered apart from the
            // availability check: wait until the garden itself serves the group's discovery.
            let path = format!("/apis/{group}/{version}");
            wait_for(
                &format!("the garden to serve {path}"),
                Duration::from_secs(120),
                || async {
                    garden
                        .request_text(http::Request::get(&path).body(Vec::new())?)
                        .await?;
                    Ok(Some(()))
                },
            )
            .await?;
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its own URL; clients normally go through the garden instead.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// An admin client talking to gardener-apiserver directly (not through the garden's
    /// aggregator), authenticated by the garden through a TokenReview.
    pub async fn direct_client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::from_yaml(&self.kubeconfig_yaml)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    pub fn log_path(&self) -> PathBuf {
        self.process.log_path().to_path_buf()
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.process.rss_kib()
    }
}
