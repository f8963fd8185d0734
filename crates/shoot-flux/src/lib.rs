//! shoot-flux, the shell: the Gardener extension's runtime. It reads a shoot's inputs
//! (Extension, Cluster, project ConfigMap, operator config), lets the core crate
//! (`shoot_flux_core`) decide what the shoot gets, applies that as ManagedResources and keeps
//! Gardener's extension contract on the Extension's status; observers beside it (health check,
//! sync status poll) report on running shoots. See docs/architecture.md.

pub mod actuator;
pub mod admission;
pub mod apierror;
pub mod apiresources;
pub mod cachedextension;
pub mod cli;
pub mod clustercache;
pub mod commands;
pub mod controller;
pub mod extensionconditions;
pub mod garden;
pub mod healthcheck;
pub mod hostkey;
pub mod keyprovision;
pub mod kubeclient;
pub mod lease;
pub mod manifests;
pub mod metrics;
pub mod mirror_command;
pub mod observerinputs;
pub mod opsmetrics;
pub mod progress;
pub mod reconciler;
pub mod render_command;
pub mod runtime;
pub mod seedwatch;
pub mod server;
pub mod shootaccess;
pub mod status_command;
pub mod storagemigration;
pub mod syncpoll;
pub mod trigger_backoff;
pub mod webhook;
