//! kube-apiserver processes: "garden", "seed" and one per shoot, each with its own etcd prefix,
//! TLS from the bed's CA and an admin kubeconfig (static token, group system:masters).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::paths;
use crate::pki::Pki;
use crate::ports::free_port;
use crate::process::Process;

#[derive(Debug)]
pub struct ApiServer {
    name: String,
    port: u16,
    dir: PathBuf,
    etcd_url: String,
    pki: Pki,
    token: String,
    kubeconfig_yaml: String,
    kubeconfig_path: PathBuf,
    options: Options,
    aggregation: Aggregation,
    process: Mutex<Option<Process>>,
}

/// How an API server is started beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Write an audit log (`<dir>.audit.log`, JSON lines) with one event per write request
    /// (create, update, patch, delete, deletecollection) at level Metadata: who wrote what.
    pub audit: bool,
}

/// Whether an API server serves aggregated APIs (APIService objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregation {
    Off,
    /// The front-proxy flags a real cluster's kube-apiserver has (`--requestheader-*` with the
    /// bed's front-proxy CA, the aggregator's client certificate). Requests of ordinary clients
    /// are unaffected: only a certificate of the front-proxy CA may assert a user in headers,
    /// and only aggregated servers are sent one.
    On,
}

/// The audit policy of [`Options::audit`]: writes at Metadata level, nothing else.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
";

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders an admin kubeconfig with an inline CA and a bearer token.
pub fn render_kubeconfig(name: &str, server: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine as _;
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: admin
current-context: {name}
",
        ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())
    )
}

impl ApiServer {
    /// Starts an API server named `name` storing under etcd prefix `/<name>`.
    pub async fn start(name: &str, etcd_url: &str, pki: &Pki, run_dir: &Path) -> Result<Self> {
        Self::start_with(name, etcd_url, pki, run_dir, Options::default()).await
    }

    /// [`ApiServer::start`] for the bed's garden, which serves aggregated APIs.
    pub(crate) async fn start_garden(
        name: &str,
        etcd_url: &str,
        pki: &Pki,
        run_dir: &Path,
    ) -> Result<Self> {
        Self::start_inner(
            name,
            etcd_url,
            pki,
            run_dir,
            Options::default(),
            Aggregation::On,
        )
        .await
    }

    /// [`ApiServer::start`] with `options`.
    pub async fn start_with(
        name: &str,
        etcd_url: &str,
        pki: &Pki,
        run_dir: &Path,
        options: Options,
    ) -> Result<Self> {
        Self::start_inner(name, etcd_url, pki, run_dir, options, Aggregation::Off).await
    }

    async fn start_inner(
        name: &str,
        etcd_url: &str,
        pki: &Pki,
        run_dir: &Path,
        options: Options,
        aggregation: Aggregation,
    ) -> Result<Self> {
        let dir = run_dir.join(format!("apiserver-{name}"));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let token = random_token();
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{token},testbed-admin,testbed-admin-uid,\"system:masters\"\n"),
        )?;
        let server = format!("https://127.0.0.1:{port}");
        let kubeconfig_yaml = render_kubeconfig(name, &server, &pki.ca_pem, &token);
        let kubeconfig_path = dir.join("kubeconfig");
        std::fs::write(&kubeconfig_path, &kubeconfig_yaml)?;
        if options.audit {
            std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)?;
        }
        let api = Self {
            name: name.to_string(),
            port,
            dir,
            etcd_url: etcd_url.to_string(),
            pki: pki.clone(),
            token,
            kubeconfig_yaml,
            kubeconfig_path,
            options,
            aggregation,
            process: Mutex::new(None),
        };
        api.start_process().await?;
        Ok(api)
    }

    async fn start_process(&self) -> Result<()> {
        let binary = paths::binary("kube-apiserver")?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--etcd-servers={}", self.etcd_url))
            .arg(format!("--etcd-prefix=/{}", self.name))
            .arg(format!("--cert-dir={}", self.dir.display()))
            .arg(format!(
                "--tls-cert-file={}",
                self.pki.serving_cert_file.display()
            ))
            .arg(format!(
                "--tls-private-key-file={}",
                self.pki.serving_key_file.display()
            ))
            .arg(format!("--secure-port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--allow-privileged=true")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--authorization-mode=RBAC")
            .arg("--endpoint-reconciler-type=none")
            .arg(format!(
                "--service-account-issuer=https://127.0.0.1:{}/",
                self.port
            ))
            // As Gardener runs shoot API servers: GRM's token requestor asks for the audience
            // "gardener".
            .arg(format!(
                "--api-audiences=https://127.0.0.1:{}/,gardener",
                self.port
            ))
            .arg(format!(
                "--service-account-key-file={}",
                self.pki.sa_public_key_file.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                self.pki.sa_key_file.display()
            ))
            .arg(format!(
                "--token-auth-file={}",
                self.dir.join("tokens.csv").display()
            ))
            .arg("--enable-priority-and-fairness=false")
            .arg("--v=1");
        if self.aggregation == Aggregation::On {
            // As Gardener configures its kube-apiservers, except the routing: the aggregator
            // resolves the APIService's Service itself (an ExternalName on loopback, see
            // `gardener`) instead of `--enable-aggregator-routing`, because endpoints may not
            // be loopback addresses.
            // The client CA is published in `kube-system/extension-apiserver-authentication` for
            // aggregated servers, which need one; no bed client uses certificates.
            command
                .arg(format!("--client-ca-file={}", self.pki.ca_file.display()))
                .arg(format!(
                    "--requestheader-client-ca-file={}",
                    self.pki.front_proxy_ca_file.display()
                ))
                .arg("--requestheader-username-headers=X-Remote-User")
                .arg("--requestheader-group-headers=X-Remote-Group")
                .arg("--requestheader-extra-headers-prefix=X-Remote-Extra-")
                .arg(format!(
                    "--proxy-client-cert-file={}",
                    self.pki.proxy_client_cert_file.display()
                ))
                .arg(format!(
                    "--proxy-client-key-file={}",
                    self.pki.proxy_client_key_file.display()
                ));
        }
        if self.options.audit {
            command
                .arg(format!(
                    "--audit-policy-file={}",
                    self.dir.join("audit-policy.yaml").display()
                ))
                .arg(format!(
                    "--audit-log-path={}",
                    self.audit_log_path().display()
                ))
                .arg("--audit-log-format=json")
                .arg("--audit-log-mode=blocking");
        }
        let log = self.dir.with_extension("log");
        let mut process = Process::spawn(&format!("kube-apiserver-{}", self.name), command, &log)?;
        let client = self.client().await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            process.ensure_running()?;
            let ready = client
                .request_text(
                    http::Request::get("/readyz")
                        .body(Vec::new())
                        .context("building /readyz request")?,
                )
                .await;
            if matches!(ready, Ok(ref body) if body.trim() == "ok") {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver {} not ready within 120s: {ready:?} (log: {})",
                    self.name,
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        *self
            .process
            .lock()
            .map_err(|_| anyhow!("API server {} poisoned", self.name))? = Some(process);
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    pub fn admin_token(&self) -> &str {
        &self.token
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// The audit log (JSON lines), written when started with [`Options::audit`].
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir.with_extension("audit.log")
    }

    /// Freezes the server (SIGSTOP): it keeps its sockets, the kernel still accepts
    /// connections, but nothing is answered until [`ApiServer::resume`], like a hung server.
    pub fn pause(&self) -> Result<()> {
        match &*self
            .process
            .lock()
            .map_err(|_| anyhow!("{} poisoned", self.name))?
        {
            Some(p) => p.pause(),
            None => bail!("{} is not running", self.name),
        }
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        match &*self
            .process
            .lock()
            .map_err(|_| anyhow!("{} poisoned", self.name))?
        {
            Some(p) => p.resume(),
            None => bail!("{} is not running", self.name),
        }
    }

    /// The PID of the running server.
    pub fn pid(&self) -> Option<i32> {
        self.process
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(Process::pid))
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        crate::process::rss_kib(self.pid()?)
    }

    /// An admin client, bound to the calling tokio runtime.
    pub async fn client(&self) -> Result<kube::Client> {
        let kubeconfig = Kubeconfig::from_yaml(&self.kubeconfig_yaml)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// A kubeconfig for the ServiceAccount `namespace/name` (created if missing) with a fresh
    /// token: an identity with no permissions until RBAC grants some.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        use k8s_openapi::api::authentication::v1::TokenRequest;
        use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
        use kube::api::{Api, Patch, PatchParams, PostParams};
        let client = self.client().await?;
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))?;
        Api::<Namespace>::all(client.clone())
            .patch(
                namespace,
                &PatchParams::apply("testbed"),
                &Patch::Apply(&ns),
            )
            .await?;
        let sa: ServiceAccount = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "namespace": namespace}}),
        )?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, namespace);
        accounts
            .patch(name, &PatchParams::apply("testbed"), &Patch::Apply(&sa))
            .await?;
        let request: TokenRequest = serde_json::from_value(
            serde_json::json!({"spec": {"audiences": [], "expirationSeconds": 86400}}),
        )?;
        let token = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await?
            .status
            .and_then(|s| s.token)
            .context("TokenRequest without a token")?;
        let path = self.dir.join(format!("kubeconfig-{namespace}-{name}"));
        std::fs::write(
            &path,
            render_kubeconfig(&self.name, &self.url(), &self.pki.ca_pem, &token),
        )?;
        Ok(path)
    }

    /// Stops the server (a hibernated shoot, a fault). Its data stays in etcd.
    pub fn stop(&self) {
        let process = self.process.lock().ok().and_then(|mut p| p.take());
        if let Some(mut process) = process {
            process.stop(Duration::from_secs(10));
        }
    }

    pub fn is_running(&self) -> bool {
        self.process.lock().is_ok_and(|p| p.is_some())
    }

    /// Starts the server again on the same port with the same data; returns once it is ready.
    pub async fn restart(&self) -> Result<()> {
        self.stop();
        self.start_process().await
    }
}
