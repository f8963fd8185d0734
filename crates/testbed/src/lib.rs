//! The shoot-flux test bed: real etcd, kube-apiservers ("garden", "seed" and one per shoot),
//! gardener-resource-manager, Flux controllers, git servers and (on demand) an OCI registry as
//! local processes on 127.0.0.1,
//! built by `hack/testbed/install`. Tests, benchmarks and the demo use it; the node simulator is
//! its one simulated part (see `nodesim`).

pub mod admission;
pub mod apiserver;
pub mod background;
pub mod basicauth;
pub mod bed;
pub mod etcd;
pub mod flux;
pub mod gardener;
pub mod gardenlet;
pub mod git;
pub mod grm;
pub mod httpserve;
pub mod kcm;
pub mod kubeutil;
pub mod managedresource;
pub mod nodesim;
pub mod paths;
pub mod pki;
pub mod plainhttp;
pub mod ports;
pub mod process;
pub mod registry;
pub mod registrytoken;
pub mod releases;
pub mod sample;
pub mod silent;
pub mod tcpgate;

pub use bed::{Bed, Shoot, bed};
pub use gardenlet::ShootSpec;
