//! What e2e_admission and the demo share to put shoot-flux's admission webhook in front of
//! gardener-apiserver: a project with what a Shoot with workers needs in a real garden, Shoots,
//! the webhook process and its ValidatingWebhookConfiguration rendered from the repository's
//! application chart.
//!
//! The garden objects are what Gardener's admission plugins check (a CloudProfile with the
//! Kubernetes version, credentials and their binding, ControllerRegistrations of the extension
//! types a Shoot names); nothing reconciles them (see [`crate::gardener`]). The webhook is called
//! by URL on 127.0.0.1 with the bed's serving certificate, since no DNS here resolves a Service.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::Bed;
use crate::kubeutil::parse_documents;
use crate::ports::free_port;
use crate::process::Process;

/// The Kubernetes version of the CloudProfile and the Shoots (one gardener-apiserver supports).
pub const KUBERNETES_VERSION: &str = "1.35.2";

/// The project `project` in `namespace`, with a CloudProfile `local`, credentials `local`, and
/// the registrations of the provider, networking and OS extension types of [`shoot`].
pub fn project_objects(project: &str, namespace: &str) -> Result<Vec<Value>> {
    parse_documents(&format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  labels:
    gardener.cloud/role: project
    project.gardener.cloud/name: {project}
---
apiVersion: core.gardener.cloud/v1beta1
kind: Project
metadata:
  name: {project}
spec:
  namespace: {namespace}
---
apiVersion: core.gardener.cloud/v1beta1
kind: CloudProfile
metadata:
  name: local
spec:
  type: local
  kubernetes:
    versions:
    - version: {KUBERNETES_VERSION}
  machineImages:
  - name: ubuntu
    versions:
    - version: 24.4.0
      cri:
      - name: containerd
      architectures: [amd64]
  machineTypes:
  - name: small
    cpu: '2'
    gpu: '0'
    memory: 4Gi
    architecture: amd64
    usable: true
  regions:
  - name: local
---
apiVersion: core.gardener.cloud/v1beta1
kind: ControllerRegistration
metadata:
  name: provider-local
spec:
  resources:
  - {{kind: ControlPlane, type: local}}
  - {{kind: Infrastructure, type: local}}
  - {{kind: Worker, type: local}}
---
apiVersion: core.gardener.cloud/v1beta1
kind: ControllerRegistration
metadata:
  name: networking-calico
spec:
  resources:
  - {{kind: Network, type: calico}}
---
apiVersion: core.gardener.cloud/v1beta1
kind: ControllerRegistration
metadata:
  name: os-ubuntu
spec:
  resources:
  - {{kind: OperatingSystemConfig, type: ubuntu}}
---
apiVersion: v1
kind: Secret
metadata:
  name: local-credentials
  namespace: {namespace}
data:
  token: c2VjcmV0
---
apiVersion: security.gardener.cloud/v1alpha1
kind: CredentialsBinding
metadata:
  name: local
  namespace: {namespace}
provider:
  type: local
credentialsRef:
  apiVersion: v1
  kind: Secret
  name: local-credentials
  namespace: {namespace}
"
    ))
}

/// A Shoot in `namespace` with one worker pool; `spec` is merged into its spec (objects merge,
/// null removes a key, anything else replaces).
pub fn shoot(namespace: &str, name: &str, spec: Value) -> Value {
    let base = json!({
        "apiVersion": "core.gardener.cloud/v1beta1",
        "kind": "Shoot",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cloudProfile": {"kind": "CloudProfile", "name": "local"},
            "credentialsBindingName": "local",
            "region": "local",
            "kubernetes": {"version": KUBERNETES_VERSION},
            "networking": {"type": "calico", "nodes": "10.10.0.0/16"},
            "provider": {
                "type": "local",
                "workers": [{
                    "name": "pool",
                    "machine": {"type": "small", "image": {"name": "ubuntu"}},
                    "minimum": 1,
                    "maximum": 2,
                }],
            },
        },
    });
    merge(base, json!({"spec": spec}))
}

/// A JSON merge patch (RFC 7386) of `patch` onto `base`.
pub fn merge(base: Value, patch: Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch;
    };
    let mut map = match base {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            let current = map.remove(&key).unwrap_or(Value::Null);
            map.insert(key, merge(current, value));
        }
    }
    Value::Object(map)
}

/// `gardener-extension-shoot-flux admission` on 127.0.0.1 with the bed's serving certificate;
/// `start` again after `stop` listens on the same port.
#[derive(Debug)]
pub struct Webhook {
    binary: PathBuf,
    port: u16,
    health_port: u16,
    log: PathBuf,
    process: Option<Process>,
}

impl Webhook {
    /// Starts `binary` (the extension) as the webhook and returns once it accepts connections.
    pub async fn start(bed: &Bed, binary: &Path) -> Result<Self> {
        let mut webhook = Self {
            binary: binary.to_path_buf(),
            port: free_port()?,
            health_port: free_port()?,
            log: bed.dir().join("admission.log"),
            process: None,
        };
        webhook.restart(bed).await?;
        Ok(webhook)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts the process again (after [`Webhook::stop`]) and waits until it listens.
    pub async fn restart(&mut self, bed: &Bed) -> Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .arg(format!(
                "--health-bind-address=127.0.0.1:{}",
                self.health_port
            ))
            .arg("--log-format=text")
            .arg("admission")
            .arg(format!("--webhook-bind-address=127.0.0.1:{}", self.port))
            .arg(format!(
                "--tls-cert-file={}",
                bed.pki().serving_cert_file.display()
            ))
            .arg(format!(
                "--tls-private-key-file={}",
                bed.pki().serving_key_file.display()
            ));
        let mut process = Process::spawn("admission", command, &self.log)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            process.ensure_running()?;
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the webhook does not listen on {} (log: {})",
                    self.port,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.process = Some(process);
        Ok(())
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop(Duration::from_secs(10));
        }
    }

    /// The ValidatingWebhookConfiguration for this webhook: `helm template` of the repository's
    /// application chart, called by URL with the bed's CA.
    pub fn configuration(&self, bed: &Bed) -> Result<String> {
        let chart = crate::paths::repo_root()
            .join("charts/gardener-extension-admission-shoot-flux/charts/application");
        let home = bed.dir().join("helm-home");
        std::fs::create_dir_all(&home)?;
        let mut command = Command::new(crate::paths::helm()?);
        command
            .args(["template", "shoot-flux-admission"])
            .arg(&chart)
            .args(["--namespace", "garden"])
            .arg(format!(
                "--set=global.webhook.url=https://127.0.0.1:{}",
                self.port
            ))
            .arg(format!(
                "--set-file=global.webhook.caBundle={}",
                bed.pki().ca_file.display()
            ))
            .env("HELM_CACHE_HOME", &home)
            .env("HELM_CONFIG_HOME", &home);
        crate::process::run(&mut command).context("rendering the admission application chart")
    }
}
