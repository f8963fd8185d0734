//! Clusters as the reconciler, the health check and the sync status poll read them: by metadata
//! while unchanged, whole only when their resourceVersion moved.

use crate::apierror::is_not_found;
use crate::apiresources::Cluster;
use crate::seedwatch::{Known, Watched};
use shoot_flux_core::gardener::shoot::{
    ClusterInfo, SlimCluster, SlimMeta, concerns, slim_to_value,
};

fn cluster_url(name: &str, any_version: bool) -> String {
    let path = format!("/apis/extensions.gardener.cloud/v1alpha1/clusters/{name}");
    if any_version {
        // Served from the API server's watch cache: no etcd read, no decoding there.
        format!("{path}?resourceVersion=0")
    } else {
        path
    }
}

async fn request_cluster<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    name: &str,
    any_version: bool,
) -> Result<Option<T>, kube::Error> {
    let request = http::Request::get(cluster_url(name, any_version))
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    // The body is decoded from the bytes as they came: `Client::request` copies all of a
    // ~200 KiB Cluster twice more (into one buffer, then into a String) and checks its UTF-8
    // in a pass of its own, for every whole read.
    let mut body = match client.request_stream(request).await {
        Ok(body) => body,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::with_capacity(BODY_CAPACITY);
    futures::AsyncReadExt::read_to_end(&mut body, &mut bytes)
        .await
        .map_err(|e| kube::Error::Service(Box::new(e)))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(kube::Error::SerdeError)
}

/// The first allocation for a Cluster body: a Cluster holds its Shoot, Seed and CloudProfile
/// whole (196 KiB on the benchmark's landscape), so starting small would only copy it again as
/// the buffer grows.
const BODY_CAPACITY: usize = 128 * 1024;

#[derive(serde::Deserialize)]
struct MetaOnly {
    #[serde(default)]
    metadata: SlimMeta,
}

/// Whole Cluster reads in flight at once, the reconciler's and the observers' together. Each
/// holds a body of ~200 KiB (more with a large CloudProfile) in its buffer and in hyper's, and
/// the API server answers them hardly sooner with more at once (a bare client read 1,000
/// Clusters in 2.0 to 2.8 s with 4 in flight, 2.2 to 2.3 s with 64): at a restart, 32
/// reconciles and the sync status poll reading at once held 9 of the 34 MiB heap peak in bodies.
const WHOLE_READS_AT_ONCE: usize = 4;

/// The facts of every Cluster read lately, by name with the resourceVersion they were read at.
/// The reconciler, the health check and the sync status poll read a Cluster they have seen
/// before by its metadata only and decode it again only when its resourceVersion changed, so a
/// steady seed costs them no Cluster body (~200 KiB each).
/// Whole reads of one Cluster go one at a time: after a restart the reconciler, the health check
/// and the sync status poll all want the same Clusters at once, and the second one waiting
/// finds the first one's result instead of reading (and holding) the body again; and at most
/// `WHOLE_READS_AT_ONCE` Clusters are read whole at a time.
#[derive(Debug)]
pub struct ClusterCache {
    entries:
        std::sync::Mutex<std::collections::HashMap<String, (String, std::sync::Arc<ClusterInfo>)>>,
    gates:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    whole_reads: tokio::sync::Semaphore,
}

impl Default for ClusterCache {
    fn default() -> Self {
        Self {
            entries: Default::default(),
            gates: Default::default(),
            whole_reads: tokio::sync::Semaphore::new(WHOLE_READS_AT_ONCE),
        }
    }
}

impl ClusterCache {
    pub(crate) fn store(
        &self,
        name: &str,
        version: Option<String>,
        info: &std::sync::Arc<ClusterInfo>,
    ) {
        if let (Some(version), Ok(mut entries)) = (version, self.entries.lock()) {
            entries.insert(name.to_string(), (version, info.clone()));
        }
    }

    /// The lock that whole reads of Cluster `name` take.
    fn gate(&self, name: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        match self.gates.lock() {
            Ok(mut gates) => gates.entry(name.to_string()).or_default().clone(),
            Err(_) => std::sync::Arc::default(),
        }
    }

    fn known(&self, name: &str) -> bool {
        self.entries
            .lock()
            .map(|entries| entries.contains_key(name))
            .unwrap_or(false)
    }

    fn cached(&self, name: &str, version: &str) -> Option<std::sync::Arc<ClusterInfo>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(name)
            .filter(|(v, _)| v == version)
            .map(|(_, info)| info.clone())
    }

    /// Reads the Cluster `name` whole (None if it does not exist). It is served from the API
    /// server's watch cache; a Cluster not found there is read again from etcd, since Gardener
    /// creates it just before the Extension.
    pub async fn read(
        &self,
        client: &kube::Client,
        name: &str,
    ) -> Result<Option<std::sync::Arc<ClusterInfo>>, kube::Error> {
        // The semaphore is never closed; were it, reading unbounded is still correct.
        let permit = self.whole_reads.acquire().await.ok();
        let slim = match request_cluster::<SlimCluster>(client, name, true).await? {
            Some(c) => Some(c),
            None => request_cluster::<SlimCluster>(client, name, false).await?,
        };
        drop(permit);
        let Some(slim) = slim else {
            self.forget(name);
            return Ok(None);
        };
        let version = slim.metadata["resourceVersion"]
            .as_str()
            .map(str::to_string);
        let info = std::sync::Arc::new(ClusterInfo::from_value(&slim_to_value(slim)));
        self.store(name, version, &info);
        Ok(Some(info))
    }

    /// The facts of Cluster `name`, from the cache while its resourceVersion is unchanged (one
    /// metadata-only read), else read whole.
    pub async fn checked(
        &self,
        client: &kube::Client,
        name: &str,
    ) -> Result<Option<std::sync::Arc<ClusterInfo>>, kube::Error> {
        let request = http::Request::get(cluster_url(name, true))
            .header(
                http::header::ACCEPT,
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            )
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        let version = match client.request::<MetaOnly>(request).await {
            Ok(meta) => meta.metadata.resource_version,
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        self.at_version(client, name, version.as_deref()).await
    }

    /// Cluster `name` from the cache when it holds `version`, else read whole (one read of a
    /// Cluster at a time).
    async fn at_version(
        &self,
        client: &kube::Client,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<std::sync::Arc<ClusterInfo>>, kube::Error> {
        if let Some(info) = version.and_then(|v| self.cached(name, v)) {
            return Ok(Some(info));
        }
        let gate = self.gate(name);
        let _reading = gate.lock().await;
        // A read that finished while this one waited may have brought this very version.
        if let Some(info) = version.and_then(|v| self.cached(name, v)) {
            return Ok(Some(info));
        }
        self.read(client, name).await
    }

    /// The facts of Cluster `name` for an observer (health check, sync status poll): from the
    /// cache while the Cluster watch reports the version it holds, so a steady shoot costs no
    /// request; read whole when the version moved; None when the watch has no such Cluster.
    /// Until the watch has listed, as `checked`.
    pub async fn observed(
        &self,
        client: &kube::Client,
        watched: &Watched<kube::core::PartialObjectMeta<Cluster>>,
        name: &str,
    ) -> Result<Option<std::sync::Arc<ClusterInfo>>, kube::Error> {
        let version = match watched.version(None, name) {
            Known::Unknown => return self.checked(client, name).await,
            Known::Absent => return Ok(None),
            Known::Present(version) => version,
        };
        // A read comes from the API server's watch cache, which may be a little ahead or behind
        // the watch: a different version is read again next time, until both agree.
        self.at_version(client, name, Some(&version)).await
    }

    /// The facts of Cluster `name` for a reconcile: checked against the cache when this process
    /// has read it before (a metadata-only read unless it changed), else read whole.
    pub async fn current(
        &self,
        client: &kube::Client,
        name: &str,
    ) -> Result<Option<std::sync::Arc<ClusterInfo>>, kube::Error> {
        if !self.known(name) {
            let gate = self.gate(name);
            let _reading = gate.lock().await;
            if !self.known(name) {
                return self.read(client, name).await;
            }
        }
        // Read before, perhaps just now by another task: its metadata says whether it changed.
        self.checked(client, name).await
    }

    /// Of the shoots in seed namespaces `shoots`, those a change in garden namespace
    /// `project_namespace` concerns (`concerns`), by the Clusters this process has read. Entries
    /// go with their Cluster (`forget`, `retain`), so deleted shoots are never matched.
    pub fn of_project<'a>(
        &self,
        project_namespace: &str,
        shoots: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&'a str> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shoots
            .into_iter()
            .filter(|shoot| {
                let known = entries.get(*shoot).map(|(_, info)| &info.facts);
                concerns(known, shoot, project_namespace)
            })
            .collect()
    }

    pub fn forget(&self, name: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(name);
        }
    }

    /// Drops the entries of Clusters `keep` says no to.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|name, _| keep(name));
        }
        if let Ok(mut gates) = self.gates.lock() {
            gates.retain(|name, _| keep(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoot_flux_core::gardener::shoot::ShootFacts;

    fn facts_in(project: &str, project_namespace: &str, shoot: &str) -> ShootFacts {
        ShootFacts {
            cluster_name: format!("shoot--{project}--{shoot}"),
            name: shoot.into(),
            project: project.into(),
            project_namespace: project_namespace.into(),
            ..Default::default()
        }
    }

    async fn read_from(
        status: u16,
        body: String,
    ) -> Result<Option<serde_json::Value>, kube::Error> {
        let (address, _) =
            crate::kubeclient::tests::keep_alive_server_answering(status, body).await;
        let client = crate::kubeclient::tests::client_for(
            address,
            crate::kubeclient::Pool::SHARED,
            std::time::Duration::from_secs(30),
        );
        request_cluster::<serde_json::Value>(&client, "shoot--p--s", true).await
    }

    #[tokio::test]
    async fn a_cluster_is_decoded_from_its_body_and_a_missing_one_is_none() {
        // Larger than the first buffer, so it has to grow.
        let shoot = "s".repeat(3 * BODY_CAPACITY);
        let body =
            serde_json::json!({"metadata": {"name": "shoot--p--s"}, "spec": {"shoot": shoot}});
        let read = read_from(200, body.to_string()).await.unwrap();
        assert_eq!(read, Some(body));

        let not_found = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "clusters \"shoot--p--s\" not found"});
        assert_eq!(read_from(404, not_found.to_string()).await.unwrap(), None);

        let unavailable = read_from(503, "{\"kind\":\"Status\",\"code\":503}".into()).await;
        assert!(
            matches!(&unavailable, Err(e) if crate::apierror::status_code(e) == Some(503)),
            "{unavailable:?}"
        );
        let broken = read_from(200, "{\"metadata\":".into()).await;
        assert!(
            matches!(broken, Err(kube::Error::SerdeError(_))),
            "{broken:?}"
        );
    }

    #[tokio::test]
    async fn at_most_a_few_clusters_are_read_whole_at_once() {
        // Each answer is held long enough that all reads would overlap without the bound.
        let body = serde_json::json!({"metadata": {"resourceVersion": "1"}, "spec": {}});
        let (address, _, most_in_flight) = crate::kubeclient::tests::keep_alive_server_holding(
            200,
            body.to_string(),
            std::time::Duration::from_millis(200),
        )
        .await;
        let client = crate::kubeclient::tests::client_for(
            address,
            crate::kubeclient::Pool::shared(32),
            std::time::Duration::from_secs(30),
        );
        let cache = ClusterCache::default();
        let names: Vec<String> = (0..3 * WHOLE_READS_AT_ONCE)
            .map(|i| format!("shoot--p--s{i}"))
            .collect();
        let reads = names.iter().map(|name| cache.current(&client, name));
        for read in futures::future::join_all(reads).await {
            assert!(read.unwrap().is_some());
        }
        assert_eq!(
            most_in_flight.load(std::sync::atomic::Ordering::SeqCst),
            WHOLE_READS_AT_ONCE
        );
    }

    #[test]
    fn the_cache_maps_a_project_namespace_to_its_shoots_and_forgets_deleted_ones() {
        let cache = ClusterCache::default();
        let info = |facts: ShootFacts| {
            std::sync::Arc::new(ClusterInfo {
                facts: Ok(facts),
                generic_kubeconfig: None,
            })
        };
        for (name, facts) in [
            (
                "shoot--alpha--app",
                facts_in("alpha", "garden-team-a", "app"),
            ),
            (
                "shoot--alpha--web",
                facts_in("alpha", "garden-team-a", "web"),
            ),
            ("shoot--team-a--x", facts_in("team-a", "garden-other", "x")),
        ] {
            cache.store(name, Some("1".into()), &info(facts));
        }
        let shoots = [
            "shoot--alpha--app",
            "shoot--alpha--web",
            "shoot--team-a--x",
            "shoot--beta--new",
        ];
        assert_eq!(
            cache.of_project("garden-team-a", shoots),
            ["shoot--alpha--app", "shoot--alpha--web"]
        );
        assert_eq!(
            cache.of_project("garden-other", shoots),
            ["shoot--team-a--x"]
        );
        // beta's Cluster is not read yet: its conventional namespace stands in.
        assert_eq!(
            cache.of_project("garden-beta", shoots),
            ["shoot--beta--new"]
        );
        assert!(cache.of_project("garden-alpha", shoots).is_empty());
        // A deleted shoot's Cluster goes, and with it the shoot from the mapping; so does one
        // whose Extension went (the sync status poll's retain).
        cache.forget("shoot--alpha--web");
        assert_eq!(
            cache.of_project("garden-team-a", ["shoot--alpha--app", "shoot--alpha--web"]),
            ["shoot--alpha--app"]
        );
        cache.retain(|name| name != "shoot--alpha--app");
        assert!(
            cache
                .of_project("garden-team-a", ["shoot--alpha--app"])
                .is_empty()
        );
    }
}
