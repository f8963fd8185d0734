//! What the periodic observers (health check, sync status poll) read from: the controller's
//! Extension cache, the shared Cluster cache and the seed watches.

use std::sync::Arc;

use kube::Client;
use kube::runtime::reflector::Store;

use crate::cachedextension::CachedExtension;
use crate::clustercache::ClusterCache;
use crate::seedwatch::SeedWatches;
use crate::server::Readiness;

#[derive(Clone)]
pub struct ObserverInputs {
    pub seed: Client,
    /// The controller's Extension cache; the observers never LIST Extensions.
    pub extensions: Store<CachedExtension>,
    /// Set once that cache has listed.
    pub listed: Arc<Readiness>,
    pub clusters: Arc<ClusterCache>,
    pub watches: SeedWatches,
}
