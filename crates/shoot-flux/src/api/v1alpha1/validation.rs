//! Decoding and validation of `Extension.spec.providerConfig`. Every problem is collected (the
//! dashboard shows them all at once), each at its JSON path under `providerConfig`. The generic
//! checks (unknown fields, JSON types, required fields) come from the tables in `reference`; the
//! rules below add what a type cannot say.

use serde_json::{Map, Value};

use super::defaults::{DEFAULT_OBJECT_NAME, DEFAULT_SECRET_NAME};
use super::reference::{
    ADDITIONAL_SECRET_RESOURCE, EXTRA_COMPONENTS, FLUX, FLUX_CONFIG, FieldDoc, GIT_REPOSITORY_REF,
    GIT_REPOSITORY_SPEC, KUSTOMIZATION, KUSTOMIZATION_SPEC, KUSTOMIZATION_TEMPLATE, METADATA,
    OCI_REPOSITORY_REF, OCI_REPOSITORY_SPEC, ObjectDoc, POST_BUILD, SECRET_REF, SOURCE, SOURCE_REF,
    SOURCE_REF_KINDS, SOURCE_TEMPLATE, SUBSTITUTE_FROM, Shape,
};
use super::{
    API_VERSION, AdditionalSecretResource, DeletionPolicy, FluxConfig, FluxInstallation, KIND,
    KUSTOMIZATION_API_VERSION, KustomizationTemplate, ManagementMode, SOURCE_API_VERSION,
    ShootResource, Source, SourceKind,
};
use crate::config::errors::{
    DEFAULT_COMPONENTS, FieldError, FieldErrors, check_components, is_dns_label,
};
use crate::config::project::url_scheme;
use crate::config::version;

const ROOT: &str = "providerConfig";
const KUSTOMIZE_CONTROLLER: &str = "kustomize-controller";
/// Longest JSON value quoted in a message; a whole object would drown the message.
const SHOWN_VALUE_CHARS: usize = 60;

/// Decodes and validates a providerConfig (`None` or JSON null: the empty config) against the
/// shoot's `spec.resources[]`. Templates are kept as written; `defaults` fills them.
pub fn decode(
    value: Option<&Value>,
    resources: &[ShootResource],
) -> Result<FluxConfig, FieldErrors> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(FluxConfig::default());
    };
    let Value::Object(root) = value else {
        return Err(FieldErrors(vec![FieldError::new(
            ROOT,
            format!(
                "must be a {KIND} object with apiVersion {API_VERSION}, not {}",
                shown(value)
            ),
        )]));
    };
    let mut checker = Checker {
        errors: Vec::new(),
        resources,
    };
    let config = checker.root(root);
    FieldErrors::or_ok(checker.errors, config)
}

/// What the Kustomization and the additional secrets must agree with.
#[derive(Debug, Default)]
struct SourceFacts {
    kind: Option<SourceKind>,
    /// After defaulting; None when the written name is invalid.
    name: Option<String>,
    /// Explicit, or the providerConfig's Flux namespace; None when neither is known.
    namespace: Option<String>,
    /// The source's Secret in the shoot, when it comes from `secretResourceName`.
    secret_name: Option<String>,
}

struct Checker<'r> {
    errors: Vec<FieldError>,
    resources: &'r [ShootResource],
}

impl<'r> Checker<'r> {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn root(&mut self, root: &Map<String, Value>) -> FluxConfig {
        self.check_object(root, &FLUX_CONFIG, ROOT);
        if let Some(api_version) = text(root, "apiVersion")
            && api_version != API_VERSION
        {
            self.fail(
                child(ROOT, "apiVersion"),
                format!("{api_version:?} is not supported; use {API_VERSION}"),
            );
        }
        if let Some(kind) = text(root, "kind")
            && kind != KIND
        {
            self.fail(
                child(ROOT, "kind"),
                format!("{kind:?} is not supported; the kind is {KIND}"),
            );
        }
        let source_set = is_set(root, "source");
        let kustomization_set = is_set(root, "kustomization");
        let flux = object(root, "flux")
            .map(|flux| self.flux(flux, source_set || kustomization_set))
            .unwrap_or_default();
        if source_set && !kustomization_set {
            self.fail(
                child(ROOT, "kustomization"),
                "required when source is set: a Kustomization applies what the source fetches",
            );
        }
        if kustomization_set && !source_set {
            self.fail(
                child(ROOT, "source"),
                "required when kustomization is set: the Kustomization needs a source to read",
            );
        }
        let (source, facts) = match object(root, "source") {
            Some(source) => self.source(source, flux.namespace.as_deref()),
            None => (None, SourceFacts::default()),
        };
        let kustomization =
            object(root, "kustomization").and_then(|k| self.kustomization(k, &facts));
        let additional_secret_resources = list(root, "additionalSecretResources")
            .map(|items| self.additional_secret_resources(items, facts.secret_name.as_deref()))
            .unwrap_or_default();
        let mut flux = flux;
        if let Some(name) = object(root, "flux").and_then(|f| text(f, "imagePullSecret")) {
            match super::image_pull::check(name, &additional_secret_resources, self.resources) {
                Ok(()) => flux.image_pull_secret = Some(name.to_string()),
                Err(message) => self.fail(child(&child(ROOT, "flux"), "imagePullSecret"), message),
            }
        }
        let management_mode = text(root, "managementMode").and_then(|mode| match mode {
            "Managed" => Some(ManagementMode::Managed),
            "Bootstrap" => Some(ManagementMode::Bootstrap),
            _ => None,
        });
        let deletion_policy = text(root, "deletionPolicy").and_then(|policy| match policy {
            "Delete" => Some(DeletionPolicy::Delete),
            "Orphan" => Some(DeletionPolicy::Orphan),
            _ => None,
        });
        FluxConfig {
            flux,
            source,
            kustomization,
            additional_secret_resources,
            management_mode,
            deletion_policy,
        }
    }

    fn flux(&mut self, flux: &Map<String, Value>, needs_kustomize: bool) -> FluxInstallation {
        let path = child(ROOT, "flux");
        self.check_object(flux, &FLUX, &path);
        let mut out = FluxInstallation::default();
        if let Some(requested) = text(flux, "version") {
            match version::parse(requested) {
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

    fn source(
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
    fn metadata(
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

    /// The `Shoot.spec.resources` entry `name` refers to, when it is a Secret.
    fn secret_resource(&mut self, name: &str, path: &str) -> Option<&'r ShootResource> {
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

    fn kustomization(
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

    fn additional_secret_resources(
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

    /// The checks every object gets from its table: unknown fields (sorted, so the order does
    /// not depend on the map), then each field in table order: required, JSON type, format.
    fn check_object(&mut self, map: &Map<String, Value>, doc: &ObjectDoc, path: &str) {
        let mut unknown: Vec<&String> = map.keys().filter(|k| doc.field(k).is_none()).collect();
        unknown.sort();
        for key in unknown {
            let suggestion = closest_field(key, doc)
                .map(|name| format!("did you mean {name}? "))
                .unwrap_or_default();
            self.fail(
                child(path, key),
                format!(
                    "unknown field; {suggestion}{} fields are {}",
                    doc.title,
                    doc.field_list()
                ),
            );
        }
        for field in doc.fields {
            let field_path = child(path, field.name);
            match map.get(field.name) {
                None | Some(Value::Null) => {
                    if field.required {
                        self.fail(
                            field_path,
                            format!("required: {}", field.description.replace('`', "")),
                        );
                    }
                }
                Some(value) => self.check_shape(field, value, &field_path),
            }
        }
    }

    fn check_shape(&mut self, field: &FieldDoc, value: &Value, path: &str) {
        match (field.shape, value) {
            (Shape::String | Shape::Duration | Shape::OneOf(_), Value::String(s))
                if s.trim().is_empty() =>
            {
                self.fail(path, "must not be empty");
            }
            (Shape::String, Value::String(_)) => {}
            (Shape::Duration, Value::String(s)) => {
                if !is_go_duration(s) {
                    self.fail(
                        path,
                        format!("{s:?} is not a duration: use a number and a unit (h, m, s, ms, us, ns), like 1m, 30s, 1h30m, 1.5h or 500ms"),
                    );
                }
            }
            (Shape::OneOf(values), Value::String(s)) => {
                if !values.contains(&s.as_str()) {
                    self.fail(
                        path,
                        format!("{s:?} is not supported; use {}", either(values)),
                    );
                }
            }
            (Shape::String, _) => {
                self.fail(path, format!("must be a string, not {}", shown(value)))
            }
            (Shape::Duration, _) => self.fail(
                path,
                format!(
                    "must be a string with a duration like 1m or 30s, not {}",
                    shown(value)
                ),
            ),
            (Shape::OneOf(values), _) => self.fail(
                path,
                format!("must be a string, {}, not {}", either(values), shown(value)),
            ),
            (Shape::Bool, Value::Bool(_))
            | (Shape::Object, Value::Object(_))
            | (Shape::List, Value::Array(_)) => {}
            (Shape::Bool, _) => {
                self.fail(path, format!("must be true or false, not {}", shown(value)))
            }
            (Shape::Object, _) => {
                self.fail(path, format!("must be an object, not {}", shown(value)))
            }
            (Shape::List, _) => self.fail(path, format!("must be a list, not {}", shown(value))),
            (Shape::StringMap, Value::Object(map)) => {
                for (key, item) in map {
                    if !item.is_string() {
                        let hint = if item.is_number() || item.is_boolean() {
                            " (quote numbers and booleans)"
                        } else {
                            ""
                        };
                        self.fail(
                            child(path, key),
                            format!("must be a string, not {}{hint}", shown(item)),
                        );
                    }
                }
            }
            (Shape::StringMap, _) => self.fail(
                path,
                format!("must be a map of strings, not {}", shown(value)),
            ),
        }
    }
}

/// A string field that passed its shape check (non-empty).
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn object<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    map.get(key).and_then(Value::as_object)
}

fn list<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a [Value]> {
    map.get(key).and_then(Value::as_array).map(Vec::as_slice)
}

/// Present and not null: Kubernetes treats null as unset.
fn is_set(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

/// `path.key`, or `path["key"]` for keys that would make the path ambiguous.
fn child(path: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A JSON value for a message, shortened.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_VALUE_CHARS {
        text
    } else {
        let head: String = text.chars().take(SHOWN_VALUE_CHARS).collect();
        format!("{head}…")
    }
}

/// "a", "a or b", "a, b or c".
fn either(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [only] => (*only).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The field an unknown key was probably meant to be (a typo or wrong case).
fn closest_field(key: &str, doc: &ObjectDoc) -> Option<&'static str> {
    // Short keys are a few edits away from anything; allow fewer edits for them.
    let allowed = match key.chars().count() {
        0..=2 => return None,
        3..=5 => 1,
        _ => 2,
    };
    let key = key.to_lowercase();
    doc.fields
        .iter()
        .map(|f| (edit_distance(&key, &f.name.to_lowercase()), f.name))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

/// A Go duration as Flux's `metav1.Duration` reads it, without sign: one or more
/// `<number><unit>`, the number with an optional fraction (`1.5h`).
pub fn is_go_duration(text: &str) -> bool {
    const UNITS: [&str; 8] = ["ns", "us", "µs", "μs", "ms", "h", "m", "s"];
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let fraction_digits = fraction.len()
                - fraction
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            if fraction_digits == 0 {
                return false;
            }
            rest = &fraction[fraction_digits..];
        }
        // Two-letter units first, so "ms" is not read as "m" followed by "s".
        let Some(unit) = UNITS.iter().find(|unit| rest.starts_with(**unit)) else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// A Kubernetes object name (RFC 1123 subdomain).
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn label_message(name: &str) -> String {
    format!(
        "{name:?} is not a valid namespace name: lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit"
    )
}

fn subdomain_message(name: &str) -> String {
    format!(
        "{name:?} is not a valid name: lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit"
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::api::v1alpha1::defaults;
    use crate::api::v1alpha1::reference::OBJECTS;
    use crate::config::version::VersionRequest;

    const S: &str = "providerConfig.source.template.spec";
    const K: &str = "providerConfig.kustomization.template.spec";
    const A: &str = "providerConfig.additionalSecretResources";

    fn resource(name: &str, kind: &str, resource_name: &str) -> ShootResource {
        ShootResource {
            name: name.into(),
            api_version: "v1".into(),
            kind: kind.into(),
            resource_name: resource_name.into(),
        }
    }

    fn resources() -> Vec<ShootResource> {
        vec![
            resource("git-credentials", "Secret", "team-git"),
            resource("vault", "Secret", "project-vault"),
            resource("settings", "ConfigMap", "team-settings"),
            resource("flux-creds", "Secret", "flux-system"),
        ]
    }

    /// JSON merge patch (RFC 7386): objects merge, null removes, anything else replaces.
    fn merge(base: Value, patch: Value) -> Value {
        let Value::Object(patch) = patch else {
            return patch;
        };
        let mut map = match base {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (key, value) in patch {
            if value.is_null() {
                map.remove(&key);
            } else {
                let current = map.remove(&key).unwrap_or(Value::Null);
                map.insert(key, merge(current, value));
            }
        }
        Value::Object(map)
    }

    fn root() -> Value {
        json!({"apiVersion": API_VERSION, "kind": KIND})
    }

    fn with(patch: Value) -> Value {
        merge(root(), patch)
    }

    /// stackit's example: a GitRepository and a Kustomization.
    fn git() -> Value {
        with(json!({
            "source": {"template": {
                "apiVersion": SOURCE_API_VERSION,
                "kind": "GitRepository",
                "spec": {
                    "url": "https://github.com/fluxcd/flux2-kustomize-helm-example",
                    "ref": {"branch": "main"}
                }
            }},
            "kustomization": {"template": {
                "apiVersion": KUSTOMIZATION_API_VERSION,
                "kind": "Kustomization",
                "spec": {"path": "clusters/production"}
            }}
        }))
    }

    fn git_with(patch: Value) -> Value {
        merge(git(), patch)
    }

    fn git_spec(patch: Value) -> Value {
        git_with(json!({"source": {"template": {"spec": patch}}}))
    }

    fn oci() -> Value {
        git_with(json!({"source": {"template": {
            "kind": "OCIRepository",
            "spec": {"url": "oci://ghcr.io/example/manifests", "ref": {"branch": null, "tag": "latest"}}
        }}}))
    }

    fn oci_spec(patch: Value) -> Value {
        merge(oci(), json!({"source": {"template": {"spec": patch}}}))
    }

    fn kustomization_spec(patch: Value) -> Value {
        git_with(json!({"kustomization": {"template": {"spec": patch}}}))
    }

    fn paths_of(errors: &FieldErrors) -> Vec<String> {
        errors.0.iter().map(|e| e.path.clone()).collect()
    }

    struct Case {
        name: &'static str,
        input: Value,
        paths: Vec<String>,
        fragment: &'static str,
    }

    fn case(name: &'static str, input: Value, paths: &[&str], fragment: &'static str) -> Case {
        Case {
            name,
            input,
            paths: paths.iter().map(ToString::to_string).collect(),
            fragment,
        }
    }

    fn cases() -> Vec<Case> {
        let s = |suffix: &str| format!("{S}.{suffix}");
        let k = |suffix: &str| format!("{K}.{suffix}");
        let a = |suffix: &str| format!("{A}{suffix}");
        let long_label = "a".repeat(64);
        let long_name = "a".repeat(254);
        vec![
            // The root.
            case(
                "root is a string",
                json!("FluxConfig"),
                &["providerConfig"],
                "must be a FluxConfig object with apiVersion flux.extensions.gardener.cloud/v1alpha1",
            ),
            case("root is a list", json!([1]), &["providerConfig"], "not [1]"),
            case(
                "apiVersion missing",
                json!({"kind": KIND}),
                &["providerConfig.apiVersion"],
                "required: the API version, flux.extensions.gardener.cloud/v1alpha1",
            ),
            case(
                "apiVersion of another version",
                with(json!({"apiVersion": "flux.extensions.gardener.cloud/v1beta1"})),
                &["providerConfig.apiVersion"],
                "\"flux.extensions.gardener.cloud/v1beta1\" is not supported; use flux.extensions.gardener.cloud/v1alpha1",
            ),
            case(
                "apiVersion is a number",
                with(json!({"apiVersion": 1})),
                &["providerConfig.apiVersion"],
                "must be a string, not 1",
            ),
            case(
                "kind missing",
                json!({"apiVersion": API_VERSION}),
                &["providerConfig.kind"],
                "required: the kind, FluxConfig",
            ),
            case(
                "kind of another object",
                with(json!({"kind": "Flux"})),
                &["providerConfig.kind"],
                "\"Flux\" is not supported; the kind is FluxConfig",
            ),
            case(
                "kind empty",
                with(json!({"kind": " "})),
                &["providerConfig.kind"],
                "must not be empty",
            ),
            case(
                "unknown root field",
                with(json!({"extra": 1})),
                &["providerConfig.extra"],
                "unknown field; FluxConfig fields are apiVersion, kind, flux, source, kustomization, additionalSecretResources, managementMode, deletionPolicy",
            ),
            case(
                "root key that needs quoting",
                with(json!({"a.b": 1})),
                &["providerConfig[\"a.b\"]"],
                "unknown field",
            ),
            case(
                "misspelt kustomization",
                git_with(json!({"kustomization": null, "kustomisation": {"template": {}}})),
                &[
                    "providerConfig.kustomisation",
                    "providerConfig.kustomization",
                ],
                "unknown field; did you mean kustomization?",
            ),
            case(
                "flux is a string",
                with(json!({"flux": "v2.6.4"})),
                &["providerConfig.flux"],
                "must be an object, not \"v2.6.4\"",
            ),
            case(
                "managementMode lower case",
                with(json!({"managementMode": "managed"})),
                &["providerConfig.managementMode"],
                "\"managed\" is not supported; use Managed or Bootstrap",
            ),
            case(
                "managementMode is a number",
                with(json!({"managementMode": 1})),
                &["providerConfig.managementMode"],
                "must be a string, Managed or Bootstrap, not 1",
            ),
            case(
                "deletionPolicy unknown",
                with(json!({"deletionPolicy": "Keep"})),
                &["providerConfig.deletionPolicy"],
                "\"Keep\" is not supported; use Delete or Orphan",
            ),
            case(
                "deletionPolicy empty",
                with(json!({"deletionPolicy": ""})),
                &["providerConfig.deletionPolicy"],
                "must not be empty",
            ),
            // flux.
            case(
                "flux.version is a number",
                with(json!({"flux": {"version": 2}})),
                &["providerConfig.flux.version"],
                "must be a string, not 2",
            ),
            case(
                "flux.version empty",
                with(json!({"flux": {"version": ""}})),
                &["providerConfig.flux.version"],
                "must not be empty",
            ),
            case(
                "flux.version not a tag",
                with(json!({"flux": {"version": "two"}})),
                &["providerConfig.flux.version"],
                "is not a Flux release tag",
            ),
            case(
                "flux.version too old",
                with(json!({"flux": {"version": "v1.9.9"}})),
                &["providerConfig.flux.version"],
                "older than v2.0.0",
            ),
            case(
                "flux.registry with a scheme",
                with(json!({"flux": {"registry": "https://ghcr.io/fluxcd"}})),
                &["providerConfig.flux.registry"],
                "without a scheme",
            ),
            case(
                "flux.registry with whitespace",
                with(json!({"flux": {"registry": "ghcr.io/flux cd"}})),
                &["providerConfig.flux.registry"],
                "registry host and path",
            ),
            case(
                "flux.registry only a slash",
                with(json!({"flux": {"registry": "/"}})),
                &["providerConfig.flux.registry"],
                "registry host and path",
            ),
            case(
                "flux.namespace invalid",
                with(json!({"flux": {"namespace": "Bad_NS"}})),
                &["providerConfig.flux.namespace"],
                "\"Bad_NS\" is not a valid namespace name",
            ),
            case(
                "flux.namespace too long",
                with(json!({"flux": {"namespace": long_label}})),
                &["providerConfig.flux.namespace"],
                "at most 63 characters",
            ),
            case(
                "flux.components is a string",
                with(json!({"flux": {"components": "source-controller"}})),
                &["providerConfig.flux.components"],
                "must be a list, not \"source-controller\"",
            ),
            case(
                "flux.components empty",
                with(json!({"flux": {"components": []}})),
                &["providerConfig.flux.components"],
                "must not be empty",
            ),
            case(
                "flux.components without source-controller",
                with(json!({"flux": {"components": ["kustomize-controller"]}})),
                &["providerConfig.flux.components"],
                "must include source-controller",
            ),
            case(
                "flux.components with an extra component",
                with(
                    json!({"flux": {"components": ["source-controller", "image-reflector-controller"]}}),
                ),
                &["providerConfig.flux.components[1]"],
                "is not one of",
            ),
            case(
                "flux.components item is a number",
                with(json!({"flux": {"components": [1]}})),
                &["providerConfig.flux.components[0]"],
                "must be a string, not 1",
            ),
            case(
                "flux.components without kustomize-controller for a source",
                git_with(json!({"flux": {"components": ["source-controller", "helm-controller"]}})),
                &["providerConfig.flux.components"],
                "must include kustomize-controller",
            ),
            case(
                "flux.componentsExtra empty",
                with(json!({"flux": {"componentsExtra": []}})),
                &["providerConfig.flux.componentsExtra"],
                "must not be empty (omit it for no extra components)",
            ),
            case(
                "flux.componentsExtra unknown",
                with(json!({"flux": {"componentsExtra": ["source-watcher", "foo"]}})),
                &["providerConfig.flux.componentsExtra[1]"],
                "\"foo\" is not an extra component; use image-reflector-controller, image-automation-controller or source-watcher",
            ),
            case(
                "flux.componentsExtra with a default component",
                with(json!({"flux": {"componentsExtra": ["helm-controller"]}})),
                &["providerConfig.flux.componentsExtra[0]"],
                "is a default component: list it in flux.components",
            ),
            case(
                "flux.componentsExtra is a string",
                with(json!({"flux": {"componentsExtra": "source-watcher"}})),
                &["providerConfig.flux.componentsExtra"],
                "must be a list",
            ),
            case(
                "flux.componentsExtra item is a bool",
                with(json!({"flux": {"componentsExtra": [true]}})),
                &["providerConfig.flux.componentsExtra[0]"],
                "must be a string, not true",
            ),
            case(
                "flux unknown field",
                with(json!({"flux": {"versions": "v2.6.4"}})),
                &["providerConfig.flux.versions"],
                "unknown field; did you mean version? flux fields are version, registry, namespace, components, componentsExtra",
            ),
            // source and kustomization together.
            case(
                "source without kustomization",
                git_with(json!({"kustomization": null})),
                &["providerConfig.kustomization"],
                "required when source is set",
            ),
            case(
                "kustomization without source",
                git_with(json!({"source": null})),
                &["providerConfig.source"],
                "required when kustomization is set",
            ),
            // source.
            case(
                "source is a string",
                git_with(json!({"source": "git"})),
                &["providerConfig.source"],
                "must be an object, not \"git\"",
            ),
            case(
                "source unknown field",
                git_with(json!({"source": {"secretName": "x"}})),
                &["providerConfig.source.secretName"],
                "unknown field; source fields are template, secretResourceName",
            ),
            case(
                "source.template missing",
                git_with(json!({"source": {"template": null}})),
                &["providerConfig.source.template"],
                "required: the GitRepository or OCIRepository to create",
            ),
            case(
                "source.template is a string",
                git_with(json!({"source": {"template": "GitRepository"}})),
                &["providerConfig.source.template"],
                "must be an object",
            ),
            case(
                "source kind missing",
                git_with(json!({"source": {"template": {"kind": null}}})),
                &["providerConfig.source.template.kind"],
                "required: the source kind",
            ),
            case(
                "source kind Bucket",
                git_with(json!({"source": {"template": {"kind": "Bucket"}}})),
                &["providerConfig.source.template.kind"],
                "\"Bucket\" is not supported; use GitRepository or OCIRepository",
            ),
            case(
                "source apiVersion v1beta2",
                git_with(
                    json!({"source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1beta2"}}}),
                ),
                &["providerConfig.source.template.apiVersion"],
                "is not supported; use source.toolkit.fluxcd.io/v1 (GitRepository and OCIRepository have the same fields there)",
            ),
            case(
                "source apiVersion v1beta1",
                merge(
                    oci(),
                    json!({"source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1beta1"}}}),
                ),
                &["providerConfig.source.template.apiVersion"],
                "\"source.toolkit.fluxcd.io/v1beta1\" is not supported",
            ),
            case(
                "source apiVersion without group",
                git_with(json!({"source": {"template": {"apiVersion": "v1"}}})),
                &["providerConfig.source.template.apiVersion"],
                "\"v1\" is not supported; use source.toolkit.fluxcd.io/v1",
            ),
            case(
                "source template unknown field",
                git_with(json!({"source": {"template": {"status": {}}}})),
                &["providerConfig.source.template.status"],
                "unknown field; source template fields are apiVersion, kind, metadata, spec",
            ),
            case(
                "source metadata is a list",
                git_with(json!({"source": {"template": {"metadata": []}}})),
                &["providerConfig.source.template.metadata"],
                "must be an object",
            ),
            case(
                "source metadata.name invalid",
                git_with(json!({"source": {"template": {"metadata": {"name": "Flux_System"}}}})),
                &["providerConfig.source.template.metadata.name"],
                "\"Flux_System\" is not a valid name",
            ),
            case(
                "source metadata.namespace with a dot",
                git_with(json!({"source": {"template": {"metadata": {"namespace": "a.b"}}}})),
                &["providerConfig.source.template.metadata.namespace"],
                "not a valid namespace name",
            ),
            case(
                "source metadata unknown field",
                git_with(json!({"source": {"template": {"metadata": {"uid": "1"}}}})),
                &["providerConfig.source.template.metadata.uid"],
                "unknown field; metadata fields are name, namespace, labels, annotations",
            ),
            case(
                "source label is a number",
                git_with(json!({"source": {"template": {"metadata": {"labels": {"tier": 1}}}}})),
                &["providerConfig.source.template.metadata.labels.tier"],
                "must be a string, not 1 (quote numbers and booleans)",
            ),
            case(
                "source label key with dots",
                git_with(
                    json!({"source": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": true}}}}}),
                ),
                &["providerConfig.source.template.metadata.labels[\"app.kubernetes.io/name\"]"],
                "must be a string, not true",
            ),
            case(
                "source annotations is a string",
                git_with(json!({"source": {"template": {"metadata": {"annotations": "a=b"}}}})),
                &["providerConfig.source.template.metadata.annotations"],
                "must be a map of strings",
            ),
            case(
                "source spec missing",
                git_with(json!({"source": {"template": {"spec": null}}})),
                &["providerConfig.source.template.spec"],
                "required: the source spec",
            ),
            case(
                "source spec is a string",
                git_with(json!({"source": {"template": {"spec": "https://x"}}})),
                &["providerConfig.source.template.spec"],
                "must be an object",
            ),
            // GitRepository spec.
            case(
                "git uri instead of url",
                git_spec(json!({"url": null, "uri": "https://host/org/repo"})),
                &[&s("uri"), &s("url")],
                "unknown field; did you mean url? GitRepository v1 spec fields are url, secretRef, provider",
            ),
            case(
                "git url missing",
                git_spec(json!({"url": null})),
                &[&s("url")],
                "required: the Git URL",
            ),
            case(
                "git url with ftp",
                git_spec(json!({"url": "ftp://host/repo"})),
                &[&s("url")],
                "\"ftp://host/repo\" is not a Git URL",
            ),
            case(
                "git url in scp syntax",
                git_spec(json!({"url": "git@github.com:org/repo.git"})),
                &[&s("url")],
                "write it as ssh://git@github.com/org/repo.git",
            ),
            case(
                "git url with whitespace",
                git_spec(json!({"url": "https://host/org repo"})),
                &[&s("url")],
                "must not contain whitespace",
            ),
            case(
                "git url is a number",
                git_spec(json!({"url": 1})),
                &[&s("url")],
                "must be a string, not 1",
            ),
            case(
                "git ref missing",
                git_spec(json!({"ref": null})),
                &[&s("ref")],
                "required: the Git reference",
            ),
            case(
                "git ref empty",
                git_spec(json!({"ref": {"branch": null}})),
                &[&s("ref")],
                "must set at least one of branch, tag, semver, name or commit",
            ),
            case(
                "git ref unknown key",
                git_spec(json!({"ref": {"branch": null, "branches": "main"}})),
                &[&s("ref.branches"), &s("ref")],
                "unknown field; did you mean branch? GitRepository ref fields are",
            ),
            case(
                "git ref branch empty",
                git_spec(json!({"ref": {"branch": ""}})),
                &[&s("ref.branch")],
                "must not be empty",
            ),
            case(
                "git ref is a string",
                git_spec(json!({"ref": "main"})),
                &[&s("ref")],
                "must be an object, not \"main\"",
            ),
            case(
                "git interval in words",
                git_spec(json!({"interval": "1 minute"})),
                &[&s("interval")],
                "\"1 minute\" is not a duration",
            ),
            case(
                "git interval without unit",
                git_spec(json!({"interval": "5"})),
                &[&s("interval")],
                "like 1m, 30s, 1h30m",
            ),
            case(
                "git interval with a dangling point",
                git_spec(json!({"interval": "1.m"})),
                &[&s("interval")],
                "is not a duration",
            ),
            case(
                "git timeout negative",
                git_spec(json!({"timeout": "-1s"})),
                &[&s("timeout")],
                "is not a duration",
            ),
            case(
                "git interval is a number",
                git_spec(json!({"interval": 60})),
                &[&s("interval")],
                "must be a string with a duration like 1m or 30s, not 60",
            ),
            case(
                "git secretRef is a string",
                git_spec(json!({"secretRef": "flux"})),
                &[&s("secretRef"), "providerConfig.source.secretResourceName"],
                "must be an object, not \"flux\"",
            ),
            case(
                "git secretRef without name",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials", "template": {"spec": {"secretRef": {}}}}}),
                ),
                &[&s("secretRef.name")],
                "required: the Secret's name",
            ),
            case(
                "git secretRef with namespace",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials", "template": {"spec": {"secretRef": {"name": "auth", "namespace": "x"}}}}}),
                ),
                &[&s("secretRef.namespace")],
                "unknown field; secret reference fields are name",
            ),
            case(
                "git secretRef name invalid",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials", "template": {"spec": {"secretRef": {"name": "Auth"}}}}}),
                ),
                &[&s("secretRef.name")],
                "\"Auth\" is not a valid name",
            ),
            case(
                "git secretRef without secretResourceName",
                git_spec(json!({"secretRef": {"name": "auth"}})),
                &["providerConfig.source.secretResourceName"],
                "required when the template sets spec.secretRef: the Secret comes from Shoot.spec.resources",
            ),
            case(
                "git suspend is a string",
                git_spec(json!({"suspend": "yes"})),
                &[&s("suspend")],
                "must be true or false, not \"yes\"",
            ),
            case(
                "git provider unknown",
                git_spec(json!({"provider": "gitlab"})),
                &[&s("provider")],
                "use generic, azure or github",
            ),
            case(
                "git include is a string",
                git_spec(json!({"include": "other"})),
                &[&s("include")],
                "must be a list",
            ),
            case(
                "git proxySecretRef name empty",
                git_spec(json!({"proxySecretRef": {"name": ""}})),
                &[&s("proxySecretRef.name")],
                "must not be empty",
            ),
            case(
                "git spec with an OCI field",
                git_spec(json!({"insecure": true})),
                &[&s("insecure")],
                "unknown field; GitRepository v1 spec fields are",
            ),
            // OCIRepository spec.
            case(
                "oci url with https",
                oci_spec(json!({"url": "https://ghcr.io/example/manifests"})),
                &[&s("url")],
                "is not an OCI URL: it must start with oci://",
            ),
            case(
                "oci url only the scheme",
                oci_spec(json!({"url": "oci://"})),
                &[&s("url")],
                "is not an OCI URL",
            ),
            case(
                "oci url missing",
                oci_spec(json!({"url": null})),
                &[&s("url")],
                "required: the OCI artifact URL",
            ),
            case(
                "oci ref empty",
                oci_spec(json!({"ref": {"tag": null}})),
                &[&s("ref")],
                "must set at least one of tag, semver or digest",
            ),
            case(
                "oci ref with a branch",
                oci_spec(json!({"ref": {"tag": null, "branch": "main"}})),
                &[&s("ref.branch"), &s("ref")],
                "unknown field; OCIRepository ref fields are tag, semver, semverFilter, digest",
            ),
            case(
                "oci ref with only semverFilter",
                oci_spec(json!({"ref": {"tag": null, "semverFilter": ".*-rc.*"}})),
                &[&s("ref")],
                "must set at least one of tag, semver or digest",
            ),
            case(
                "oci digest short",
                oci_spec(json!({"ref": {"tag": null, "digest": "sha256:abc"}})),
                &[&s("ref.digest")],
                "is not a digest like sha256:<64 lowercase hex digits>",
            ),
            case(
                "oci digest upper case",
                oci_spec(json!({"ref": {"digest": format!("sha256:{}", "A".repeat(64))}})),
                &[&s("ref.digest")],
                "is not a digest",
            ),
            case(
                "oci insecure is a string",
                oci_spec(json!({"insecure": "true"})),
                &[&s("insecure")],
                "must be true or false",
            ),
            case(
                "oci certSecretRef name empty",
                oci_spec(json!({"certSecretRef": {"name": ""}})),
                &[&s("certSecretRef.name")],
                "must not be empty",
            ),
            case(
                "oci spec with a Git field",
                oci_spec(json!({"recurseSubmodules": true})),
                &[&s("recurseSubmodules")],
                "unknown field; OCIRepository v1 spec fields are",
            ),
            case(
                "oci provider of Git",
                oci_spec(json!({"provider": "github"})),
                &[&s("provider")],
                "use generic, aws, azure or gcp",
            ),
            // source.secretResourceName.
            case(
                "secretResourceName not a resource",
                git_with(json!({"source": {"secretResourceName": "missing"}})),
                &["providerConfig.source.secretResourceName"],
                "\"missing\" is not in Shoot.spec.resources; its entries are git-credentials (Secret), vault (Secret), settings (ConfigMap), flux-creds (Secret)",
            ),
            case(
                "secretResourceName a ConfigMap",
                git_with(json!({"source": {"secretResourceName": "settings"}})),
                &["providerConfig.source.secretResourceName"],
                "\"settings\" in Shoot.spec.resources refers to a ConfigMap, not a Secret",
            ),
            case(
                "secretResourceName is a number",
                git_with(json!({"source": {"secretResourceName": 5}})),
                &["providerConfig.source.secretResourceName"],
                "must be a string, not 5",
            ),
            // kustomization.
            case(
                "kustomization is a list",
                git_with(json!({"kustomization": []})),
                &["providerConfig.kustomization"],
                "must be an object, not []",
            ),
            case(
                "kustomization spec one level too high",
                git_with(json!({"kustomization": {"template": null, "spec": {"path": "x"}}})),
                &[
                    "providerConfig.kustomization.spec",
                    "providerConfig.kustomization.template",
                ],
                "unknown field; kustomization fields are template",
            ),
            case(
                "kustomization apiVersion v1beta2",
                git_with(
                    json!({"kustomization": {"template": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2"}}}),
                ),
                &["providerConfig.kustomization.template.apiVersion"],
                "is not supported; use kustomize.toolkit.fluxcd.io/v1 (v1 is v1beta2 without",
            ),
            case(
                "kustomization kind HelmRelease",
                git_with(json!({"kustomization": {"template": {"kind": "HelmRelease"}}})),
                &["providerConfig.kustomization.template.kind"],
                "\"HelmRelease\" is not supported; use Kustomization",
            ),
            case(
                "kustomization metadata.name invalid",
                git_with(json!({"kustomization": {"template": {"metadata": {"name": "-x"}}}})),
                &["providerConfig.kustomization.template.metadata.name"],
                "is not a valid name",
            ),
            case(
                "kustomization spec missing",
                git_with(json!({"kustomization": {"template": {"spec": null}}})),
                &["providerConfig.kustomization.template.spec"],
                "required: the Kustomization spec",
            ),
            case(
                "kustomization path missing",
                kustomization_spec(json!({"path": null})),
                &[&k("path")],
                "required: the directory in the source to apply",
            ),
            case(
                "kustomization path absolute",
                kustomization_spec(json!({"path": "/clusters"})),
                &[&k("path")],
                "must be relative to the source root",
            ),
            case(
                "kustomization path leaves the source",
                kustomization_spec(json!({"path": "clusters/../../etc"})),
                &[&k("path")],
                "no '..' segments",
            ),
            case(
                "kustomization path empty",
                kustomization_spec(json!({"path": ""})),
                &[&k("path")],
                "must not be empty",
            ),
            case(
                "kustomization prune is a string",
                kustomization_spec(json!({"prune": "true"})),
                &[&k("prune")],
                "must be true or false, not \"true\"",
            ),
            case(
                "kustomization targetNamespace invalid",
                kustomization_spec(json!({"targetNamespace": "Default"})),
                &[&k("targetNamespace")],
                "\"Default\" is not a valid namespace name",
            ),
            case(
                "kustomization retryInterval invalid",
                kustomization_spec(json!({"retryInterval": "1x"})),
                &[&k("retryInterval")],
                "is not a duration",
            ),
            case(
                "kustomization v1beta2 validation field",
                kustomization_spec(json!({"validation": "client"})),
                &[&k("validation")],
                "unknown field; Kustomization v1 spec fields are dependsOn",
            ),
            case(
                "kustomization patchesStrategicMerge",
                kustomization_spec(json!({"patchesStrategicMerge": []})),
                &[&k("patchesStrategicMerge")],
                "unknown field",
            ),
            case(
                "kustomization postBuild is a string",
                kustomization_spec(json!({"postBuild": "x"})),
                &[&k("postBuild")],
                "must be an object",
            ),
            case(
                "kustomization substituteFrom is an object",
                kustomization_spec(json!({"postBuild": {"substituteFrom": {"kind": "ConfigMap"}}})),
                &[&k("postBuild.substituteFrom")],
                "must be a list",
            ),
            case(
                "kustomization substituteFrom kind unknown",
                kustomization_spec(
                    json!({"postBuild": {"substituteFrom": [{"kind": "Foo", "name": "x"}]}}),
                ),
                &[&k("postBuild.substituteFrom[0].kind")],
                "\"Foo\" is not supported; use ConfigMap or Secret",
            ),
            case(
                "kustomization substituteFrom without name",
                kustomization_spec(
                    json!({"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "ok"}, {"kind": "ConfigMap"}]}}),
                ),
                &[&k("postBuild.substituteFrom[1].name")],
                "required: the object's name",
            ),
            case(
                "kustomization substituteFrom item is a string",
                kustomization_spec(json!({"postBuild": {"substituteFrom": ["shoot-info"]}})),
                &[&k("postBuild.substituteFrom[0]")],
                "must be an object with kind (ConfigMap or Secret) and name",
            ),
            case(
                "kustomization substituteFrom optional is a string",
                kustomization_spec(
                    json!({"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "x", "optional": "no"}]}}),
                ),
                &[&k("postBuild.substituteFrom[0].optional")],
                "must be true or false",
            ),
            case(
                "kustomization substituteFrom name invalid",
                kustomization_spec(
                    json!({"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "X"}]}}),
                ),
                &[&k("postBuild.substituteFrom[0].name")],
                "is not a valid name",
            ),
            case(
                "kustomization substitute value is a number",
                kustomization_spec(json!({"postBuild": {"substitute": {"replicas": 3}}})),
                &[&k("postBuild.substitute.replicas")],
                "quote numbers and booleans",
            ),
            case(
                "kustomization postBuild typo",
                kustomization_spec(json!({"postBuild": {"substitutes": {}}})),
                &[&k("postBuild.substitutes")],
                "did you mean substitute?",
            ),
            case(
                "kustomization sourceRef of another kind",
                kustomization_spec(json!({"sourceRef": {"kind": "OCIRepository"}})),
                &[&k("sourceRef.kind")],
                "\"OCIRepository\" is not the kind of the source this config creates (GitRepository)",
            ),
            case(
                "kustomization sourceRef to a Bucket",
                kustomization_spec(json!({"sourceRef": {"kind": "Bucket", "name": "flux-system"}})),
                &[&k("sourceRef.kind")],
                "the Kustomization must read that source",
            ),
            case(
                "kustomization sourceRef kind unknown",
                kustomization_spec(json!({"sourceRef": {"kind": "HelmChart"}})),
                &[&k("sourceRef.kind")],
                "use GitRepository, OCIRepository, Bucket or ExternalArtifact",
            ),
            case(
                "kustomization sourceRef of another name",
                kustomization_spec(json!({"sourceRef": {"name": "other"}})),
                &[&k("sourceRef.name")],
                "\"other\" is not the name of the source this config creates (\"flux-system\")",
            ),
            case(
                "kustomization sourceRef name against an explicit source name",
                git_with(
                    json!({"source": {"template": {"metadata": {"name": "fleet"}}}, "kustomization": {"template": {"spec": {"sourceRef": {"name": "flux-system"}}}}}),
                ),
                &[&k("sourceRef.name")],
                "(\"fleet\")",
            ),
            case(
                "kustomization sourceRef namespace against the source",
                git_with(
                    json!({"source": {"template": {"metadata": {"namespace": "gitops"}}}, "kustomization": {"template": {"spec": {"sourceRef": {"namespace": "flux-system"}}}}}),
                ),
                &[&k("sourceRef.namespace")],
                "is not the namespace of the source this config creates (\"gitops\")",
            ),
            case(
                "invalid source namespace is reported once",
                git_with(
                    json!({"flux": {"namespace": "gitops"}, "source": {"template": {"metadata": {"namespace": "Bad"}}}, "kustomization": {"template": {"spec": {"sourceRef": {"namespace": "gitops"}}}}}),
                ),
                &["providerConfig.source.template.metadata.namespace"],
                "\"Bad\" is not a valid namespace name",
            ),
            case(
                "kustomization sourceRef namespace against flux.namespace",
                git_with(
                    json!({"flux": {"namespace": "gitops"}, "kustomization": {"template": {"spec": {"sourceRef": {"namespace": "flux-system"}}}}}),
                ),
                &[&k("sourceRef.namespace")],
                "(\"gitops\")",
            ),
            case(
                "kustomization sourceRef unknown field",
                kustomization_spec(json!({"sourceRef": {"uid": "1"}})),
                &[&k("sourceRef.uid")],
                "unknown field; sourceRef fields are apiVersion, kind, name, namespace",
            ),
            case(
                "kustomization sourceRef apiVersion v1beta2",
                kustomization_spec(
                    json!({"sourceRef": {"apiVersion": "source.toolkit.fluxcd.io/v1beta2"}}),
                ),
                &[&k("sourceRef.apiVersion")],
                "use source.toolkit.fluxcd.io/v1 or omit it",
            ),
            case(
                "kustomization deletionPolicy unknown",
                kustomization_spec(json!({"deletionPolicy": "Keep"})),
                &[&k("deletionPolicy")],
                "use MirrorPrune, Delete, WaitForTermination or Orphan",
            ),
            case(
                "kustomization dependsOn is an object",
                kustomization_spec(json!({"dependsOn": {"name": "infra"}})),
                &[&k("dependsOn")],
                "must be a list",
            ),
            // additionalSecretResources.
            case(
                "additionalSecretResources is an object",
                with(json!({"additionalSecretResources": {"name": "vault"}})),
                &[A],
                "must be a list",
            ),
            case(
                "additionalSecretResources item is a string",
                with(json!({"additionalSecretResources": ["vault"]})),
                &[&a("[0]")],
                "must be an object with name and optional targetName, not \"vault\"",
            ),
            case(
                "additionalSecretResources name missing",
                with(json!({"additionalSecretResources": [{"targetName": "vault"}]})),
                &[&a("[0].name")],
                "required: the name of a Secret entry of Shoot.spec.resources",
            ),
            case(
                "additionalSecretResources name not a resource",
                with(json!({"additionalSecretResources": [{"name": "vault"}, {"name": "nope"}]})),
                &[&a("[1].name")],
                "\"nope\" is not in Shoot.spec.resources",
            ),
            case(
                "additionalSecretResources name a ConfigMap",
                with(json!({"additionalSecretResources": [{"name": "settings"}]})),
                &[&a("[0].name")],
                "refers to a ConfigMap, not a Secret",
            ),
            case(
                "additionalSecretResources targetName invalid",
                with(
                    json!({"additionalSecretResources": [{"name": "vault", "targetName": "Vault_"}]}),
                ),
                &[&a("[0].targetName")],
                "\"Vault_\" is not a valid name",
            ),
            case(
                "additionalSecretResources targetName too long",
                with(
                    json!({"additionalSecretResources": [{"name": "vault", "targetName": long_name}]}),
                ),
                &[&a("[0].targetName")],
                "at most 253 characters",
            ),
            case(
                "additionalSecretResources unknown field",
                with(json!({"additionalSecretResources": [{"name": "vault", "namespace": "x"}]})),
                &[&a("[0].namespace")],
                "unknown field; additionalSecretResources entry fields are name, targetName",
            ),
            case(
                "additionalSecretResources same resource twice",
                with(json!({"additionalSecretResources": [{"name": "vault"}, {"name": "vault"}]})),
                &[&a("[1].name")],
                "becomes the Secret \"project-vault\" in the shoot, like additionalSecretResources[0]; set another targetName",
            ),
            case(
                "additionalSecretResources same targetName",
                with(
                    json!({"additionalSecretResources": [{"name": "vault", "targetName": "shared"}, {"name": "git-credentials", "targetName": "shared"}]}),
                ),
                &[&a("[1].targetName")],
                "like additionalSecretResources[0]",
            ),
            case(
                "additionalSecretResources targetName of another's resource",
                with(
                    json!({"additionalSecretResources": [{"name": "vault"}, {"name": "git-credentials", "targetName": "project-vault"}]}),
                ),
                &[&a("[1].targetName")],
                "\"project-vault\"",
            ),
            case(
                "additionalSecretResources targetName of the default source secret",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials"}, "additionalSecretResources": [{"name": "vault", "targetName": "flux-system"}]}),
                ),
                &[&a("[0].targetName")],
                "which is the source's secret",
            ),
            case(
                "additionalSecretResources resource named like the source secret",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials"}, "additionalSecretResources": [{"name": "flux-creds"}]}),
                ),
                &[&a("[0].name")],
                "becomes the Secret \"flux-system\"",
            ),
            case(
                "additionalSecretResources targetName of an explicit source secretRef",
                git_with(
                    json!({"source": {"secretResourceName": "git-credentials", "template": {"spec": {"secretRef": {"name": "git-auth"}}}}, "additionalSecretResources": [{"name": "vault", "targetName": "git-auth"}]}),
                ),
                &[&a("[0].targetName")],
                "\"git-auth\"",
            ),
            // Several problems at once.
            case(
                "root problems together",
                with(json!({"apiVersion": "v1", "kind": "Flux", "extra": true})),
                &[
                    "providerConfig.extra",
                    "providerConfig.apiVersion",
                    "providerConfig.kind",
                ],
                "unknown field",
            ),
            case(
                "install-only problems together",
                with(
                    json!({"flux": {"version": "two", "registry": "https://x", "namespace": "NS", "components": ["source-controller", "bogus"], "componentsExtra": [], "extra": 1}}),
                ),
                &[
                    "providerConfig.flux.extra",
                    "providerConfig.flux.version",
                    "providerConfig.flux.registry",
                    "providerConfig.flux.namespace",
                    "providerConfig.flux.components[1]",
                    "providerConfig.flux.componentsExtra",
                ],
                "unknown field",
            ),
            case(
                "wrong types everywhere",
                with(
                    json!({"flux": 1, "source": 2, "kustomization": 3, "additionalSecretResources": 4, "managementMode": 5, "deletionPolicy": 6}),
                ),
                &[
                    "providerConfig.flux",
                    "providerConfig.source",
                    "providerConfig.kustomization",
                    "providerConfig.additionalSecretResources",
                    "providerConfig.managementMode",
                    "providerConfig.deletionPolicy",
                ],
                "must be an object, not 1",
            ),
            case(
                "problems in every section",
                json!({
                    "apiVersion": API_VERSION, "kind": KIND,
                    "flux": {"namespace": "Flux"},
                    "source": {"template": {
                        "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository",
                        "spec": {"url": "ftp://x", "ref": {}, "interval": "1 minute", "secretRef": {"name": "auth"}}
                    }},
                    "kustomization": {"template": {"spec": {"path": "/abs", "prune": "yes", "sourceRef": {"kind": "OCIRepository"}}}},
                    "additionalSecretResources": [{"name": "settings"}, {"name": "vault", "targetName": "auth"}],
                    "managementMode": "Auto"
                }),
                &[
                    "providerConfig.managementMode",
                    "providerConfig.flux.namespace",
                    "providerConfig.source.template.apiVersion",
                    &s("interval"),
                    &s("url"),
                    &s("ref"),
                    "providerConfig.source.secretResourceName",
                    &k("prune"),
                    &k("path"),
                    &k("sourceRef.kind"),
                    &a("[0].name"),
                ],
                "\"Auto\" is not supported",
            ),
            case(
                "source problems with a secret collision",
                git_with(json!({
                    "source": {"secretResourceName": "settings", "template": {"metadata": {"name": "Fleet", "extra": 1}, "spec": {"ref": {"tag": ""}}}},
                    "additionalSecretResources": [{"name": "vault", "targetName": "flux-system"}, {"name": "vault", "targetName": "flux-system"}]
                })),
                &[
                    "providerConfig.source.template.metadata.extra",
                    "providerConfig.source.template.metadata.name",
                    &s("ref.tag"),
                    "providerConfig.source.secretResourceName",
                    &a("[0].targetName"),
                    &a("[1].targetName"),
                ],
                "unknown field; metadata fields are",
            ),
        ]
    }

    #[test]
    fn invalid_configs_name_every_problem_at_its_path() {
        let cases = cases();
        assert!(cases.len() >= 80, "only {} cases", cases.len());
        let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "case names must be unique");
        let resources = resources();
        let mut failures = Vec::new();
        for case in &cases {
            let errors = match decode(Some(&case.input), &resources) {
                Ok(config) => {
                    failures.push(format!("{}: decoded without error: {config:?}", case.name));
                    continue;
                }
                Err(errors) => errors,
            };
            let paths = paths_of(&errors);
            if paths != case.paths {
                failures.push(format!(
                    "{}: paths {paths:?}, expected {:?} ({errors})",
                    case.name, case.paths
                ));
            } else if !errors.0[0].message.contains(case.fragment) {
                failures.push(format!(
                    "{}: first message {:?} lacks {:?}",
                    case.name, errors.0[0].message, case.fragment
                ));
            }
            if errors.0.iter().any(|e| e.message.is_empty()) {
                failures.push(format!("{}: an empty message", case.name));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn no_resources_says_the_list_is_empty() {
        let errors = decode(
            Some(&git_with(
                json!({"source": {"secretResourceName": "git-credentials"}}),
            )),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            paths_of(&errors),
            ["providerConfig.source.secretResourceName"]
        );
        assert!(errors.0[0].message.contains("which is empty"), "{errors}");
    }

    fn decoded(input: Value) -> FluxConfig {
        match decode(Some(&input), &resources()) {
            Ok(config) => config,
            Err(errors) => panic!("{input}: {errors}"),
        }
    }

    #[test]
    fn no_provider_config_is_the_empty_config() {
        assert_eq!(decode(None, &[]).unwrap(), FluxConfig::default());
        assert_eq!(
            decode(Some(&Value::Null), &[]).unwrap(),
            FluxConfig::default()
        );
        assert_eq!(decoded(root()), FluxConfig::default());
    }

    #[test]
    fn stackit_example_shoot_is_accepted() {
        // example/shoot.yaml of the stackit extension.
        let config = decoded(json!({
            "apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
            "kind": "FluxConfig",
            "flux": {"version": "v2.6.1", "registry": "ghcr.io/fluxcd", "namespace": "flux-system"},
            "source": {"template": {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "spec": {"ref": {"branch": "main"}, "url": "https://github.com/fluxcd/flux2-kustomize-helm-example"}
            }},
            "kustomization": {"template": {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "spec": {"path": "clusters/production"}
            }}
        }));
        assert_eq!(config.flux.version, Some(version::parse("v2.6.1").unwrap()));
        assert_eq!(config.flux.registry.as_deref(), Some("ghcr.io/fluxcd"));
        assert_eq!(config.flux.namespace.as_deref(), Some("flux-system"));
        let source = config.source.unwrap();
        assert_eq!(source.kind, SourceKind::GitRepository);
        assert_eq!(source.secret_resource_name, None);
        assert_eq!(source.template["spec"]["ref"]["branch"], "main");
        assert!(
            source.template.get("metadata").is_none(),
            "no defaults in decode"
        );
        let kustomization = config.kustomization.unwrap();
        assert_eq!(
            kustomization.template["spec"],
            json!({"path": "clusters/production"})
        );
        assert_eq!(config.management_mode, None);
        assert_eq!(config.deletion_policy, None);
    }

    #[test]
    fn git_repository_with_secret_resource_name() {
        // With and without spec.secretRef (defaulting adds it), as stackit's tests show.
        for secret_ref in [json!({"name": "flux-secret"}), Value::Null] {
            let config = decoded(git_with(json!({"source": {
                "secretResourceName": "git-credentials",
                "template": {"spec": {"secretRef": secret_ref}}
            }})));
            let source = config.source.unwrap();
            assert_eq!(
                source.secret_resource_name.as_deref(),
                Some("git-credentials")
            );
        }
    }

    #[test]
    fn oci_repository_with_semver_ref() {
        let config = decoded(oci_spec(json!({
            "ref": {"tag": null, "semver": ">=1.0.0", "semverFilter": ".*-rc.*"},
            "interval": "10m",
            "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip"},
            "provider": "aws"
        })));
        let source = config.source.unwrap();
        assert_eq!(source.kind, SourceKind::OciRepository);
        assert_eq!(
            source.template["spec"]["ref"],
            json!({"semver": ">=1.0.0", "semverFilter": ".*-rc.*"})
        );
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        decoded(oci_spec(json!({"ref": {"tag": null, "digest": digest}})));
    }

    #[test]
    fn install_only() {
        let config = decoded(with(
            json!({"flux": {"version": "latest", "registry": " mirror.local/flux/ ", "namespace": "gitops"}}),
        ));
        assert_eq!(config.flux.version, Some(VersionRequest::Latest));
        assert_eq!(config.flux.registry.as_deref(), Some("mirror.local/flux"));
        assert_eq!(config.flux.namespace.as_deref(), Some("gitops"));
        assert_eq!(config.source, None);
        assert_eq!(config.kustomization, None);
    }

    #[test]
    fn components_and_components_extra_are_sorted_and_deduplicated() {
        let config = decoded(git_with(json!({"flux": {
            "components": ["source-controller", "kustomize-controller", "source-controller"],
            "componentsExtra": ["source-watcher", "image-reflector-controller", "source-watcher"]
        }})));
        assert_eq!(
            config.flux.components,
            Some(vec![
                "kustomize-controller".to_string(),
                "source-controller".to_string()
            ])
        );
        assert_eq!(
            config.flux.components_extra,
            Some(vec![
                "image-reflector-controller".to_string(),
                "source-watcher".to_string()
            ])
        );
        // Install-only needs no kustomize-controller.
        let config = decoded(with(json!({"flux": {"components": ["source-controller"]}})));
        assert_eq!(
            config.flux.components,
            Some(vec!["source-controller".to_string()])
        );
    }

    #[test]
    fn additional_secret_resources_with_target_name() {
        // stackit's example: shoot-vault-secret becomes "vault" in the shoot.
        let input = with(json!({"additionalSecretResources": [
            {"name": "shoot-vault-secret", "targetName": "vault"},
            {"name": "git-credentials"}
        ]}));
        let resources = [
            resource("shoot-vault-secret", "Secret", "project-vault-secret"),
            resource("git-credentials", "Secret", "team-git"),
        ];
        let config = decode(Some(&input), &resources).unwrap();
        assert_eq!(
            config.additional_secret_resources,
            [
                AdditionalSecretResource {
                    name: "shoot-vault-secret".into(),
                    target_name: Some("vault".into())
                },
                AdditionalSecretResource {
                    name: "git-credentials".into(),
                    target_name: None
                },
            ]
        );
        // Without secretResourceName the source has no Secret to collide with.
        decoded(git_with(
            json!({"additionalSecretResources": [{"name": "flux-creds"}]}),
        ));
    }

    #[test]
    fn explicit_management_mode_and_deletion_policy() {
        let config = decoded(git_with(
            json!({"managementMode": "Managed", "deletionPolicy": "Delete"}),
        ));
        assert_eq!(config.management_mode, Some(ManagementMode::Managed));
        assert_eq!(config.deletion_policy, Some(DeletionPolicy::Delete));
        let config = decoded(with(
            json!({"managementMode": "Bootstrap", "deletionPolicy": "Orphan"}),
        ));
        assert_eq!(config.management_mode, Some(ManagementMode::Bootstrap));
        assert_eq!(config.deletion_policy, Some(DeletionPolicy::Orphan));
    }

    #[test]
    fn other_accepted_shapes() {
        let accepted = [
            // apiVersion of the templates may be left out; nulls count as unset.
            git_with(
                json!({"source": {"template": {"apiVersion": null}}, "kustomization": {"template": {"apiVersion": null, "kind": null}}}),
            ),
            with(
                json!({"flux": null, "source": null, "kustomization": null, "additionalSecretResources": null}),
            ),
            // Any Git reference, as stackit's tests show.
            git_spec(json!({"ref": {"branch": null, "tag": "latest"}})),
            git_spec(json!({"ref": {"branch": null, "semver": "v1.0.0"}})),
            git_spec(json!({"ref": {"branch": null, "name": "refs/tags/v1.0.0"}})),
            git_spec(
                json!({"ref": {"branch": null, "commit": "9c36b9c4bb6438104a703cb983aa8c62ff5e7c4c"}}),
            ),
            // SSH URLs and durations.
            git_spec(
                json!({"url": "ssh://git@github.com/org/repo.git", "interval": "1h30m", "timeout": "1.5m"}),
            ),
            git_spec(
                json!({"url": "ssh://git@github.com:22/org/repo.git", "interval": "500ms", "timeout": "90s"}),
            ),
            git_spec(json!({"interval": "10us", "timeout": "2µs"})),
            // Every GitRepository field Flux knows.
            git_spec(
                json!({"provider": "github", "serviceAccountName": "flux", "verify": {"mode": "HEAD"}, "ignore": "/*\n!/deploy", "suspend": false, "recurseSubmodules": true, "include": [], "sparseCheckout": ["deploy"]}),
            ),
            // Metadata and a sourceRef naming the source.
            git_with(json!({
                "source": {"template": {"metadata": {"name": "fleet", "namespace": "gitops", "labels": {"app.kubernetes.io/part-of": "fleet"}, "annotations": {"a": "b"}}}},
                "kustomization": {"template": {"metadata": {"name": "fleet", "namespace": "gitops"}, "spec": {"sourceRef": {"apiVersion": SOURCE_API_VERSION, "kind": "GitRepository", "name": "fleet", "namespace": "gitops"}}}}
            })),
            // Kustomization fields from stackit's docs and Flux's.
            kustomization_spec(json!({
                "path": "./clusters/production", "prune": true, "wait": true, "force": false, "interval": "10m", "retryInterval": "2m", "timeout": "5m",
                "targetNamespace": "apps", "postBuild": {"substitute": {"cluster": "a"}, "substituteFrom": [{"kind": "ConfigMap", "name": "shoot-info"}, {"kind": "Secret", "name": "vars", "optional": true}]},
                "dependsOn": [], "patches": [], "images": [], "components": ["../c"], "commonMetadata": {}, "healthChecks": [], "healthCheckExprs": [],
                "namePrefix": "p-", "nameSuffix": "-s", "deletionPolicy": "Orphan", "serviceAccountName": "flux", "suspend": false, "ignoreMissingComponents": true, "decryption": {"provider": "sops"}, "kubeConfig": {"secretRef": {"name": "kc"}}
            })),
        ];
        for input in accepted {
            decoded(input);
        }
    }

    #[test]
    fn go_durations() {
        for ok in [
            "1m",
            "30s",
            "1h30m",
            "500ms",
            "1.5h",
            "10ns",
            "10us",
            "10µs",
            "10μs",
            "2h45m30.5s",
            "0s",
        ] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in [
            "", "1", "m", "1 m", "1.m", ".5s", "-1s", "+1s", "1d", "1mm", "1m30", "1H", "1e3s",
        ] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_dns_subdomain("flux-system.example"));
        assert!(is_dns_subdomain(&"a".repeat(253)));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
        for bad in ["", "A", "a..b", ".a", "a.", "-a", "a-", "a_b", "a b"] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        assert_eq!(child("p", "a.b"), "p[\"a.b\"]");
        assert_eq!(child("p", "9"), "p[\"9\"]");
        assert_eq!(child("p", "spec"), "p.spec");
        assert_eq!(either(&["a"]), "a");
        assert_eq!(either(&["a", "b", "c"]), "a, b or c");
        assert_eq!(edit_distance("uri", "url"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(shown(&json!("x".repeat(100))).ends_with('…'));
    }

    // Random JSON: no panic, and every problem is rooted at providerConfig with a message.
    fn key() -> impl Strategy<Value = String> {
        let mut names: Vec<&'static str> = OBJECTS
            .iter()
            .flat_map(|object| object.fields.iter().map(|f| f.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        prop_oneof![
            4 => proptest::sample::select(names).prop_map(String::from),
            1 => "[a-zA-Z0-9./\\-\"]{0,8}",
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        let interesting = vec![
            API_VERSION,
            KIND,
            SOURCE_API_VERSION,
            KUSTOMIZATION_API_VERSION,
            "GitRepository",
            "OCIRepository",
            "Kustomization",
            "Bucket",
            "Secret",
            "ConfigMap",
            "Managed",
            "Bootstrap",
            "Delete",
            "Orphan",
            "v2.6.4",
            "latest",
            "1m",
            "1.5h",
            "oci://ghcr.io/x",
            "https://host/org/repo",
            "git@host:org/repo",
            "main",
            "clusters/x",
            "/abs",
            "../x",
            "flux-system",
            "git-credentials",
            "vault",
            "settings",
            "flux-creds",
            "source-controller",
            "kustomize-controller",
            "source-watcher",
            "",
            " ",
            "sha256:0123",
            "µ",
        ];
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            proptest::sample::select(interesting).prop_map(Value::from),
            ".{0,10}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key(), inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn assert_well_formed(input: &Value) -> Result<(), TestCaseError> {
        let resources = resources();
        let first = decode(Some(input), &resources);
        prop_assert_eq!(
            &first,
            &decode(Some(input), &resources),
            "not deterministic"
        );
        match first {
            Ok(config) => {
                let namespace = config.flux.namespace.as_deref().unwrap_or("flux-system");
                if let Some(source) = &config.source {
                    let object = defaults::source_object(source, namespace);
                    prop_assert_eq!(&object["apiVersion"], SOURCE_API_VERSION);
                    if let Some(kustomization) = &config.kustomization {
                        let k = defaults::kustomization_object(kustomization, &object, namespace);
                        prop_assert!(k["spec"]["sourceRef"]["name"].is_string());
                    }
                    defaults::source_secret_name(source);
                }
                defaults::default_management(&config);
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    prop_assert!(error.path.starts_with(ROOT), "{}", error);
                    prop_assert!(!error.message.trim().is_empty(), "{}", error);
                }
            }
        }
        Ok(())
    }

    /// Places of the valid Git config where random JSON goes.
    const POINTERS: [&str; 10] = [
        "/flux",
        "/source",
        "/source/template",
        "/source/template/metadata",
        "/source/template/spec",
        "/source/template/spec/ref",
        "/kustomization/template/spec",
        "/kustomization/template/spec/postBuild",
        "/kustomization/template/spec/sourceRef",
        "/additionalSecretResources",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_json_at_the_root(input in json_value()) {
            assert_well_formed(&input)?;
        }

        #[test]
        fn random_fields_under_a_valid_root(
            fields in proptest::collection::btree_map(key(), json_value(), 0..6)
        ) {
            let mut input = root();
            if let Value::Object(map) = &mut input {
                map.extend(fields);
            }
            assert_well_formed(&input)?;
        }

        #[test]
        fn random_json_inside_a_valid_config(
            pointer in proptest::sample::select(POINTERS.to_vec()),
            value in json_value(),
            merge_into in any::<bool>(),
        ) {
            let mut input = git_with(json!({"source": {"secretResourceName": "git-credentials"}}));
            if let Some(slot) = input.pointer_mut(pointer) {
                *slot = if merge_into { merge(slot.take(), value) } else { value };
            }
            assert_well_formed(&input)?;
        }
    }
}
