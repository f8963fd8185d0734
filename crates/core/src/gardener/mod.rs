//! Gardener's extension contract: the objects we read and write, how an operation is chosen, and
//! the status we report.

pub mod conditions;
pub mod operation;
pub mod shoot;
pub mod status;
pub mod types;
