//! What gardenlet creates in the seed for a shoot: the shoot namespace, the `Cluster` with a
//! realistic Shoot, Seed and CloudProfile, the `Extension`, the `ref-<name>` Secrets of
//! `Shoot.spec.resources` (data and Secret type, as gardenlet copies the whole object; labels
//! and annotations not, as gardenlet v1.119 and newer), the `generic-token-kubeconfig` Secret
//! named in the Cluster annotation, and the `gardener`/`gardener-internal` kubeconfig Secrets
//! pointing at the shoot's API server.
//!
//! As in a real landscape, the Shoot lives in its Project's namespace (the Project's
//! `spec.namespace`, which need not be `garden-<project>`), while its technical ID, seed
//! namespace and Cluster name come from the project's name: `shoot--<project>--<name>`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::apiserver::{ApiServer, render_kubeconfig};
use crate::kubeutil::dynamic_api;

pub const EXTENSION_TYPE: &str = "shoot-flux";
const MANAGER: &str = "gardenlet";

/// The facts of one shoot that the bed turns into seed objects.
#[derive(Debug, Clone)]
pub struct ShootSpec {
    pub project: String,
    /// The Project's `spec.namespace`, where the Shoot is; None: `garden-<project>`.
    pub project_namespace: Option<String>,
    pub name: String,
    pub purpose: String,
    pub kubernetes_version: String,
    pub region: String,
    pub provider_type: String,
    pub workers: bool,
    pub hibernated: bool,
    pub deleting: bool,
    pub last_operation: Option<(String, String)>,
    pub domain: Option<String>,
    pub provider_config: Option<Value>,
    /// `Shoot.spec.resources`: (entry name, Secret data); the Secret is `<name>-source` in the
    /// project and its seed copy `ref-<name>-source`.
    pub resources: Vec<(String, BTreeMap<String, String>)>,
    /// The Secret type of a `resources` entry, by entry name (e.g.
    /// `kubernetes.io/dockerconfigjson`); gardenlet copies the type with the data. Absent:
    /// `Opaque`.
    pub resource_types: BTreeMap<String, String>,
    pub seed_name: String,
}

impl ShootSpec {
    pub fn new(project: &str, name: &str) -> Self {
        Self {
            project: project.into(),
            project_namespace: None,
            name: name.into(),
            purpose: "evaluation".into(),
            kubernetes_version: "1.36.3".into(),
            region: "eu-de-1".into(),
            provider_type: "local".into(),
            workers: true,
            hibernated: false,
            deleting: false,
            last_operation: Some(("Reconcile".into(), "Succeeded".into())),
            domain: Some(format!("{name}.{project}.shoot.local.gardener.cloud")),
            provider_config: None,
            resources: Vec::new(),
            resource_types: BTreeMap::new(),
            seed_name: "local".into(),
        }
    }

    /// The shoot's namespace in the seed and name of its Cluster: `shoot--<project>--<name>`.
    pub fn technical_id(&self) -> String {
        format!("shoot--{}--{}", self.project, self.name)
    }

    /// The Shoot's namespace in the garden: the Project's `spec.namespace`.
    pub fn project_namespace(&self) -> String {
        self.project_namespace
            .clone()
            .unwrap_or_else(|| format!("garden-{}", self.project))
    }

    /// A `core.gardener.cloud/v1beta1` Shoot as a real landscape stores it in the Cluster.
    pub fn shoot_json(&self) -> Value {
        let workers = if self.workers {
            json!([{
                "name": "worker-a",
                "machine": {"type": "m5.large", "image": {"name": "gardenlinux", "version": "1877.3.0"}, "architecture": "amd64"},
                "minimum": 1, "maximum": 3, "maxSurge": 1, "maxUnavailable": 0,
                "volume": {"type": "gp3", "size": "50Gi"},
                "zones": [format!("{}a", self.region)],
                "cri": {"name": "containerd"},
                "systemComponents": {"allow": true}
            }])
        } else {
            json!([])
        };
        let mut shoot = json!({
            "apiVersion": "core.gardener.cloud/v1beta1",
            "kind": "Shoot",
            "metadata": {
                "name": self.name,
                "namespace": self.project_namespace(),
                "uid": format!("00000000-0000-4000-8000-{:012x}", fnv(&self.technical_id())),
                "generation": 1,
                "labels": {"shoot.gardener.cloud/status": "healthy"},
                "annotations": {"gardener.cloud/created-by": "dev@example.com"}
            },
            "spec": {
                "cloudProfile": {"kind": "CloudProfile", "name": "local"},
                "cloudProfileName": "local",
                "kubernetes": {"version": self.kubernetes_version, "kubeAPIServer": {"enableAnonymousAuthentication": false}},
                "networking": {"type": "calico", "pods": "10.3.0.0/16", "services": "10.4.0.0/16", "nodes": "10.10.0.0/16", "ipFamilies": ["IPv4"]},
                "provider": {"type": self.provider_type, "workers": workers},
                "purpose": self.purpose,
                "region": self.region,
                "secretBindingName": "local",
                "seedName": self.seed_name,
                "extensions": [{"type": EXTENSION_TYPE}],
                "resources": self.resources.iter().map(|(n, _)| json!({
                    "name": n, "resourceRef": {"apiVersion": "v1", "kind": "Secret", "name": format!("{n}-source")}
                })).collect::<Vec<_>>(),
                "hibernation": {"enabled": self.hibernated},
                "maintenance": {"autoUpdate": {"kubernetesVersion": true, "machineImageVersion": true},
                                "timeWindow": {"begin": "220000+0100", "end": "230000+0100"}}
            },
            "status": {
                "technicalID": self.technical_id(),
                "uid": format!("00000000-0000-4000-8000-{:012x}", fnv(&self.technical_id())),
                "clusterIdentity": format!("{}-{}", self.technical_id(), "garden-local"),
                "hibernated": self.hibernated,
                "seedName": self.seed_name,
                "gardener": {"id": "gardenlet-local", "name": "gardenlet", "version": "v1.149.3"},
                "observedGeneration": 1,
                "conditions": []
            }
        });
        if let Some(domain) = &self.domain {
            shoot["spec"]["dns"] = json!({"domain": domain});
        }
        if let Some(config) = &self.provider_config {
            shoot["spec"]["extensions"][0]["providerConfig"] = config.clone();
        }
        if let Some((kind, state)) = &self.last_operation {
            shoot["status"]["lastOperation"] = json!({
                "type": kind, "state": state, "progress": 100,
                "description": "Shoot cluster has been successfully reconciled.",
                "lastUpdateTime": "2026-11-25T00:00:00Z"
            });
        }
        if self.deleting {
            shoot["metadata"]["deletionTimestamp"] = json!("2026-11-25T00:00:00Z");
        }
        shoot
    }

    pub fn seed_json(&self) -> Value {
        json!({
            "apiVersion": "core.gardener.cloud/v1beta1",
            "kind": "Seed",
            "metadata": {"name": self.seed_name, "labels": {"seed.gardener.cloud/gardenlet": "local"}},
            "spec": {
                "provider": {"type": self.provider_type, "region": self.region, "zones": ["a", "b", "c"]},
                "ingress": {"domain": "ingress.local.seed.local.gardener.cloud", "controller": {"kind": "nginx"}},
                "dns": {"provider": {"type": "local", "secretRef": {"name": "dns", "namespace": "garden"}}},
                "networks": {"pods": "10.1.0.0/16", "services": "10.2.0.0/16", "nodes": "172.18.0.0/16",
                             "shootDefaults": {"pods": "10.3.0.0/16", "services": "10.4.0.0/16"}},
                "settings": {"scheduling": {"visible": true}, "verticalPodAutoscaler": {"enabled": true}}
            },
            "status": {"clusterIdentity": "seed-local", "kubernetesVersion": "1.36.3"}
        })
    }

    pub fn cloud_profile_json(&self) -> Value {
        json!({
            "apiVersion": "core.gardener.cloud/v1beta1",
            "kind": "CloudProfile",
            "metadata": {"name": "local"},
            "spec": {
                "type": self.provider_type,
                "kubernetes": {"versions": [{"version": "1.36.3"}, {"version": "1.35.4"}, {"version": "1.34.4", "classification": "deprecated"}]},
                "machineImages": [{"name": "gardenlinux", "versions": [{"version": "1877.3.0", "cri": [{"name": "containerd"}], "architectures": ["amd64", "arm64"]}]}],
                "machineTypes": [{"name": "m5.large", "cpu": "2", "gpu": "0", "memory": "8Gi", "usable": true, "architecture": "amd64"}],
                "regions": [{"name": self.region, "zones": [{"name": format!("{}a", self.region)}]}]
            }
        })
    }
}

/// A CloudProfile the size of a real provider's (about 150 KiB as JSON): hundreds of machine
/// types, machine images with many versions and their expiration dates, dozens of Kubernetes
/// versions, regions with zones and labels, volume types and a provider config, as large public
/// landscapes have them. Deterministic; `spec` gives the type and a region that exists.
pub fn landscape_cloud_profile_json(spec: &ShootSpec) -> Value {
    let families = [
        ("m5", "general"),
        ("m6i", "general"),
        ("m7i", "general"),
        ("c5", "compute"),
        ("c6i", "compute"),
        ("r5", "memory"),
        ("r6i", "memory"),
        ("g5", "gpu"),
        ("i4i", "storage"),
        ("t3", "burstable"),
        ("x2idn", "memory"),
        ("p4d", "gpu"),
    ];
    let sizes = [
        ("large", 2),
        ("xlarge", 4),
        ("2xlarge", 8),
        ("4xlarge", 16),
        ("8xlarge", 32),
        ("12xlarge", 48),
        ("16xlarge", 64),
        ("24xlarge", 96),
    ];
    let mut machine_types = Vec::new();
    for (family, class) in families {
        for (size, cpu) in sizes {
            for arch in ["amd64", "arm64"] {
                let memory = match class {
                    "memory" => cpu * 8,
                    "compute" => cpu * 2,
                    _ => cpu * 4,
                };
                let name = if arch == "arm64" {
                    format!("{family}g.{size}")
                } else {
                    format!("{family}.{size}")
                };
                machine_types.push(json!({
                    "name": name, "cpu": cpu.to_string(),
                    "gpu": if class == "gpu" { (cpu / 8).max(1) } else { 0 }.to_string(),
                    "memory": format!("{memory}Gi"), "usable": true, "architecture": arch,
                    "storage": {"class": "standard", "type": "gp3", "size": "50Gi"},
                    "capabilities": {"architecture": [arch], "hypervisorType": ["nitro"]}
                }));
            }
        }
    }
    let mut machine_images = Vec::new();
    for (name, majors) in [
        ("gardenlinux", 1700..1900),
        ("suse-chost", 15..45),
        ("ubuntu", 18..48),
        ("flatcar", 3000..3060),
    ] {
        let versions: Vec<Value> = majors
            .step_by(2)
            .flat_map(|major| {
                (0..3).map(move |patch| {
                    json!({
                        "version": format!("{major}.{patch}.0"),
                        "classification": if patch == 2 { "supported" } else { "deprecated" },
                        "expirationDate": format!("2027-{:02}-01T00:00:00Z", 1 + (major + patch) % 12),
                        "cri": [{"name": "containerd", "containerRuntimes": [{"type": "gvisor"}]}],
                        "architectures": ["amd64", "arm64"],
                        "kubeletVersionConstraint": ">= 1.30",
                        "inPlaceUpdates": {"supported": false}
                    })
                })
            })
            .collect();
        machine_images.push(json!({"name": name, "updateStrategy": "minor", "versions": versions}));
    }
    let kubernetes: Vec<Value> = (28..=36)
        .flat_map(|minor| {
            (0..5).map(move |patch| {
                json!({
                    "version": format!("1.{minor}.{patch}"),
                    "classification": if minor >= 34 { "supported" } else { "deprecated" },
                    "expirationDate": format!("2027-{:02}-15T00:00:00Z", 1 + (minor + patch) % 12)
                })
            })
        })
        .collect();
    let mut regions = vec![json!({
        "name": spec.region,
        "zones": [{"name": format!("{}a", spec.region)}, {"name": format!("{}b", spec.region)}],
        "labels": {"topology.kubernetes.io/region": spec.region}
    })];
    for geo in ["eu", "us", "ap", "sa", "ca", "me"] {
        for side in ["north", "south", "east", "west", "central"] {
            for n in 1..=2 {
                let region = format!("{geo}-{side}-{n}");
                let zones: Vec<Value> = ["a", "b", "c"]
                    .iter()
                    .map(|z| json!({"name": format!("{region}{z}")}))
                    .collect();
                regions.push(json!({
                    "name": region,
                    "zones": zones,
                    "labels": {"topology.kubernetes.io/region": region, "seed.gardener.cloud/eu-access": (geo == "eu").to_string()},
                    "accessRestrictions": if geo == "eu" { json!([{"name": "eu-access-only"}]) } else { json!([]) }
                }));
            }
        }
    }
    let image_regions: Vec<Value> = machine_images
        .iter()
        .flat_map(|image| {
            let name = image["name"].as_str().unwrap_or_default().to_string();
            let versions = image["versions"].as_array().cloned().unwrap_or_default();
            versions.into_iter().take(12).map(move |v| {
                json!({
                    "name": name, "version": v["version"],
                    "regions": [{"name": "eu-central-1", "ami": format!("ami-{:017x}", fnv(&format!("{name}{}", v["version"]))), "architecture": "amd64"}]
                })
            })
        })
        .collect();
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1",
        "kind": "CloudProfile",
        "metadata": {
            "name": "local",
            "labels": {"provider.extensions.gardener.cloud/type": spec.provider_type},
            "annotations": {"cloudprofile.gardener.cloud/owner": "landscape-operators"}
        },
        "spec": {
            "type": spec.provider_type,
            "kubernetes": {"versions": kubernetes},
            "machineImages": machine_images,
            "machineTypes": machine_types,
            "regions": regions,
            "volumeTypes": [
                {"name": "gp2", "class": "standard", "usable": true},
                {"name": "gp3", "class": "standard", "usable": true, "minSize": "20Gi"},
                {"name": "io1", "class": "premium", "usable": true, "minSize": "20Gi"}
            ],
            "bastion": {"machineType": {"name": "t3.large"}, "machineImage": {"name": "gardenlinux"}},
            "limits": {"maxNodesTotal": 1000},
            "providerConfig": {
                "apiVersion": "aws.provider.extensions.gardener.cloud/v1alpha1",
                "kind": "CloudProfileConfig",
                "machineImages": image_regions
            }
        }
    })
}

/// A stable, short hash for deterministic UIDs and secret names.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) & 0xffff_ffff_ffff
}

fn secret(name: &str, namespace: &str, data: &BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

async fn apply<K>(api: &Api<K>, name: &str, object: &K) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| format!("applying {name}"))?;
    Ok(())
}

/// Creates or updates everything gardenlet keeps in the seed for `spec`, except the Extension.
/// `shoot_api` is the shoot's API server (None for a shoot without one, e.g. hibernated).
pub async fn apply_shoot_objects(
    seed: &Client,
    spec: &ShootSpec,
    shoot_api: Option<&ApiServer>,
) -> Result<()> {
    apply_shoot_objects_with_cloud_profile(seed, spec, shoot_api, &spec.cloud_profile_json()).await
}

/// Like `apply_shoot_objects`, with the given CloudProfile in the Cluster (e.g.
/// `landscape_cloud_profile_json`, the size of a real provider's).
pub async fn apply_shoot_objects_with_cloud_profile(
    seed: &Client,
    spec: &ShootSpec,
    shoot_api: Option<&ApiServer>,
    cloud_profile: &Value,
) -> Result<()> {
    let ns = spec.technical_id();
    let namespace = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(BTreeMap::from([
                ("gardener.cloud/role".into(), "shoot".into()),
                (
                    "shoot.gardener.cloud/provider".into(),
                    spec.provider_type.clone(),
                ),
                ("project.gardener.cloud/name".into(), spec.project.clone()),
            ])),
            ..Default::default()
        },
        ..Default::default()
    };
    apply(&Api::<Namespace>::all(seed.clone()), &ns, &namespace).await?;

    let secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
    let generic_name = format!("generic-token-kubeconfig-{:08x}", fnv(&ns) & 0xffff_ffff);
    if let Some(api) = shoot_api {
        let generic = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {ns}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: extension\n  user:\n    tokenFile: /var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/token\ncontexts:\n- name: {ns}\n  context:\n    cluster: {ns}\n    user: extension\ncurrent-context: {ns}\n",
            api.url(),
            base64::engine::general_purpose::STANDARD.encode(api.ca_pem())
        );
        let mut s = secret(
            &generic_name,
            &ns,
            &BTreeMap::from([("kubeconfig".into(), generic)]),
        );
        s.immutable = Some(true);
        if secrets.get_opt(&generic_name).await?.is_none() {
            secrets.create(&Default::default(), &s).await?;
        }
        let admin = render_kubeconfig(&ns, &api.url(), api.ca_pem(), api.admin_token());
        for name in ["gardener", "gardener-internal"] {
            let s = secret(
                name,
                &ns,
                &BTreeMap::from([("kubeconfig".into(), admin.clone())]),
            );
            apply(&secrets, name, &s).await?;
        }
    }
    for (name, data) in &spec.resources {
        // gardenlet names the copy after the referenced object (`resourceRef.name`), not after
        // the entry; the bed's objects are `<entry>-source` so that the two differ.
        let ref_name = format!("ref-{name}-source");
        let mut copy = secret(&ref_name, &ns, data);
        if let Some(type_) = spec.resource_types.get(name) {
            copy.type_ = Some(type_.clone());
        }
        apply(&secrets, &ref_name, &copy).await?;
    }

    let clusters = dynamic_api(seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None).await?;
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1",
        "kind": "Cluster",
        "metadata": {
            "name": ns,
            "annotations": {"generic-token-kubeconfig.secret.gardener.cloud/name": generic_name}
        },
        "spec": {
            "cloudProfile": cloud_profile,
            "seed": spec.seed_json(),
            "shoot": spec.shoot_json()
        }
    }))?;
    apply(&clusters, &ns, &cluster).await?;
    Ok(())
}

/// Creates or updates the shoot's `Extension` of type shoot-flux, annotated for reconciliation
/// with a fresh `gardener.cloud/timestamp`, as gardenlet deploys it.
pub async fn apply_extension(seed: &Client, spec: &ShootSpec) -> Result<DynamicObject> {
    let ns = spec.technical_id();
    let api = dynamic_api(
        seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        Some(&ns),
    )
    .await?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut extension = json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1",
        "kind": "Extension",
        "metadata": {
            "name": EXTENSION_TYPE,
            "namespace": ns,
            "annotations": {"gardener.cloud/operation": "reconcile", "gardener.cloud/timestamp": now}
        },
        "spec": {"type": EXTENSION_TYPE}
    });
    if let Some(config) = &spec.provider_config {
        extension["spec"]["providerConfig"] = config.clone();
    }
    let object: DynamicObject = serde_json::from_value(extension)?;
    Ok(api
        .patch(
            EXTENSION_TYPE,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await?)
}
