//! The API resources of the Gardener kinds shoot-flux reads and writes as untyped objects.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use shoot_flux_core::managedresource::ManagedResource;

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
