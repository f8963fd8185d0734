//! Secrets from `Shoot.spec.resources`: the source's `secretResourceName` and
//! `additionalSecretResources`, which must not become the same Secret in the shoot.

use serde_json::Value;

use super::formats::{is_dns_subdomain, subdomain_message};
use super::{Checker, ROOT, child, index, shown, text};
use crate::api::v1alpha1::reference::ADDITIONAL_SECRET_RESOURCE;
use crate::api::v1alpha1::{AdditionalSecretResource, ShootResource};

impl<'r> Checker<'r> {
    /// The `Shoot.spec.resources` entry `name` refers to, when it is a Secret.
    pub(super) fn secret_resource(&mut self, name: &str, path: &str) -> Option<&'r ShootResource> {
        let resources = self.resources;
        let Some(resource) = resources.iter().find(|r| r.name == name) else {
            let message = if resources.is_empty() {
                format!(
                    "{name:?} is not in Shoot.spec.resources, which is empty: add the Secret there and use the entry's name"
                )
            } else {
                let known: Vec<String> = resources
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.kind))
                    .collect();
                format!(
                    "{name:?} is not in Shoot.spec.resources; its entries are {}",
                    known.join(", ")
                )
            };
            self.fail(path, message);
            return None;
        };
        if resource.kind != "Secret" {
            self.fail(
                path,
                format!(
                    "{name:?} in Shoot.spec.resources refers to a {}, not a Secret",
                    resource.kind
                ),
            );
            return None;
        }
        Some(resource)
    }

    pub(super) fn additional_secret_resources(
        &mut self,
        items: &[Value],
        source_secret: Option<&str>,
    ) -> Vec<AdditionalSecretResource> {
        let path = child(ROOT, "additionalSecretResources");
        let mut out = Vec::new();
        // Names in the shoot so far, with the entry that took each.
        let mut taken: Vec<(String, usize)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = index(&path, i);
            let Value::Object(entry) = item else {
                self.fail(
                    item_path,
                    format!(
                        "must be an object with name and optional targetName, not {}",
                        shown(item)
                    ),
                );
                continue;
            };
            self.check_object(entry, &ADDITIONAL_SECRET_RESOURCE, &item_path);
            let name = text(entry, "name");
            let resource = name.and_then(|n| self.secret_resource(n, &child(&item_path, "name")));
            let target_name = text(entry, "targetName");
            let (name_in_shoot, deciding_field) = match target_name {
                Some(target) if is_dns_subdomain(target) => (Some(target), "targetName"),
                Some(target) => {
                    self.fail(child(&item_path, "targetName"), subdomain_message(target));
                    (None, "targetName")
                }
                None => (resource.map(|r| r.resource_name.as_str()), "name"),
            };
            if let Some(name_in_shoot) = name_in_shoot {
                let field_path = child(&item_path, deciding_field);
                if source_secret == Some(name_in_shoot) {
                    self.fail(
                        field_path,
                        format!(
                            "becomes the Secret {name_in_shoot:?} in the shoot, which is the source's secret (source.template.spec.secretRef.name); set another targetName"
                        ),
                    );
                } else if let Some((_, first)) = taken.iter().find(|(n, _)| n == name_in_shoot) {
                    self.fail(
                        field_path,
                        format!(
                            "becomes the Secret {name_in_shoot:?} in the shoot, like additionalSecretResources[{first}]; set another targetName"
                        ),
                    );
                } else {
                    taken.push((name_in_shoot.to_string(), i));
                }
            }
            if let Some(name) = name {
                out.push(AdditionalSecretResource {
                    name: name.to_string(),
                    target_name: target_name.map(str::to_string),
                });
            }
        }
        out
    }
}
