//! shoot-flux: a Gardener extension that makes every new Shoot come up pre-configured from a Git
//! repository through Flux.
//!
//! Data flows one way: inputs (Extension, Cluster, project ConfigMap, operator config) ->
//! validated configuration (`config`) -> desired objects (`render`, pure) -> apply (`actuator`)
//! -> status (`reconciler`, keeping Gardener's contract in `gardener`).

pub mod access;
pub mod actuator;
pub mod api;
pub mod apiresources;
pub mod cli;
pub mod clustercache;
pub mod config;
pub mod controller;
pub mod deploykey;
pub mod flux;
pub mod garden;
pub mod gardener;
pub mod health;
pub mod healthcheck;
pub mod kubeclient;
pub mod lease;
pub mod managedresource;
pub mod metrics;
pub mod progress;
pub mod reconciler;
pub mod render;
pub mod render_command;
pub mod server;
pub mod shootaccess;
pub mod syncstatus;
pub mod takeover;
