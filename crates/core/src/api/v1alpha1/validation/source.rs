//! `source`: the GitRepository or OCIRepository template and its metadata.

use serde_json::{Map, Value};

use super::formats::{is_dns_subdomain, is_sha256_digest, label_message, subdomain_message};
use super::{Checker, ROOT, child, either, is_set, object, text};
use crate::api::v1alpha1::defaults::{DEFAULT_OBJECT_NAME, DEFAULT_SECRET_NAME};
use crate::api::v1alpha1::reference::{
    GIT_REPOSITORY_REF, GIT_REPOSITORY_SPEC, METADATA, OCI_REPOSITORY_REF, OCI_REPOSITORY_SPEC,
    SECRET_REF, SOURCE, SOURCE_TEMPLATE,
};
use crate::api::v1alpha1::{SOURCE_API_VERSION, Source, SourceKind};
use crate::fielderrors::is_dns_label;
use crate::giturl::url_scheme;

/// What the Kustomization and the additional secrets must agree with.
#[derive(Debug, Default)]
pub(super) struct SourceFacts {
    pub(super) kind: Option<SourceKind>,
    /// After defaulting; None when the written name is invalid.
    pub(super) name: Option<String>,
    /// Explicit, or the providerConfig's Flux namespace; None when neither is known.
    pub(super) namespace: Option<String>,
    /// The source's Secret in the shoot, when it comes from `secretResourceName`.
    pub(super) secret_name: Option<String>,
}

impl<'r> Checker<'r> {
    pub(super) fn source(
        &mut self,
        source: &Map<String, Value>,
        flux_namespace: Option<&str>,
    ) -> (Option<Source>, SourceFacts) {
        let path = child(ROOT, "source");
        self.check_object(source, &SOURCE, &path);
        let mut facts = SourceFacts::default();
        let mut sets_secret_ref = false;
        let mut secret_ref_name = None;
        let template = object(source, "template");
        if let Some(template) = template {
            let template_path = child(&path, "template");
            self.check_object(template, &SOURCE_TEMPLATE, &template_path);
            if let Some(api_version) = text(template, "apiVersion")
                && api_version != SOURCE_API_VERSION
            {
                let hint = if matches!(
                    api_version,
                    "source.toolkit.fluxcd.io/v1beta2" | "source.toolkit.fluxcd.io/v1beta1"
                ) {
                    " (GitRepository and OCIRepository have the same fields there)"
                } else {
                    ""
                };
                self.fail(
                    child(&template_path, "apiVersion"),
                    format!("{api_version:?} is not supported; use {SOURCE_API_VERSION}{hint}"),
                );
            }
            facts.kind = match text(template, "kind") {
                Some("GitRepository") => Some(SourceKind::GitRepository),
                Some("OCIRepository") => Some(SourceKind::OciRepository),
                _ => None,
            };
            let (name, namespace) = self.metadata(template, &template_path);
            facts.name = name;
            // An invalid written namespace is reported already; only an absent one defaults.
            let namespace_written =
                object(template, "metadata").is_some_and(|m| is_set(m, "namespace"));
            facts.namespace = if namespace_written {
                namespace
            } else {
                flux_namespace.map(str::to_string)
            };
            if let Some(spec) = object(template, "spec") {
                let spec_path = child(&template_path, "spec");
                match facts.kind {
                    Some(SourceKind::GitRepository) => self.git_repository_spec(spec, &spec_path),
                    Some(SourceKind::OciRepository) => self.oci_repository_spec(spec, &spec_path),
                    None => {}
                }
                sets_secret_ref = is_set(spec, "secretRef");
                secret_ref_name = object(spec, "secretRef").and_then(|r| text(r, "name"));
            }
        }
        let secret_resource_name = text(source, "secretResourceName");
        let secret_resource_path = child(&path, "secretResourceName");
        if let Some(name) = secret_resource_name {
            self.secret_resource(name, &secret_resource_path);
            facts.secret_name = Some(secret_ref_name.unwrap_or(DEFAULT_SECRET_NAME).to_string());
        } else if sets_secret_ref && !is_set(source, "secretResourceName") {
            self.fail(
                secret_resource_path,
                "required when the template sets spec.secretRef: the Secret comes from Shoot.spec.resources; name its entry here",
            );
        }
        let decoded = match (template, facts.kind) {
            (Some(template), Some(kind)) => Some(Source {
                kind,
                template: Value::Object(template.clone()),
                secret_resource_name: secret_resource_name.map(str::to_string),
            }),
            _ => None,
        };
        (decoded, facts)
    }

    /// Checks a template's metadata; returns the name after defaulting and the explicit
    /// namespace, each None when unknown or invalid.
    pub(super) fn metadata(
        &mut self,
        template: &Map<String, Value>,
        template_path: &str,
    ) -> (Option<String>, Option<String>) {
        let metadata = match template.get("metadata") {
            None | Some(Value::Null) => return (Some(DEFAULT_OBJECT_NAME.to_string()), None),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return (None, None),
        };
        let path = child(template_path, "metadata");
        self.check_object(metadata, &METADATA, &path);
        let name = if is_set(metadata, "name") {
            text(metadata, "name").and_then(|name| {
                if is_dns_subdomain(name) {
                    Some(name.to_string())
                } else {
                    self.fail(child(&path, "name"), subdomain_message(name));
                    None
                }
            })
        } else {
            Some(DEFAULT_OBJECT_NAME.to_string())
        };
        let namespace = text(metadata, "namespace").and_then(|namespace| {
            if is_dns_label(namespace) {
                Some(namespace.to_string())
            } else {
                self.fail(child(&path, "namespace"), label_message(namespace));
                None
            }
        });
        (name, namespace)
    }

    fn git_repository_spec(&mut self, spec: &Map<String, Value>, path: &str) {
        self.check_object(spec, &GIT_REPOSITORY_SPEC, path);
        if let Some(url) = text(spec, "url") {
            if url.contains(char::is_whitespace) {
                self.fail(child(path, "url"), "must not contain whitespace");
            } else if url_scheme(url) == Some("scp") {
                // Flux's GitRepository CRD admits only http(s):// and ssh:// URLs.
                self.fail(
                    child(path, "url"),
                    format!("{url:?}: Flux's GitRepository needs a URL with a scheme; write it as ssh://{}", url.replacen(':', "/", 1)),
                );
            } else if url_scheme(url).is_none() {
                self.fail(
                    child(path, "url"),
                    format!("{url:?} is not a Git URL: use https://host/org/repo.git or ssh://git@host/org/repo.git"),
                );
            }
        }
        if let Some(reference) = object(spec, "ref") {
            let ref_path = child(path, "ref");
            self.check_object(reference, &GIT_REPOSITORY_REF, &ref_path);
            let names: Vec<&str> = GIT_REPOSITORY_REF.fields.iter().map(|f| f.name).collect();
            if !names.iter().any(|name| is_set(reference, name)) {
                self.fail(
                    ref_path,
                    format!("must set at least one of {}", either(&names)),
                );
            }
        }
        self.secret_refs(spec, path, &["secretRef", "proxySecretRef"]);
    }

    fn oci_repository_spec(&mut self, spec: &Map<String, Value>, path: &str) {
        self.check_object(spec, &OCI_REPOSITORY_SPEC, path);
        if let Some(url) = text(spec, "url") {
            let rest = url.strip_prefix("oci://").unwrap_or_default();
            if url.contains(char::is_whitespace) {
                self.fail(child(path, "url"), "must not contain whitespace");
            } else if rest.is_empty() {
                self.fail(
                    child(path, "url"),
                    format!("{url:?} is not an OCI URL: it must start with oci://, like oci://ghcr.io/org/manifests"),
                );
            }
        }
        if let Some(reference) = object(spec, "ref") {
            let ref_path = child(path, "ref");
            self.check_object(reference, &OCI_REPOSITORY_REF, &ref_path);
            let selecting = ["tag", "semver", "digest"];
            if !selecting.iter().any(|name| is_set(reference, name)) {
                self.fail(
                    &ref_path,
                    format!("must set at least one of {}", either(&selecting)),
                );
            }
            if let Some(digest) = text(reference, "digest")
                && !is_sha256_digest(digest)
            {
                self.fail(
                    child(&ref_path, "digest"),
                    format!("{digest:?} is not a digest like sha256:<64 lowercase hex digits>"),
                );
            }
        }
        self.secret_refs(
            spec,
            path,
            &["secretRef", "certSecretRef", "proxySecretRef"],
        );
    }

    fn secret_refs(&mut self, spec: &Map<String, Value>, path: &str, keys: &[&str]) {
        for key in keys {
            if let Some(reference) = object(spec, key) {
                let ref_path = child(path, key);
                self.check_object(reference, &SECRET_REF, &ref_path);
                if let Some(name) = text(reference, "name")
                    && !is_dns_subdomain(name)
                {
                    self.fail(child(&ref_path, "name"), subdomain_message(name));
                }
            }
        }
    }
}
