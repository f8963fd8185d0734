//! Git servers on loopback: bare repositories served over SSH by Debian's sshd (for private
//! repositories with deploy keys) and over smart HTTP by `git http-backend` behind a small CGI
//! shim (Flux's git library does not speak the dumb HTTP protocol).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::BodyExt;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use tokio::io::AsyncWriteExt;

use crate::httpserve::{HttpServer, response};
use crate::paths;
use crate::ports::free_port;
use crate::process::{Process, run};

#[derive(Debug)]
pub struct GitServer {
    dir: PathBuf,
    repos: PathBuf,
    user: String,
    ssh_port: u16,
    host_public_key: String,
    authorized_keys: PathBuf,
    sshd: Process,
    http: HttpServer,
    http_requests: Arc<Mutex<Vec<String>>>,
}

/// An ed25519 key pair in OpenSSH format, as a deploy key or host key.
#[derive(Clone)]
pub struct SshKeyPair {
    pub private_openssh: String,
    pub public_openssh: String,
}

impl std::fmt::Debug for SshKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKeyPair")
            .field("public_openssh", &self.public_openssh)
            .finish_non_exhaustive()
    }
}

impl SshKeyPair {
    pub fn generate(comment: &str) -> Result<Self> {
        let mut key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)?;
        key.set_comment(comment);
        Ok(Self {
            private_openssh: key.to_openssh(LineEnding::LF)?.to_string(),
            public_openssh: key.public_key().to_openssh()?,
        })
    }
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "testbed")
        .env("GIT_AUTHOR_EMAIL", "testbed@127.0.0.1")
        .env("GIT_COMMITTER_NAME", "testbed")
        .env("GIT_COMMITTER_EMAIL", "testbed@127.0.0.1")
        .arg("-c")
        .arg("safe.directory=*");
    c
}

fn current_user() -> Result<String> {
    Ok(run(Command::new("id").arg("-un"))?.trim().to_string())
}

impl GitServer {
    pub async fn start(dir: &Path) -> Result<Self> {
        let sshd_binary = paths::system_program("/usr/sbin/sshd")?;
        paths::system_program("/usr/bin/git")?;
        let dir = dir.join("git");
        let repos = dir.join("repos");
        std::fs::create_dir_all(&repos)?;
        let host_key = SshKeyPair::generate("testbed-git-host")?;
        let host_key_file = dir.join("ssh_host_ed25519_key");
        std::fs::write(&host_key_file, &host_key.private_openssh)?;
        set_mode(&host_key_file, 0o600)?;
        let authorized_keys = dir.join("authorized_keys");
        std::fs::write(&authorized_keys, "")?;
        set_mode(&authorized_keys, 0o600)?;
        let user = current_user()?;
        if nix_is_root() {
            // sshd refuses to start as root without its privilege separation directory.
            std::fs::create_dir_all("/run/sshd")?;
        }
        let ssh_port = free_port()?;
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {ssh_port}
ListenAddress 127.0.0.1
HostKey {host}
PidFile {pid}
AuthorizedKeysFile {keys}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers {user}
LogLevel VERBOSE
",
                host = host_key_file.display(),
                pid = dir.join("sshd.pid").display(),
                keys = authorized_keys.display(),
            ),
        )?;
        let mut command = Command::new(sshd_binary);
        command.arg("-D").arg("-e").arg("-f").arg(&config);
        let mut sshd = Process::spawn("sshd", command, &dir.with_extension("sshd.log"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", ssh_port))
            .await
            .is_err()
        {
            sshd.ensure_running()?;
            if Instant::now() > deadline {
                bail!(
                    "sshd did not listen within 60s (log: {})",
                    sshd.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let http_requests = Arc::new(Mutex::new(Vec::new()));
        let http = start_http_backend(repos.clone(), http_requests.clone())?;
        Ok(Self {
            dir,
            repos,
            user,
            ssh_port,
            host_public_key: host_key.public_openssh,
            authorized_keys,
            sshd,
            http,
            http_requests,
        })
    }

    fn repo_path(&self, name: &str) -> PathBuf {
        self.repos.join(format!("{name}.git"))
    }

    /// Creates a bare repository `name` whose branch `main` holds `files`.
    pub fn create_repository(&self, name: &str, files: &[(&str, &str)]) -> Result<String> {
        let bare = self.repo_path(name);
        if bare.exists() {
            bail!("repository {name} exists already");
        }
        run(git(&self.repos)
            .args(["init", "--bare", "--initial-branch=main"])
            .arg(&bare))?;
        // Let `git http-backend` serve it.
        run(git(&bare).args(["config", "http.receivepack", "false"]))?;
        let changes: Vec<(&str, Option<&str>)> =
            files.iter().map(|(p, c)| (*p, Some(*c))).collect();
        self.commit(name, "main", &changes, "initial commit")
    }

    /// `create_repository` for files held as owned strings (e.g. `sample::podinfo_files`).
    pub fn create_repository_from(&self, name: &str, files: &[(String, String)]) -> Result<String> {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        self.create_repository(name, &files)
    }

    /// Commits `files` (path, content; each written) on `branch` and pushes. Returns the new
    /// commit SHA.
    pub fn commit_files(
        &self,
        name: &str,
        branch: &str,
        files: &[(String, String)],
        message: &str,
    ) -> Result<String> {
        let changes: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), Some(c.as_str())))
            .collect();
        self.commit(name, branch, &changes, message)
    }

    /// Commits `changes` (path, Some(content) to write, None to delete) on `branch` and pushes.
    /// Returns the new commit SHA.
    pub fn commit(
        &self,
        name: &str,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        message: &str,
    ) -> Result<String> {
        let bare = self.repo_path(name);
        let work = tempfile::Builder::new()
            .prefix("commit-")
            .tempdir_in(&self.dir)?;
        let wt = work.path();
        run(git(wt).arg("clone").arg("--quiet").arg(&bare).arg("."))?;
        let has_branch =
            run(git(wt).args(["ls-remote", "--heads", "origin", branch]))?.contains(branch);
        if has_branch {
            run(git(wt).args(["checkout", "--quiet", branch]))?;
        } else {
            run(git(wt).args(["checkout", "--quiet", "--orphan", branch]))?;
        }
        for (path, content) in changes {
            let file = wt.join(path);
            match content {
                Some(text) => {
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&file, text)?;
                }
                None => {
                    if file.exists() {
                        std::fs::remove_file(&file)?;
                    }
                }
            }
        }
        run(git(wt).args(["add", "--all"]))?;
        run(git(wt).args(["commit", "--quiet", "--allow-empty", "-m", message]))?;
        run(git(wt).args([
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]))?;
        Ok(run(git(wt).args(["rev-parse", "HEAD"]))?.trim().to_string())
    }

    /// Allows `public_openssh` to read every repository over SSH (a deploy key).
    pub fn authorize_key(&self, public_openssh: &str) -> Result<()> {
        let mut current = std::fs::read_to_string(&self.authorized_keys)?;
        current.push_str(public_openssh.trim());
        current.push('\n');
        std::fs::write(&self.authorized_keys, current)?;
        Ok(())
    }

    /// Removes `public_openssh` (matched by key type and data, not comment) from the allowed keys.
    pub fn revoke_key(&self, public_openssh: &str) -> Result<()> {
        let key_of = |line: &str| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let revoked = key_of(public_openssh);
        let kept: String = std::fs::read_to_string(&self.authorized_keys)?
            .lines()
            .filter(|l| key_of(l) != revoked)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&self.authorized_keys, kept)?;
        Ok(())
    }

    /// `ssh://<user>@127.0.0.1:<port>/<path>/<name>.git`
    pub fn ssh_url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.ssh_port,
            self.repo_path(name).display()
        )
    }

    /// `http://127.0.0.1:<port>/<name>.git`
    pub fn http_url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.http.url())
    }

    pub fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    /// The `known_hosts` line of the SSH server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts(&self) -> String {
        let mut fields = self.host_public_key.split_whitespace();
        let algorithm = fields.next().unwrap_or_default();
        let key = fields.next().unwrap_or_default();
        format!("[127.0.0.1]:{} {algorithm} {key}\n", self.ssh_port)
    }

    /// The SSH host key, `ssh-ed25519 AAAA… comment`.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    pub fn sshd_log(&self) -> &Path {
        self.sshd.log_path()
    }

    pub fn http_requests(&self) -> Vec<String> {
        self.http_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

fn nix_is_root() -> bool {
    run(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// `git http-backend` as CGI: one process per request, request body on stdin, CGI headers on
/// stdout.
fn start_http_backend(repos: PathBuf, log: Arc<Mutex<Vec<String>>>) -> Result<HttpServer> {
    HttpServer::start(move |req| {
        let repos = repos.clone();
        let log = log.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let query = req.uri().query().unwrap_or_default().to_string();
            if let Ok(mut l) = log.lock() {
                l.push(format!("{method} {path}?{query}"));
            }
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let (content_type, git_protocol, encoding) = (
                header("content-type"),
                header("git-protocol"),
                header("content-encoding"),
            );
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return response(400, format!("reading body: {e}")),
            };
            match cgi(
                &repos,
                &method,
                &path,
                &query,
                &content_type,
                &git_protocol,
                &encoding,
                &body,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => response(500, format!("git http-backend: {e:#}")),
            }
        }
    })
}

#[allow(clippy::too_many_arguments)]
async fn cgi(
    repos: &Path,
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    git_protocol: &str,
    encoding: &str,
    body: &[u8],
) -> Result<hyper::Response<crate::httpserve::Body>> {
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", repos)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", git_protocol)
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting git http-backend")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body).await?;
    }
    let output = child.wait_with_output().await?;
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .with_context(|| {
            format!(
                "no CGI headers; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let mut resp = response(200, out[split.0 + split.1..].to_vec());
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            *resp.status_mut() = hyper::StatusCode::from_u16(code)?;
        } else if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    Ok(resp)
}
