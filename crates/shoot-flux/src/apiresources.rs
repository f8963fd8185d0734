//! The API resources of the Gardener kinds shoot-flux reads and writes as untyped objects.

use kube::CustomResource;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use shoot_flux_core::managedresource::{ManagedResource, ManagedResourceStatus};

/// The Cluster as a typed resource, only so its metadata can be watched cheaply.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "Cluster",
    schema = "disabled"
)]
pub struct ClusterSpec {
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// A ManagedResource as the health check's watch keeps it: GRM's status, no spec. The spec
/// type has no fields, so decoding skips the spec (and the status' long list of resources)
/// without holding it.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize)]
#[kube(
    group = "resources.gardener.cloud",
    version = "v1alpha1",
    kind = "ManagedResourceStatusOnly",
    plural = "managedresources",
    namespaced,
    status = "ManagedResourceStatus",
    schema = "disabled"
)]
pub struct ManagedResourceStatusOnlySpec {}

impl ManagedResourceStatusOnly {
    /// As the health verdict reads a ManagedResource: generation and status.
    pub fn to_managed_resource(&self) -> ManagedResource {
        ManagedResource {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: self.metadata.name.clone(),
                namespace: self.metadata.namespace.clone(),
                generation: self.metadata.generation,
                ..Default::default()
            },
            status: self.status.clone(),
            ..Default::default()
        }
    }
}

pub fn extension_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("extensions.gardener.cloud", "v1alpha1", "Extension"),
        "extensions",
    )
}

pub fn cluster_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("extensions.gardener.cloud", "v1alpha1", "Cluster"),
        "clusters",
    )
}

pub fn managed_resource_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("resources.gardener.cloud", "v1alpha1", "ManagedResource"),
        "managedresources",
    )
}

/// A ManagedResource as read, typed. Decoding is lenient (every field has a default); one that
/// still does not decode is treated as absent, so ours replaces it.
pub fn typed_managed_resource(object: &DynamicObject) -> Option<ManagedResource> {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}
