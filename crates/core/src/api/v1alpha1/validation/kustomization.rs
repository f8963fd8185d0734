//! `kustomization`: the main Kustomization, which must read the source this config creates.

use serde_json::{Map, Value};

use super::formats::{is_dns_subdomain, label_message, subdomain_message};
use super::source::SourceFacts;
use super::{Checker, ROOT, child, index, list, object, shown, text};
use crate::api::v1alpha1::reference::{
    KUSTOMIZATION, KUSTOMIZATION_SPEC, KUSTOMIZATION_TEMPLATE, POST_BUILD, SOURCE_REF,
    SOURCE_REF_KINDS, SUBSTITUTE_FROM,
};
use crate::api::v1alpha1::{KUSTOMIZATION_API_VERSION, KustomizationTemplate, SOURCE_API_VERSION};
use crate::fielderrors::is_dns_label;

impl<'r> Checker<'r> {
    pub(super) fn kustomization(
        &mut self,
        kustomization: &Map<String, Value>,
        source: &SourceFacts,
    ) -> Option<KustomizationTemplate> {
        let path = child(ROOT, "kustomization");
        self.check_object(kustomization, &KUSTOMIZATION, &path);
        let template = object(kustomization, "template")?;
        let template_path = child(&path, "template");
        self.check_object(template, &KUSTOMIZATION_TEMPLATE, &template_path);
        if let Some(api_version) = text(template, "apiVersion")
            && api_version != KUSTOMIZATION_API_VERSION
        {
            let hint = if api_version.starts_with("kustomize.toolkit.fluxcd.io/v1beta") {
                " (v1 is v1beta2 without validation, patchesStrategicMerge and patchesJson6902; use patches)"
            } else {
                ""
            };
            self.fail(
                child(&template_path, "apiVersion"),
                format!("{api_version:?} is not supported; use {KUSTOMIZATION_API_VERSION}{hint}"),
            );
        }
        self.metadata(template, &template_path);
        if let Some(spec) = object(template, "spec") {
            self.kustomization_spec(spec, &child(&template_path, "spec"), source);
        }
        Some(KustomizationTemplate {
            template: Value::Object(template.clone()),
        })
    }

    fn kustomization_spec(&mut self, spec: &Map<String, Value>, path: &str, source: &SourceFacts) {
        self.check_object(spec, &KUSTOMIZATION_SPEC, path);
        if let Some(directory) = text(spec, "path") {
            if directory.starts_with('/') {
                self.fail(
                    child(path, "path"),
                    format!("{directory:?} must be relative to the source root, like clusters/production"),
                );
            } else if directory.split('/').any(|segment| segment == "..") {
                self.fail(
                    child(path, "path"),
                    format!("{directory:?} must stay inside the source: no '..' segments"),
                );
            }
        }
        if let Some(namespace) = text(spec, "targetNamespace")
            && !is_dns_label(namespace)
        {
            self.fail(child(path, "targetNamespace"), label_message(namespace));
        }
        if let Some(post_build) = object(spec, "postBuild") {
            self.post_build(post_build, &child(path, "postBuild"));
        }
        if let Some(source_ref) = object(spec, "sourceRef") {
            self.source_ref(source_ref, &child(path, "sourceRef"), source);
        }
    }

    fn post_build(&mut self, post_build: &Map<String, Value>, path: &str) {
        self.check_object(post_build, &POST_BUILD, path);
        let Some(items) = list(post_build, "substituteFrom") else {
            return;
        };
        let list_path = child(path, "substituteFrom");
        for (i, item) in items.iter().enumerate() {
            let item_path = index(&list_path, i);
            let Value::Object(entry) = item else {
                self.fail(
                    item_path,
                    format!(
                        "must be an object with kind (ConfigMap or Secret) and name, not {}",
                        shown(item)
                    ),
                );
                continue;
            };
            self.check_object(entry, &SUBSTITUTE_FROM, &item_path);
            if let Some(name) = text(entry, "name")
                && !is_dns_subdomain(name)
            {
                self.fail(child(&item_path, "name"), subdomain_message(name));
            }
        }
    }

    fn source_ref(&mut self, source_ref: &Map<String, Value>, path: &str, source: &SourceFacts) {
        self.check_object(source_ref, &SOURCE_REF, path);
        if let Some(api_version) = text(source_ref, "apiVersion")
            && api_version != SOURCE_API_VERSION
        {
            self.fail(
                child(path, "apiVersion"),
                format!("{api_version:?} is not supported; use {SOURCE_API_VERSION} or omit it"),
            );
        }
        if let Some(kind) = text(source_ref, "kind")
            && SOURCE_REF_KINDS.contains(&kind)
            && let Some(source_kind) = source.kind
            && kind != source_kind.as_str()
        {
            self.fail(
                child(path, "kind"),
                format!(
                    "{kind:?} is not the kind of the source this config creates ({}): the Kustomization must read that source; omit sourceRef.kind to default it",
                    source_kind.as_str()
                ),
            );
        }
        if let Some(name) = text(source_ref, "name") {
            if !is_dns_subdomain(name) {
                self.fail(child(path, "name"), subdomain_message(name));
            } else if let Some(source_name) = &source.name
                && name != source_name
            {
                self.fail(
                    child(path, "name"),
                    format!(
                        "{name:?} is not the name of the source this config creates ({source_name:?}): the Kustomization must read that source; omit sourceRef.name to default it"
                    ),
                );
            }
        }
        if let Some(namespace) = text(source_ref, "namespace") {
            if !is_dns_label(namespace) {
                self.fail(child(path, "namespace"), label_message(namespace));
            } else if let Some(source_namespace) = &source.namespace
                && namespace != source_namespace
            {
                self.fail(
                    child(path, "namespace"),
                    format!(
                        "{namespace:?} is not the namespace of the source this config creates ({source_namespace:?}): the Kustomization must read that source; omit sourceRef.namespace to default it"
                    ),
                );
            }
        }
    }
}
