//! shoot-flux: a Gardener extension that makes every new Shoot come up pre-configured from a Git
//! repository through Flux.

pub mod config;
pub mod gardener;
