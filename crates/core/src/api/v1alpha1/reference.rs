//! The field tables of the providerConfig API. They drive the strict unknown-field and type
//! checks of `validation` and render docs/api-reference.md, so the checks and the reference
//! cannot drift apart.

use std::fmt::Write as _;

use super::{API_VERSION, KIND, KUSTOMIZATION_API_VERSION, SOURCE_API_VERSION};

/// The JSON a field takes; `validation` checks it before any rule of the field itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A non-empty string.
    String,
    Bool,
    /// A string holding a Go duration (`1m`, `1h30m`, `500ms`).
    Duration,
    Object,
    List,
    /// An object whose values are strings (labels, annotations, substitutions).
    StringMap,
    /// A string, one of these.
    OneOf(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDoc {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    /// The type column of the reference; `OneOf` fields list their values instead.
    pub type_text: &'static str,
    /// The default column; empty when nothing fills the field.
    pub default_text: &'static str,
    pub description: &'static str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ObjectDoc {
    /// Names the object in messages: `"unknown field; <title> fields are ..."`.
    pub title: &'static str,
    /// Where the object sits in providerConfig.
    pub path: &'static str,
    pub summary: &'static str,
    pub fields: &'static [FieldDoc],
}

impl ObjectDoc {
    pub fn field(&self, name: &str) -> Option<&'static FieldDoc> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field names, comma separated, for messages.
    pub fn field_list(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
        names.join(", ")
    }
}

const fn optional(
    name: &'static str,
    shape: Shape,
    type_text: &'static str,
    default_text: &'static str,
    description: &'static str,
) -> FieldDoc {
    FieldDoc {
        name,
        shape,
        required: false,
        type_text,
        default_text,
        description,
    }
}

const fn required(
    name: &'static str,
    shape: Shape,
    type_text: &'static str,
    description: &'static str,
) -> FieldDoc {
    FieldDoc {
        name,
        shape,
        required: true,
        type_text,
        default_text: "",
        description,
    }
}

pub const MANAGEMENT_MODES: &[&str] = &["Managed", "Bootstrap"];
pub const DELETION_POLICIES: &[&str] = &["Delete", "Orphan"];
pub const SOURCE_KINDS: &[&str] = &["GitRepository", "OCIRepository"];
pub const SOURCE_REF_KINDS: &[&str] = &[
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "ExternalArtifact",
];
pub const EXTRA_COMPONENTS: &[&str] = &[
    "image-reflector-controller",
    "image-automation-controller",
    "source-watcher",
];

const DURATION: &str = "Go duration";

pub static FLUX_CONFIG: ObjectDoc = ObjectDoc {
    title: "FluxConfig",
    path: "providerConfig",
    summary: "The providerConfig of the shoot-flux extension.",
    fields: &[
        required(
            "apiVersion",
            Shape::String,
            "string",
            "the API version, `flux.extensions.gardener.cloud/v1alpha1`",
        ),
        required("kind", Shape::String, "string", "the kind, `FluxConfig`"),
        optional(
            "flux",
            Shape::Object,
            "object",
            "",
            "How Flux is installed: version, registry, namespace, components.",
        ),
        optional(
            "source",
            Shape::Object,
            "object",
            "",
            "The Flux source created in the shoot; set together with `kustomization`.",
        ),
        optional(
            "kustomization",
            Shape::Object,
            "object",
            "",
            "The Flux Kustomization created in the shoot; set together with `source`.",
        ),
        optional(
            "additionalSecretResources",
            Shape::List,
            "list of objects",
            "",
            "Secrets of `Shoot.spec.resources` copied into the Flux namespace of the shoot.",
        ),
        optional(
            "managementMode",
            Shape::OneOf(MANAGEMENT_MODES),
            "string",
            "`Bootstrap` with `source`/`kustomization`, else `Managed`",
            "`Managed` keeps the Flux objects enforced; `Bootstrap` creates them once and leaves them to Flux.",
        ),
        optional(
            "deletionPolicy",
            Shape::OneOf(DELETION_POLICIES),
            "string",
            "`Orphan` with `source`/`kustomization`, else `Delete`",
            "What removing the extension does: `Delete` removes Flux and what it deployed, `Orphan` leaves them.",
        ),
    ],
};

pub static FLUX: ObjectDoc = ObjectDoc {
    title: "flux",
    path: "providerConfig.flux",
    summary: "The Flux installation. Each field overrides the project's flux-config ConfigMap and the operator defaults.",
    fields: &[
        optional(
            "version",
            Shape::String,
            "string",
            "project, else operator default",
            "flux2 release tag, with or without `v` (v2.0.0 or newer), or `latest`.",
        ),
        optional(
            "registry",
            Shape::String,
            "string",
            "operator default",
            "Registry and path of the Flux images without a scheme, e.g. `registry.example.com/fluxcd`.",
        ),
        optional(
            "namespace",
            Shape::String,
            "string",
            "operator default (`flux-system`)",
            "Namespace Flux is installed in (a DNS label).",
        ),
        optional(
            "components",
            Shape::List,
            "list of strings",
            "all of install.yaml",
            "Controllers of install.yaml: `source-controller` (always needed), `kustomize-controller` (needed with `source`), `helm-controller`, `notification-controller`.",
        ),
        optional(
            "componentsExtra",
            Shape::List,
            "list of strings",
            "none",
            "Extra controllers: `image-reflector-controller`, `image-automation-controller`, `source-watcher`.",
        ),
        optional(
            "imagePullSecret",
            Shape::String,
            "string",
            "the operator's (`shoot-flux-image-pull`) when the operator's registry is used",
            "Name of the Secret in the Flux namespace that every Flux controller pulls its images with, for a `registry` mirror that needs credentials: a `kubernetes.io/dockerconfigjson` Secret of `Shoot.spec.resources` that `additionalSecretResources` copies under this name.",
        ),
    ],
};

pub static SOURCE: ObjectDoc = ObjectDoc {
    title: "source",
    path: "providerConfig.source",
    summary: "The Flux source the Kustomization reads.",
    fields: &[
        required(
            "template",
            Shape::Object,
            "object",
            "the GitRepository or OCIRepository to create",
        ),
        optional(
            "secretResourceName",
            Shape::String,
            "string",
            "",
            "A Secret of `Shoot.spec.resources` (by its `name`) that becomes the source's `spec.secretRef` Secret in the shoot; required when the template sets `spec.secretRef`.",
        ),
    ],
};

pub static SOURCE_TEMPLATE: ObjectDoc = ObjectDoc {
    title: "source template",
    path: "providerConfig.source.template",
    summary: "A GitRepository or OCIRepository of `source.toolkit.fluxcd.io/v1`.",
    fields: &[
        optional(
            "apiVersion",
            Shape::String,
            "string",
            "`source.toolkit.fluxcd.io/v1`",
            "Only `source.toolkit.fluxcd.io/v1` is supported.",
        ),
        required(
            "kind",
            Shape::OneOf(SOURCE_KINDS),
            "string",
            "the source kind, GitRepository or OCIRepository",
        ),
        optional(
            "metadata",
            Shape::Object,
            "object",
            "",
            "Name, namespace, labels and annotations.",
        ),
        required(
            "spec",
            Shape::Object,
            "object",
            "the source spec (url, ref, ...)",
        ),
    ],
};

pub static METADATA: ObjectDoc = ObjectDoc {
    title: "metadata",
    path: "providerConfig.source.template.metadata, providerConfig.kustomization.template.metadata",
    summary: "Metadata of the source and the Kustomization.",
    fields: &[
        optional(
            "name",
            Shape::String,
            "string",
            "`flux-system`",
            "Object name (a DNS-1123 subdomain).",
        ),
        optional(
            "namespace",
            Shape::String,
            "string",
            "the Flux namespace",
            "Object namespace (a DNS label).",
        ),
        optional(
            "labels",
            Shape::StringMap,
            "map of strings",
            "",
            "Labels of the object.",
        ),
        optional(
            "annotations",
            Shape::StringMap,
            "map of strings",
            "",
            "Annotations of the object.",
        ),
    ],
};

pub static GIT_REPOSITORY_SPEC: ObjectDoc = ObjectDoc {
    title: "GitRepository v1 spec",
    path: "providerConfig.source.template.spec (kind GitRepository)",
    summary: "The spec of Flux's GitRepository v1; fields without a rule here are passed to Flux as written.",
    fields: &[
        required(
            "url",
            Shape::String,
            "string",
            "the Git URL: https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git",
        ),
        optional(
            "secretRef",
            Shape::Object,
            "object",
            "`{name: flux-system}` with `secretResourceName`",
            "The credentials Secret (`name` only); its data comes from `source.secretResourceName`.",
        ),
        optional(
            "provider",
            Shape::OneOf(&["generic", "azure", "github"]),
            "string",
            "Flux: `generic`",
            "Authentication provider.",
        ),
        optional(
            "serviceAccountName",
            Shape::String,
            "string",
            "",
            "Service account for workload identity.",
        ),
        optional(
            "interval",
            Shape::Duration,
            DURATION,
            "`1m`",
            "How often the repository is checked.",
        ),
        optional(
            "timeout",
            Shape::Duration,
            DURATION,
            "Flux: `60s`",
            "Timeout of Git operations.",
        ),
        required(
            "ref",
            Shape::Object,
            "object",
            "the Git reference: one of branch, tag, semver, name, commit",
        ),
        optional(
            "verify",
            Shape::Object,
            "object",
            "",
            "Commit signature verification.",
        ),
        optional(
            "proxySecretRef",
            Shape::Object,
            "object",
            "",
            "Secret with proxy settings (`name` only).",
        ),
        optional(
            "ignore",
            Shape::String,
            "string",
            "",
            "Paths to leave out of the artifact (.gitignore format).",
        ),
        optional(
            "suspend",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Stops reconciliation.",
        ),
        optional(
            "recurseSubmodules",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Clones submodules too.",
        ),
        optional(
            "include",
            Shape::List,
            "list of objects",
            "",
            "Other GitRepositories whose artifacts are included.",
        ),
        optional(
            "sparseCheckout",
            Shape::List,
            "list of strings",
            "",
            "Directories to check out.",
        ),
    ],
};

pub static GIT_REPOSITORY_REF: ObjectDoc = ObjectDoc {
    title: "GitRepository ref",
    path: "providerConfig.source.template.spec.ref (kind GitRepository)",
    summary: "The Git reference; at least one field is required.",
    fields: &[
        optional("branch", Shape::String, "string", "", "Branch to follow."),
        optional("tag", Shape::String, "string", "", "Tag to check out."),
        optional(
            "semver",
            Shape::String,
            "string",
            "",
            "Semver range of tags to follow.",
        ),
        optional(
            "name",
            Shape::String,
            "string",
            "",
            "Git reference name, e.g. `refs/heads/main`.",
        ),
        optional(
            "commit",
            Shape::String,
            "string",
            "",
            "Commit SHA to check out.",
        ),
    ],
};

pub static OCI_REPOSITORY_SPEC: ObjectDoc = ObjectDoc {
    title: "OCIRepository v1 spec",
    path: "providerConfig.source.template.spec (kind OCIRepository)",
    summary: "The spec of Flux's OCIRepository v1; fields without a rule here are passed to Flux as written.",
    fields: &[
        required(
            "url",
            Shape::String,
            "string",
            "the OCI artifact URL, oci://registry/repository",
        ),
        required(
            "ref",
            Shape::Object,
            "object",
            "the OCI reference: one of tag, semver, digest",
        ),
        optional(
            "layerSelector",
            Shape::Object,
            "object",
            "",
            "Which layer of the artifact to use.",
        ),
        optional(
            "provider",
            Shape::OneOf(&["generic", "aws", "azure", "gcp"]),
            "string",
            "Flux: `generic`",
            "Authentication provider.",
        ),
        optional(
            "secretRef",
            Shape::Object,
            "object",
            "`{name: flux-system}` with `secretResourceName`",
            "The registry credentials Secret (`name` only); its data and type come from `source.secretResourceName`, which must name a Secret of type `kubernetes.io/dockerconfigjson` (`kubectl create secret docker-registry`): source-controller ignores other types.",
        ),
        optional(
            "verify",
            Shape::Object,
            "object",
            "",
            "Artifact signature verification.",
        ),
        optional(
            "serviceAccountName",
            Shape::String,
            "string",
            "",
            "Service account whose image pull secrets are used.",
        ),
        optional(
            "certSecretRef",
            Shape::Object,
            "object",
            "",
            "Secret with TLS certificates (`name` only): `ca.crt` for a registry with a private CA, `tls.crt`/`tls.key` for a client certificate. Bring it as a Secret of `Shoot.spec.resources` copied by `additionalSecretResources` with this `targetName`.",
        ),
        optional(
            "proxySecretRef",
            Shape::Object,
            "object",
            "",
            "Secret with proxy settings (`name` only).",
        ),
        optional(
            "interval",
            Shape::Duration,
            DURATION,
            "`1m`",
            "How often the registry is checked.",
        ),
        optional(
            "timeout",
            Shape::Duration,
            DURATION,
            "Flux: `60s`",
            "Timeout of registry operations.",
        ),
        optional(
            "ignore",
            Shape::String,
            "string",
            "",
            "Paths to leave out of the artifact (.gitignore format).",
        ),
        optional(
            "insecure",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Allows plain HTTP registries.",
        ),
        optional(
            "suspend",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Stops reconciliation.",
        ),
    ],
};

pub static OCI_REPOSITORY_REF: ObjectDoc = ObjectDoc {
    title: "OCIRepository ref",
    path: "providerConfig.source.template.spec.ref (kind OCIRepository)",
    summary: "The OCI reference; at least one of tag, semver, digest is required.",
    fields: &[
        optional("tag", Shape::String, "string", "", "Tag to pull."),
        optional(
            "semver",
            Shape::String,
            "string",
            "",
            "Semver range of tags to follow.",
        ),
        optional(
            "semverFilter",
            Shape::String,
            "string",
            "",
            "Regular expression the semver tags must match.",
        ),
        optional(
            "digest",
            Shape::String,
            "string",
            "",
            "Digest to pull, `sha256:` and 64 lowercase hex digits.",
        ),
    ],
};

pub static SECRET_REF: ObjectDoc = ObjectDoc {
    title: "secret reference",
    path: "spec.secretRef, spec.proxySecretRef, spec.certSecretRef of the source template",
    summary: "A Secret in the namespace of the source.",
    fields: &[required(
        "name",
        Shape::String,
        "string",
        "the Secret's name",
    )],
};

pub static KUSTOMIZATION: ObjectDoc = ObjectDoc {
    title: "kustomization",
    path: "providerConfig.kustomization",
    summary: "The Flux Kustomization that applies the source.",
    fields: &[required(
        "template",
        Shape::Object,
        "object",
        "the Kustomization to create",
    )],
};

pub static KUSTOMIZATION_TEMPLATE: ObjectDoc = ObjectDoc {
    title: "Kustomization template",
    path: "providerConfig.kustomization.template",
    summary: "A Kustomization of `kustomize.toolkit.fluxcd.io/v1`.",
    fields: &[
        optional(
            "apiVersion",
            Shape::String,
            "string",
            "`kustomize.toolkit.fluxcd.io/v1`",
            "Only `kustomize.toolkit.fluxcd.io/v1` is supported.",
        ),
        optional(
            "kind",
            Shape::OneOf(&["Kustomization"]),
            "string",
            "`Kustomization`",
            "The kind.",
        ),
        optional(
            "metadata",
            Shape::Object,
            "object",
            "",
            "Name, namespace, labels and annotations.",
        ),
        required(
            "spec",
            Shape::Object,
            "object",
            "the Kustomization spec (at least path)",
        ),
    ],
};

pub static KUSTOMIZATION_SPEC: ObjectDoc = ObjectDoc {
    title: "Kustomization v1 spec",
    path: "providerConfig.kustomization.template.spec",
    summary: "The spec of Flux's Kustomization v1; fields without a rule here are passed to Flux as written.",
    fields: &[
        optional(
            "dependsOn",
            Shape::List,
            "list of objects",
            "",
            "Kustomizations that must be ready first.",
        ),
        optional(
            "decryption",
            Shape::Object,
            "object",
            "",
            "SOPS decryption settings.",
        ),
        optional(
            "interval",
            Shape::Duration,
            DURATION,
            "`1m`",
            "How often the Kustomization is applied.",
        ),
        optional(
            "retryInterval",
            Shape::Duration,
            DURATION,
            "Flux: `interval`",
            "Interval after a failed apply.",
        ),
        optional(
            "kubeConfig",
            Shape::Object,
            "object",
            "",
            "Apply to another cluster.",
        ),
        required(
            "path",
            Shape::String,
            "string",
            "the directory in the source to apply, relative (e.g. clusters/production)",
        ),
        optional(
            "postBuild",
            Shape::Object,
            "object",
            "",
            "Variable substitution after kustomize build.",
        ),
        optional(
            "prune",
            Shape::Bool,
            "boolean",
            "`false`",
            "Deletes objects removed from the source.",
        ),
        optional(
            "deletionPolicy",
            Shape::OneOf(&["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]),
            "string",
            "Flux: `MirrorPrune`",
            "What deleting the Kustomization does to its objects.",
        ),
        optional(
            "healthChecks",
            Shape::List,
            "list of objects",
            "",
            "Objects that must become ready.",
        ),
        optional(
            "healthCheckExprs",
            Shape::List,
            "list of objects",
            "",
            "CEL health checks of custom resources.",
        ),
        optional(
            "namePrefix",
            Shape::String,
            "string",
            "",
            "Prefix of every object name.",
        ),
        optional(
            "nameSuffix",
            Shape::String,
            "string",
            "",
            "Suffix of every object name.",
        ),
        optional(
            "patches",
            Shape::List,
            "list of objects",
            "",
            "Strategic merge and JSON 6902 patches.",
        ),
        optional(
            "images",
            Shape::List,
            "list of objects",
            "",
            "Image overrides.",
        ),
        optional(
            "serviceAccountName",
            Shape::String,
            "string",
            "",
            "Service account to impersonate.",
        ),
        optional(
            "sourceRef",
            Shape::Object,
            "object",
            "the source above",
            "The source to apply; if set it must name the source of this config.",
        ),
        optional(
            "suspend",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Stops reconciliation.",
        ),
        optional(
            "targetNamespace",
            Shape::String,
            "string",
            "",
            "Namespace for the applied objects (a DNS label).",
        ),
        optional(
            "timeout",
            Shape::Duration,
            DURATION,
            "Flux: `interval`",
            "Timeout of apply and health checks.",
        ),
        optional(
            "force",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Recreates objects whose immutable fields changed.",
        ),
        optional(
            "wait",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Waits for every applied object to become ready.",
        ),
        optional(
            "components",
            Shape::List,
            "list of strings",
            "",
            "Kustomize components to include.",
        ),
        optional(
            "commonMetadata",
            Shape::Object,
            "object",
            "",
            "Labels and annotations for every applied object.",
        ),
        optional(
            "ignoreMissingComponents",
            Shape::Bool,
            "boolean",
            "Flux: `false`",
            "Skips components that do not exist.",
        ),
    ],
};

pub static SOURCE_REF: ObjectDoc = ObjectDoc {
    title: "sourceRef",
    path: "providerConfig.kustomization.template.spec.sourceRef",
    summary: "Each field left out is taken from the source of this config; fields that are set must match it.",
    fields: &[
        optional(
            "apiVersion",
            Shape::String,
            "string",
            "",
            "`source.toolkit.fluxcd.io/v1`.",
        ),
        optional(
            "kind",
            Shape::OneOf(SOURCE_REF_KINDS),
            "string",
            "the source's kind",
            "Kind of the source.",
        ),
        optional(
            "name",
            Shape::String,
            "string",
            "the source's name",
            "Name of the source.",
        ),
        optional(
            "namespace",
            Shape::String,
            "string",
            "the source's namespace",
            "Namespace of the source.",
        ),
    ],
};

pub static POST_BUILD: ObjectDoc = ObjectDoc {
    title: "postBuild",
    path: "providerConfig.kustomization.template.spec.postBuild",
    summary: "Variable substitution (`${VAR}`) in the built manifests.",
    fields: &[
        optional(
            "substitute",
            Shape::StringMap,
            "map of strings",
            "",
            "Variables and their values.",
        ),
        optional(
            "substituteFrom",
            Shape::List,
            "list of objects",
            "",
            "ConfigMaps and Secrets whose data are variables.",
        ),
    ],
};

pub static SUBSTITUTE_FROM: ObjectDoc = ObjectDoc {
    title: "substituteFrom entry",
    path: "providerConfig.kustomization.template.spec.postBuild.substituteFrom[]",
    summary: "A ConfigMap or Secret in the Kustomization's namespace.",
    fields: &[
        required(
            "kind",
            Shape::OneOf(&["ConfigMap", "Secret"]),
            "string",
            "ConfigMap or Secret",
        ),
        required("name", Shape::String, "string", "the object's name"),
        optional(
            "optional",
            Shape::Bool,
            "boolean",
            "`false`",
            "Tolerates a missing object.",
        ),
    ],
};

pub static ADDITIONAL_SECRET_RESOURCE: ObjectDoc = ObjectDoc {
    title: "additionalSecretResources entry",
    path: "providerConfig.additionalSecretResources[]",
    summary: "A Secret of `Shoot.spec.resources` copied into the Flux namespace of the shoot, with its type and data and the label `app.kubernetes.io/managed-by: gardener-extension-shoot-flux`. When its seed copy `ref-<resourceRef.name>` carries the annotation `gardener-extension-shoot-flux/copy-labels: \"true\"` (as in the stackit extension; also for the `source.secretResourceName` Secret), all labels of the seed copy are copied too and win over `managed-by`. Gardener v1.119 and newer drop the garden Secret's labels and annotations when copying it into the seed, so there the annotation and labels must be set on the seed copy.",
    fields: &[
        required(
            "name",
            Shape::String,
            "string",
            "the `name` of a Secret entry of Shoot.spec.resources",
        ),
        optional(
            "targetName",
            Shape::String,
            "string",
            "the resource's `resourceRef.name`",
            "Name of the Secret in the shoot (a DNS-1123 subdomain); names in the shoot must be unique.",
        ),
    ],
};

/// Every object of the API, in the order of the reference.
pub static OBJECTS: &[&ObjectDoc] = &[
    &FLUX_CONFIG,
    &FLUX,
    &SOURCE,
    &SOURCE_TEMPLATE,
    &METADATA,
    &GIT_REPOSITORY_SPEC,
    &GIT_REPOSITORY_REF,
    &OCI_REPOSITORY_SPEC,
    &OCI_REPOSITORY_REF,
    &SECRET_REF,
    &KUSTOMIZATION,
    &KUSTOMIZATION_TEMPLATE,
    &KUSTOMIZATION_SPEC,
    &SOURCE_REF,
    &POST_BUILD,
    &SUBSTITUTE_FROM,
    &ADDITIONAL_SECRET_RESOURCE,
];

/// A Shoot with a providerConfig, shown in the reference and decoded by its test.
pub const EXAMPLE_SHOOT: &str = "\
apiVersion: core.gardener.cloud/v1beta1
kind: Shoot
metadata:
  name: fleet-01
  namespace: garden-team
spec:
  resources:
  - name: git-credentials          # referenced by source.secretResourceName
    resourceRef:
      apiVersion: v1
      kind: Secret
      name: fleet-git-credentials  # a Secret in the project namespace
  - name: vault-token
    resourceRef:
      apiVersion: v1
      kind: Secret
      name: vault-token
  extensions:
  - type: shoot-flux
    providerConfig:
      apiVersion: flux.extensions.gardener.cloud/v1alpha1
      kind: FluxConfig
      flux:
        version: v2.6.4
        componentsExtra: [image-reflector-controller, image-automation-controller]
      source:
        template:
          apiVersion: source.toolkit.fluxcd.io/v1
          kind: GitRepository
          spec:
            url: https://git.example.com/team/fleet.git
            ref:
              branch: main
        secretResourceName: git-credentials
      kustomization:
        template:
          apiVersion: kustomize.toolkit.fluxcd.io/v1
          kind: Kustomization
          spec:
            path: clusters/fleet-01
            prune: true
      additionalSecretResources:
      - name: vault-token
        targetName: vault
";

/// Escapes what would end a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn type_cell(field: &FieldDoc) -> String {
    match field.shape {
        Shape::OneOf(values) => {
            let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            format!("{}: {}", field.type_text, quoted.join(", "))
        }
        _ => field.type_text.to_string(),
    }
}

/// Descriptions of required fields are also message fragments ("required: the Git URL ...");
/// the table shows them as sentences.
fn description_cell(field: &FieldDoc) -> String {
    let mut chars = field.description.chars();
    let mut sentence: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    cell(&sentence)
}

fn default_cell(field: &FieldDoc) -> String {
    if field.required {
        "**required**".to_string()
    } else if field.default_text.is_empty() {
        "–".to_string()
    } else {
        field.default_text.to_string()
    }
}

/// Renders docs/api-reference.md from the tables.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "# shoot-flux providerConfig reference (`{API_VERSION}`)"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "<!-- Generated from crates/core/src/api/v1alpha1/reference.rs; do not edit. \
         Regenerate with: SHOOT_FLUX_UPDATE_DOCS=1 cargo test -p shoot-flux-core --lib api:: -->"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "A Shoot configures Flux in the `providerConfig` of its `shoot-flux` extension: a \
         `{KIND}` of `{API_VERSION}`, field-compatible with the stackit extension. Every \
         problem is reported at once on the Extension, each with its path under \
         `providerConfig` (e.g. `providerConfig.source.template.spec.ref`). Unknown fields are \
         errors, also inside the Flux objects."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "## Example");
    let _ = writeln!(out);
    let _ = writeln!(out, "```yaml");
    out.push_str(EXAMPLE_SHOOT);
    let _ = writeln!(out, "```");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Without `source` and `kustomization` the shoot gets Flux only (or the repository of \
         the project's flux-config ConfigMap)."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "## Merging with the project and operator configuration"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "`flux.*` fields override the project's flux-config ConfigMap and the operator \
         defaults field by field; `source` and `kustomization` replace the ConfigMap's objects \
         whole, names included."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "## Defaults");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "The source object gets, where the template leaves them out:"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "- `apiVersion: {SOURCE_API_VERSION}`");
    let _ = writeln!(out, "- `metadata.name: flux-system`");
    let _ = writeln!(out, "- `metadata.namespace`: the Flux namespace");
    let _ = writeln!(out, "- `spec.interval: 1m`");
    let _ = writeln!(
        out,
        "- `spec.secretRef.name: flux-system` when `source.secretResourceName` is set"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "The Kustomization gets, where the template leaves them out:"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- `apiVersion: {KUSTOMIZATION_API_VERSION}`, `kind: Kustomization`"
    );
    let _ = writeln!(out, "- `metadata.name: flux-system`");
    let _ = writeln!(out, "- `metadata.namespace`: the Flux namespace");
    let _ = writeln!(out, "- `spec.interval: 1m`, `spec.prune: false`");
    let _ = writeln!(
        out,
        "- `spec.sourceRef.kind`, `.name` and `.namespace`: those of the source"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "## managementMode and deletionPolicy");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Each is decided on its own: a field that is set wins. Otherwise a config with \
         `source` or `kustomization` gets `Bootstrap` and `Orphan` (stackit's behaviour: Flux \
         takes over its own objects and stays when the extension is removed), and every other \
         config gets `Managed` and `Delete`."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "## Fields");
    for object in OBJECTS {
        let _ = writeln!(out);
        let _ = writeln!(out, "### {}", object.title);
        let _ = writeln!(out);
        let _ = writeln!(out, "`{}`: {}", object.path, object.summary);
        let _ = writeln!(out);
        let _ = writeln!(out, "| Field | Type | Default | Description |");
        let _ = writeln!(out, "|---|---|---|---|");
        for field in object.fields {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                field.name,
                cell(&type_cell(field)),
                cell(&default_cell(field)),
                description_cell(field),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::api::v1alpha1::{ShootResource, decode};

    fn docs_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/api-reference.md")
    }

    #[test]
    fn docs_api_reference_is_up_to_date() {
        let rendered = reference_markdown();
        let path = docs_path();
        if std::env::var_os("SHOOT_FLUX_UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &rendered).unwrap();
            return;
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == rendered,
            "docs/api-reference.md differs from reference_markdown(); regenerate it with \
             `SHOOT_FLUX_UPDATE_DOCS=1 cargo test -p shoot-flux-core --lib api::`"
        );
    }

    #[test]
    fn every_object_has_unique_described_fields() {
        for object in OBJECTS {
            let mut names: Vec<&str> = object.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), object.fields.len(), "{}", object.title);
            for field in object.fields {
                assert!(
                    !field.description.is_empty(),
                    "{}.{}",
                    object.title,
                    field.name
                );
                assert!(!field.description.contains('\n'), "{}", field.name);
                assert!(
                    !field.required || field.default_text.is_empty(),
                    "{}.{} is required and has a default",
                    object.title,
                    field.name
                );
            }
        }
    }

    #[test]
    fn reference_has_a_table_per_object_and_the_rules() {
        let markdown = reference_markdown();
        for object in OBJECTS {
            assert!(markdown.contains(&format!("### {}\n", object.title)));
            for field in object.fields {
                assert!(markdown.contains(&format!("| `{}` |", field.name)));
            }
        }
        assert!(markdown.contains("replace the ConfigMap's objects whole, names included"));
        assert!(markdown.contains("`Bootstrap` and `Orphan`"));
        assert!(markdown.contains("| `managementMode` | string: `Managed`, `Bootstrap` |"));
    }

    #[test]
    fn the_example_shoot_decodes() {
        let shoot: serde_json::Value = serde_saphyr::from_str(EXAMPLE_SHOOT).unwrap();
        let resources: Vec<ShootResource> = shoot["spec"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| ShootResource {
                name: r["name"].as_str().unwrap().into(),
                api_version: r["resourceRef"]["apiVersion"].as_str().unwrap().into(),
                kind: r["resourceRef"]["kind"].as_str().unwrap().into(),
                resource_name: r["resourceRef"]["name"].as_str().unwrap().into(),
            })
            .collect();
        let config = decode(
            Some(&shoot["spec"]["extensions"][0]["providerConfig"]),
            &resources,
        )
        .unwrap();
        assert!(config.source.is_some());
        assert_eq!(config.additional_secret_resources.len(), 1);
    }
}
