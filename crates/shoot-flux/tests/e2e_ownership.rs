//! shoot-flux's own read access to the shoot (token requestor, least-privilege RBAC through a
//! ManagedResource) and what it is first used for: in Managed mode, a repository that also
//! carries Flux's own components is detected from the Deployments' field managers and reported
//! as the Extension condition `FluxComponentsOwnership`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use testbed::gardenlet;
use testbed::kubeutil::wait_for;

use common::*;

const MARKER: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fleet-marker\n  namespace: flux-system\ndata:\n  owner: fleet\n";

async fn wait_ownership(bed: &testbed::Bed, ns: &str, status: &str, fragment: &str) -> Value {
    let api = extension_api(bed, ns).await;
    wait_for(
        &format!("FluxComponentsOwnership {status} with {fragment:?}"),
        Duration::from_secs(120),
        || async {
            let ext = serde_json::to_value(api.get("shoot-flux").await?)?;
            match condition(&ext, "FluxComponentsOwnership") {
                Some(c)
                    if c["status"] == status
                        && c["message"].as_str().unwrap_or_default().contains(fragment) =>
                {
                    Ok(Some(c.clone()))
                }
                other => anyhow::bail!("condition {other:?}"),
            }
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn least_privilege_shoot_access_finds_a_repository_that_also_carries_flux() {
    let _serial = common::SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    let first_commit = git.create_repository(
        "owners-fleet",
        &[
            ("marker.yaml", MARKER),
            (
                "kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- marker.yaml\n",
            ),
        ],
    )
    .unwrap();
    let mut spec = spec("owners", "app");
    spec.provider_config = Some(json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
        "flux": {"version": versions.flux},
        "managementMode": "Managed",
        "source": {"template": {"kind": "GitRepository",
            "spec": {"url": git.http_url("owners-fleet"), "ref": {"branch": "main"}, "interval": "10s"}}},
        "kustomization": {"template": {"spec": {"path": "./", "prune": true, "interval": "10s"}}}
    }));
    let ns = spec.technical_id();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    let _extension = start_extension(bed, &["--healthcheck-sync-period=3s"]).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    let target = shoot.client().await.unwrap();

    // The token requestor serves the access Secret; the ServiceAccount and its read-only RBAC
    // are in the shoot.
    let seed_secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), &ns);
    let token = wait_for(
        "a token in the access Secret",
        Duration::from_secs(60),
        || async {
            Ok(seed_secrets
                .get_opt("shoot-access-extension-shoot-flux")
                .await?
                .and_then(|s| s.data)
                .and_then(|d| {
                    d.get("token")
                        .map(|t| String::from_utf8(t.0.clone()).unwrap())
                }))
        },
    )
    .await
    .unwrap();
    assert!(
        Api::<ServiceAccount>::namespaced(target.clone(), "kube-system")
            .get_opt("extension-shoot-flux")
            .await
            .unwrap()
            .is_some()
    );
    wait_for(
        "the read-only ClusterRole",
        Duration::from_secs(60),
        || async {
            Ok(Api::<ClusterRole>::all(target.clone())
                .get_opt("gardener.cloud:extension-shoot-flux:read")
                .await?)
        },
    )
    .await
    .unwrap();
    // Least privilege: with that token, Secrets of the shoot are not readable.
    let kubeconfig = testbed::apiserver::render_kubeconfig(
        "limited",
        &shoot.api().url(),
        shoot.api().ca_pem(),
        &token,
    );
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let limited = kube::Client::try_from(config).unwrap();
    let denied = Api::<Secret>::namespaced(limited.clone(), "flux-system")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("forbidden"), "{denied}");

    // One owner while the repository holds only workloads.
    wait_ownership(bed, &ns, "True", "alone").await;

    // The Extension says that the shoot synced, and at which revision.
    let extensions = extension_api(bed, &ns).await;
    for kind in ["FluxSourceReady", "FluxKustomizationReady"] {
        wait_for(
            &format!("{kind} True at the commit"),
            Duration::from_secs(90),
            || async {
                let ext = serde_json::to_value(extensions.get("shoot-flux").await?)?;
                match condition(&ext, kind) {
                    Some(c)
                        if c["status"] == "True"
                            && c["message"]
                                .as_str()
                                .unwrap_or_default()
                                .contains(&first_commit) =>
                    {
                        Ok(Some(()))
                    }
                    other => anyhow::bail!("{kind}: {other:?}"),
                }
            },
        )
        .await
        .unwrap();
    }

    // The repository gets Flux's own components (as `flux bootstrap` writes them): kustomize-
    // controller now writes Flux's Deployments too, and the Extension says so.
    let install = std::fs::read_to_string(
        testbed::paths::flux_release_dir(&versions.flux)
            .unwrap()
            .join("install.yaml"),
    )
    .unwrap();
    git.commit(
        "owners-fleet",
        "main",
        &[
            ("flux-system/gotk-components.yaml", Some(install.as_str())),
            (
                "kustomization.yaml",
                Some("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- marker.yaml\n- flux-system/gotk-components.yaml\n"),
            ),
        ],
        "add Flux's components",
    )
    .unwrap();
    let c = wait_ownership(bed, &ns, "False", "is also written by kustomize-controller").await;
    println!("FluxComponentsOwnership: {}", c["message"]);
    assert_eq!(c["reason"], "RepositoryAlsoAppliesFluxComponents");
}
