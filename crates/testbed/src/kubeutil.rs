//! Small Kubernetes helpers the bed and its tests share: applying YAML documents of any kind,
//! installing CRDs, and waiting for a condition with a clear timeout message.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

/// Polls `check` every 250 ms until it returns `Some`, or fails after `timeout` with the last
/// observation (`Err` values are kept as the observation and retried).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => last = "condition not met".into(),
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Parses a multi-document YAML stream into JSON values, skipping empty documents.
pub fn parse_documents(yaml: &str) -> Result<Vec<serde_json::Value>> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(yaml).context("parsing YAML documents")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn gvk_of(doc: &serde_json::Value) -> Result<GroupVersionKind> {
    let api_version = doc["apiVersion"]
        .as_str()
        .context("document without apiVersion")?;
    let kind = doc["kind"].as_str().context("document without kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

/// Server-side applies documents of any kind (forcing ownership to `manager`): namespaces and
/// CRDs first, waiting until the CRDs are established, then everything else.
pub async fn apply_documents(
    client: &Client,
    docs: &[serde_json::Value],
    manager: &str,
) -> Result<usize> {
    let rank = |d: &serde_json::Value| match d["kind"].as_str() {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    };
    let mut ordered: Vec<&serde_json::Value> = docs.iter().collect();
    ordered.sort_by_key(|d| rank(d));
    let mut resolved: HashMap<String, (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut crds = Vec::new();
    let mut waited_for_crds = false;
    for doc in &ordered {
        if rank(doc) == 2 && !waited_for_crds {
            wait_crds_established(client, &crds).await?;
            waited_for_crds = true;
        }
        let gvk = gvk_of(doc)?;
        let key = format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind);
        if !resolved.contains_key(&key) {
            let found = kube::discovery::pinned_kind(client, &gvk)
                .await
                .with_context(|| format!("discovering {key}"))?;
            resolved.insert(key.clone(), found);
        }
        let (resource, caps) = &resolved[&key];
        let name = doc["metadata"]["name"]
            .as_str()
            .context("document without metadata.name")?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                doc["metadata"]["namespace"].as_str().unwrap_or("default"),
                resource,
            ),
            Scope::Cluster => Api::all_with(client.clone(), resource),
        };
        api.patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(doc),
        )
        .await
        .with_context(|| format!("applying {key} {name}"))?;
        if gvk.kind == "CustomResourceDefinition" {
            crds.push(name.to_string());
        }
    }
    if !waited_for_crds {
        wait_crds_established(client, &crds).await?;
    }
    Ok(ordered.len())
}

/// Applies every document of a YAML file.
pub async fn apply_file(client: &Client, file: &Path, manager: &str) -> Result<usize> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    apply_documents(client, &parse_documents(&text)?, manager).await
}

/// Installs every CRD file in `dir` and waits until all are established.
pub async fn install_crds(client: &Client, dir: &Path) -> Result<usize> {
    let mut docs = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        docs.extend(parse_documents(&std::fs::read_to_string(&path)?)?);
    }
    apply_documents(client, &docs, "testbed").await
}

async fn wait_crds_established(client: &Client, names: &[String]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names {
        wait_for(
            &format!("CRD {name} established"),
            Duration::from_secs(120),
            || async {
                let crd = api.get(name).await?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                Ok(established.then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

/// An `Api` for any group/version/kind, resolved through discovery.
pub async fn dynamic_api(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Api<DynamicObject>> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {api_version} {kind}"))?;
    Ok(match (caps.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    })
}
