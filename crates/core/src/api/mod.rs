//! Versioned APIs users write: the shoot's `providerConfig`, a `FluxConfig` of
//! `flux.extensions.gardener.cloud/v1alpha1`, field-compatible with the stackit extension.

pub mod v1alpha1;
