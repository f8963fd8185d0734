//! The API resources of the Gardener kinds shoot-flux reads and writes as untyped objects.

use kube::api::{ApiResource, GroupVersionKind};

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
