//! Flux: where the install manifests come from, how they are adapted to a shoot, and the sync
//! objects (GitRepository, Kustomization) we render.

pub mod bundle;
pub mod compat;
pub mod image_pull;
pub mod objects;
pub mod ociartifact;
pub mod source_secret;
pub mod storedversions;
pub mod transform;
pub mod types;
