//! Shoots bootstrapped by an earlier extension: how shoot-flux recognises them, so it takes them
//! over without reinstalling Flux.

use crate::gardener::types::Extension;

/// The stackit extension marks a shoot it bootstrapped with this Extension condition.
pub const STACKIT_BOOTSTRAPPED: &str = "FluxBootstrapped";

/// The reason of the `FluxBootstrapped` condition shoot-flux writes itself (stackit reads only
/// type and status); it tells shoot-flux's own mark from stackit's.
pub const BOOTSTRAPPED_BY_SHOOT_FLUX: &str = "BootstrappedByShootFlux";

/// Whether the stackit extension bootstrapped the shoot. shoot-flux's own `FluxBootstrapped`
/// does not count: it must not change the defaults of a shoot shoot-flux bootstrapped.
pub fn stackit_bootstrapped(ext: &Extension) -> bool {
    ext.status.conditions.iter().flatten().any(|c| {
        c.type_ == STACKIT_BOOTSTRAPPED
            && c.status == "True"
            && c.reason != BOOTSTRAPPED_BY_SHOOT_FLUX
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extension_with(reason: &str) -> Extension {
        Extension::from_json(&json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--p--s", "generation": 1},
            "spec": {"type": "shoot-flux"},
            "status": {"conditions": [{
                "type": "FluxBootstrapped", "status": "True", "reason": reason,
                "message": "m", "lastTransitionTime": "2026-12-05T00:00:00Z",
                "lastUpdateTime": "2026-12-05T00:00:00Z"
            }]}
        }))
        .unwrap()
    }

    /// shoot-flux's own mark must not turn its shoot into a stackit takeover (whose defaults
    /// differ: deletion policy Orphan).
    #[test]
    fn only_stackits_mark_means_a_stackit_bootstrapped_shoot() {
        assert!(stackit_bootstrapped(&extension_with("BootstrapSuccessful")));
        assert!(!stackit_bootstrapped(&extension_with(
            BOOTSTRAPPED_BY_SHOOT_FLUX
        )));
    }
}
