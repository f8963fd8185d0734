//! The pure core of shoot-flux: what a shoot gets, decided from plain inputs. No Kubernetes
//! client, no async runtime, no network: the `shoot-flux` crate (the shell) reads the inputs,
//! calls this crate, applies the result and writes status. See docs/architecture.md.

pub mod access;
pub mod admission;
pub mod api;
pub mod config;
pub mod deploykey;
pub mod fielderrors;
pub mod flux;
pub mod fluxversion;
pub mod gardener;
pub mod giturl;
pub mod health;
pub mod managedresource;
pub mod ocireference;
pub mod plan;
pub mod render;
pub mod syncstatus;
pub mod takeover;
