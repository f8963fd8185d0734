//! `flux`: the installation (version, registry, namespace, components).

use serde_json::{Map, Value};

use super::formats::label_message;
use super::{Checker, ROOT, child, either, index, list, shown, text};
use crate::api::v1alpha1::FluxInstallation;
use crate::api::v1alpha1::reference::{EXTRA_COMPONENTS, FLUX};
use crate::fielderrors::{DEFAULT_COMPONENTS, check_components, is_dns_label};
use crate::fluxversion;

const KUSTOMIZE_CONTROLLER: &str = "kustomize-controller";

impl<'r> Checker<'r> {
    pub(super) fn flux(
        &mut self,
        flux: &Map<String, Value>,
        needs_kustomize: bool,
    ) -> FluxInstallation {
        let path = child(ROOT, "flux");
        self.check_object(flux, &FLUX, &path);
        let mut out = FluxInstallation::default();
        if let Some(requested) = text(flux, "version") {
            match fluxversion::parse(requested) {
                Ok(v) => out.version = Some(v),
                Err(message) => self.fail(child(&path, "version"), message),
            }
        }
        if let Some(registry) = text(flux, "registry").map(str::trim) {
            let without_slash = registry.trim_end_matches('/');
            if registry.contains("://")
                || registry.contains(char::is_whitespace)
                || without_slash.is_empty()
            {
                self.fail(
                    child(&path, "registry"),
                    format!(
                        "{registry:?} must be a registry host and path like registry.example.com/fluxcd, without a scheme"
                    ),
                );
            } else {
                out.registry = Some(without_slash.to_string());
            }
        }
        if let Some(namespace) = text(flux, "namespace").map(str::trim) {
            if is_dns_label(namespace) {
                out.namespace = Some(namespace.to_string());
            } else {
                self.fail(child(&path, "namespace"), label_message(namespace));
            }
        }
        if let Some(components) = flux.get("components").filter(|v| v.is_array()) {
            let components_path = child(&path, "components");
            let before = self.errors.len();
            let checked = check_components(components, &components_path, &mut self.errors);
            // Only a list without other problems is judged as a whole.
            if self.errors.len() == before
                && needs_kustomize
                && let Some(checked) = &checked
                && !checked.iter().any(|c| c == KUSTOMIZE_CONTROLLER)
            {
                self.fail(
                    components_path,
                    "must include kustomize-controller: the Kustomization of source/kustomization needs it (or omit components for all default controllers)",
                );
            }
            out.components = checked;
        }
        if let Some(items) = list(flux, "componentsExtra") {
            out.components_extra =
                Some(self.components_extra(items, &child(&path, "componentsExtra")));
        }
        out
    }

    fn components_extra(&mut self, items: &[Value], path: &str) -> Vec<String> {
        if items.is_empty() {
            self.fail(path, "must not be empty (omit it for no extra components)");
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(name) if EXTRA_COMPONENTS.contains(&name) => out.push(name.to_string()),
                Some(name) if DEFAULT_COMPONENTS.contains(&name) => self.fail(
                    index(path, i),
                    format!("{name:?} is a default component: list it in flux.components"),
                ),
                Some(name) => self.fail(
                    index(path, i),
                    format!(
                        "{name:?} is not an extra component; use {}",
                        either(EXTRA_COMPONENTS)
                    ),
                ),
                None => self.fail(
                    index(path, i),
                    format!("must be a string, not {}", shown(item)),
                ),
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
