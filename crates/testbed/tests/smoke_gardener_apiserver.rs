//! gardener-apiserver is real: served through the garden as an aggregated API, it validates and
//! admits with Gardener's own code. The repository's ControllerRegistration and
//! ControllerDeployment are accepted (and a broken copy is refused), and a Shoot that enables
//! shoot-flux is refused by Gardener's ExtensionValidator while no ControllerRegistration for the
//! type exists, and accepted (and labelled by ExtensionLabels) once it does. Authentication and
//! authorization of requests that reach gardener-apiserver are the garden's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::{Client, Error};
use serde_json::{Value, json};
use testbed::kubeutil::{apply_documents, dynamic_api, parse_documents, wait_for};

const MANAGER: &str = "smoke-gardener-apiserver";
const PROJECT_NAMESPACE: &str = "garden-dev";

/// What a Shoot with workers needs in a garden besides itself (the project, a CloudProfile,
/// credentials and their binding, and the registrations of the extension types the Shoot names,
/// which Gardener's ExtensionValidator checks as it checks shoot-flux).
fn garden_basics() -> Vec<Value> {
    testbed::admission::project_objects("dev", PROJECT_NAMESPACE).unwrap()
}

/// A Shoot with one worker pool that enables `extensions`.
fn shoot(name: &str, extensions: Value) -> DynamicObject {
    serde_json::from_value(testbed::admission::shoot(
        PROJECT_NAMESPACE,
        name,
        json!({"extensions": extensions}),
    ))
    .unwrap()
}

fn example(file: &str) -> std::path::PathBuf {
    testbed::paths::repo_root().join("example").join(file)
}

fn example_registration() -> Vec<Value> {
    parse_documents(&std::fs::read_to_string(example("controller-registration.yaml")).unwrap())
        .unwrap()
}

/// `kubectl apply -f example/<file>` against `api` with `extra` arguments: its stdout, after
/// asserting success and that the server sent no warning.
fn kubectl_apply(api: &testbed::apiserver::ApiServer, file: &str, extra: &[&str]) -> String {
    let applied = std::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", api.kubeconfig_path().display()))
        .args(["apply", "-f"])
        .arg(example(file))
        .args(extra)
        .output()
        .expect("kubectl (the bed needs it) runs");
    let stdout = String::from_utf8_lossy(&applied.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(
        applied.status.success(),
        "kubectl apply {file}: {stdout}{stderr}"
    );
    assert!(
        !stderr.contains("Warning"),
        "kubectl apply {file} warned: {stderr}"
    );
    stdout
}

async fn shoots(garden: &Client) -> Api<DynamicObject> {
    dynamic_api(
        garden,
        "core.gardener.cloud/v1beta1",
        "Shoot",
        Some(PROJECT_NAMESPACE),
    )
    .await
    .unwrap()
}

/// The refusal of a create, or a panic naming what was created instead.
fn refusal(result: Result<DynamicObject, Error>, what: &str) -> kube::core::Status {
    match result {
        Err(Error::Api(status)) => *status,
        Err(other) => panic!("{what}: expected a refusal by the API, got {other:#}"),
        Ok(created) => panic!("{what}: expected a refusal, but it was created: {created:?}"),
    }
}

#[tokio::test]
async fn gardener_admits_the_registration_and_a_shoot_with_shoot_flux_only_once_registered() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    bed.gardener_apiserver().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    apply_documents(&garden, &garden_basics(), MANAGER)
        .await
        .unwrap();
    let shoots = shoots(&garden).await;
    let with_flux = shoot("app", json!([{"type": "shoot-flux"}]));

    // Without shoot-flux, the Shoot is one a real garden accepts (validated, not created). The
    // admission plugins answer "not yet ready" until their informers have synced.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait_for(
        "a Shoot without shoot-flux to pass a dry run",
        Duration::from_secs(120),
        || async {
            match shoots.create(&dry_run, &shoot("app", json!([]))).await {
                Ok(_) => Ok(Some(())),
                Err(Error::Api(status))
                    if status.message.contains("not yet ready to handle request") =>
                {
                    Ok(None)
                }
                Err(other) => Err(other.into()),
            }
        },
    )
    .await
    .unwrap();

    // No ControllerRegistration for shoot-flux yet: Gardener's ExtensionValidator refuses.
    let status = refusal(
        shoots.create(&PostParams::default(), &with_flux).await,
        "Shoot with shoot-flux before its registration",
    );
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains("non-registered extension type: spec.extensions[0].type (\"shoot-flux\")"),
        "the refusal names the extension type and its field: {}",
        status.message
    );

    // The repository's registration objects pass Gardener's validation...
    let registration = example_registration();
    let kinds: Vec<&str> = registration
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ControllerDeployment", "ControllerRegistration"]);
    // ...which is real: the same registration with an unknown lifecycle step is refused, naming
    // the field.
    let mut broken = registration[1].clone();
    broken["metadata"]["name"] = json!("shoot-flux-broken");
    broken["spec"]["resources"][0]["type"] = json!("shoot-flux-broken");
    broken["spec"]["resources"][0]["lifecycle"]["reconcile"] = json!("Sometime");
    let registrations = dynamic_api(
        &garden,
        "core.gardener.cloud/v1beta1",
        "ControllerRegistration",
        None,
    )
    .await
    .unwrap();
    let status = refusal(
        registrations
            .create(
                &PostParams::default(),
                &serde_json::from_value(broken).unwrap(),
            )
            .await,
        "ControllerRegistration with an unknown lifecycle step",
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("spec.resources[0].lifecycle.reconcile"),
        "{}",
        status.message
    );
    // Applied as an operator would, with kubectl through the garden: created, no warnings.
    let stdout = kubectl_apply(bed.garden(), "controller-registration.yaml", &[]);
    assert!(
        stdout.contains("controllerdeployment.core.gardener.cloud/shoot-flux created")
            && stdout.contains("controllerregistration.core.gardener.cloud/shoot-flux created"),
        "{stdout}"
    );
    // The OCI form of the ControllerDeployment replaces the rawChart one: valid as well.
    let stdout = kubectl_apply(
        bed.garden(),
        "controller-deployment-oci.yaml",
        &["--dry-run=server"],
    );
    assert!(
        stdout.contains("controllerdeployment.core.gardener.cloud/shoot-flux configured"),
        "{stdout}"
    );
    let stored = registrations.get("shoot-flux").await.unwrap();
    assert_eq!(stored.data["spec"]["resources"][0]["type"], "shoot-flux");
    let deployments = dynamic_api(
        &garden,
        "core.gardener.cloud/v1",
        "ControllerDeployment",
        None,
    )
    .await
    .unwrap();
    let deployment = deployments.get("shoot-flux").await.unwrap();
    assert!(
        deployment.data["helm"]["rawChart"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    // Registered: the same Shoot is accepted once the admission plugin's informer has seen the
    // registration (a refusal for the type until then).
    let created = wait_for(
        "the Shoot with shoot-flux to be accepted",
        Duration::from_secs(120),
        || async {
            match shoots.create(&PostParams::default(), &with_flux).await {
                Ok(created) => Ok(Some(created)),
                Err(Error::Api(status))
                    if status.code == 403 && status.message.contains("\"shoot-flux\"") =>
                {
                    Ok(None)
                }
                Err(other) => Err(other.into()),
            }
        },
    )
    .await
    .unwrap();
    // Gardener labels a Shoot with the extensions it uses (the webhook's objectSelector).
    assert_eq!(
        created.metadata.labels.unwrap_or_default()["extensions.extensions.gardener.cloud/shoot-flux"],
        "true"
    );
    // The garden's user reached gardener-apiserver through the aggregator's front-proxy headers.
    assert_eq!(
        created.metadata.annotations.unwrap_or_default()["gardener.cloud/created-by"],
        "testbed-admin"
    );
    let listed = shoots.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn authentication_and_authorization_are_delegated_to_the_garden() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let gardener = bed.gardener_apiserver().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    // A garden ServiceAccount token sent to gardener-apiserver itself: it can only know the
    // identity from the garden's TokenReview and the permission from its SubjectAccessReview.
    let kubeconfig = bed
        .garden()
        .service_account_kubeconfig("default", "project-reader")
        .await
        .unwrap();
    let text = std::fs::read_to_string(&kubeconfig)
        .unwrap()
        .replace(&bed.garden().url(), &gardener.url());
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&text).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let reader = Client::try_from(config).unwrap();
    let project_resource = kube::discovery::ApiResource::from_gvk(
        &kube::core::GroupVersionKind::gvk("core.gardener.cloud", "v1beta1", "Project"),
    );
    let as_reader: Api<DynamicObject> = Api::all_with(reader, &project_resource);

    // A token the garden does not know is not authenticated.
    let stranger = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&testbed::apiserver::render_kubeconfig(
            "gardener-apiserver",
            &gardener.url(),
            bed.garden().ca_pem(),
            "not-a-garden-token",
        ))
        .unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let as_stranger: Api<DynamicObject> =
        Api::all_with(Client::try_from(stranger).unwrap(), &project_resource);
    match as_stranger.list(&ListParams::default()).await {
        Err(Error::Api(status)) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("expected 401 Unauthorized, got {other:?}"),
    }

    let denied = as_reader.list(&ListParams::default()).await.unwrap_err();
    let Error::Api(status) = denied else {
        panic!("expected a refusal, got {denied:#}");
    };
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains("system:serviceaccount:default:project-reader"),
        "the garden's identity: {}",
        status.message
    );

    // Garden RBAC grants it: gardener-apiserver now answers.
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "project-reader"},
        "rules": [{"apiGroups": ["core.gardener.cloud"], "resources": ["projects"], "verbs": ["list"]}],
    }))
    .unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "project-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "project-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "project-reader", "namespace": "default"}],
    }))
    .unwrap();
    Api::<ClusterRole>::all(garden.clone())
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    Api::<ClusterRoleBinding>::all(garden.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    wait_for(
        "gardener-apiserver to let the reader list projects",
        Duration::from_secs(120),
        || async {
            Ok(as_reader
                .list(&ListParams::default())
                .await
                .ok()
                .map(|_| ()))
        },
    )
    .await
    .unwrap();
}
