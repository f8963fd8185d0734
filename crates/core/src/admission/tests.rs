use serde_json::{Value, json};

use super::*;

fn shoot(extensions: Value) -> Value {
    json!({
        "metadata": {"name": "app", "namespace": "garden-dev"},
        "spec": {
            "kubernetes": {"version": "1.35.2"},
            "provider": {"type": "local", "workers": [{"name": "pool"}]},
            "resources": [
                {"name": "creds", "resourceRef": {"apiVersion": "v1", "kind": "Secret", "name": "git-creds"}},
                {"name": "settings", "resourceRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings"}},
            ],
            "extensions": extensions,
        },
    })
}

fn flux(provider_config: Value) -> Value {
    json!([{"type": "dns-service"}, {"type": "shoot-flux", "providerConfig": provider_config}])
}

fn create(object: &Value) -> Verdict {
    review_shoot(&Request {
        operation: Operation::Create,
        object,
        old_object: None,
    })
}

fn update(old: &Value, object: &Value) -> Verdict {
    review_shoot(&Request {
        operation: Operation::Update,
        object,
        old_object: Some(old),
    })
}

fn denied_paths(verdict: &Verdict) -> Vec<String> {
    match verdict {
        Verdict::Denied { errors } => errors.0.iter().map(|e| e.path.clone()).collect(),
        Verdict::Allowed { warnings } => panic!("expected a denial, allowed with {warnings:?}"),
    }
}

fn allowed(warnings: &[&str]) -> Verdict {
    Verdict::Allowed {
        warnings: warnings.iter().map(|w| w.to_string()).collect(),
    }
}

fn git_config(secret: &str) -> Value {
    json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
        "kind": "FluxConfig",
        "source": {
            "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                         "spec": {"url": "https://git.example.com/fleet.git", "ref": {"branch": "main"}}},
            "secretResourceName": secret,
        },
        "kustomization": {"template": {"spec": {"path": "./"}}},
    })
}

#[test]
fn a_valid_configuration_and_a_shoot_without_shoot_flux_are_allowed() {
    assert_eq!(create(&shoot(flux(git_config("creds")))), allowed(&[]));
    assert_eq!(
        create(&shoot(json!([{"type": "shoot-flux"}]))),
        allowed(&[])
    );
    assert_eq!(
        create(&shoot(json!([{"type": "dns-service"}]))),
        allowed(&[])
    );
    let mut no_extensions = shoot(json!(null));
    no_extensions["spec"]["provider"]["workers"] = json!([]);
    assert_eq!(create(&no_extensions), allowed(&[]));
}

#[test]
fn every_problem_is_named_at_its_path_in_the_shoot() {
    let mut config = git_config("settings");
    config["source"]["template"]["spec"]["url"] = json!("not a url");
    config["typo"] = json!(1);
    config["additionalSecretResources"] = json!([{"name": "missing"}]);
    let verdict = create(&shoot(flux(config)));
    let mut paths = denied_paths(&verdict);
    paths.sort();
    assert_eq!(
        paths,
        [
            "spec.extensions[1].providerConfig.additionalSecretResources[0].name",
            "spec.extensions[1].providerConfig.source.secretResourceName",
            "spec.extensions[1].providerConfig.source.template.spec.url",
            "spec.extensions[1].providerConfig.typo",
        ]
    );
    let message = verdict.message("Shoot garden-dev/app").unwrap();
    assert!(
        message.starts_with("shoot-flux: Shoot garden-dev/app is invalid (4 problems): "),
        "{message}"
    );
    // The controller's messages, e.g. that a ConfigMap is not a Secret.
    assert!(
        message
            .contains("\"settings\" in Shoot.spec.resources refers to a ConfigMap, not a Secret"),
        "{message}"
    );
}

#[test]
fn a_workerless_shoot_is_refused() {
    let mut workerless = shoot(json!([{"type": "shoot-flux"}]));
    workerless["spec"]["provider"]["workers"] = json!([]);
    assert_eq!(
        denied_paths(&create(&workerless)),
        ["spec.provider.workers"]
    );
    workerless["spec"]["provider"]
        .as_object_mut()
        .unwrap()
        .remove("workers");
    assert_eq!(
        denied_paths(&create(&workerless)),
        ["spec.provider.workers"]
    );
    // A disabled entry is not shoot-flux's business.
    workerless["spec"]["extensions"][0]["disabled"] = json!(true);
    assert_eq!(create(&workerless), allowed(&[]));
}

#[test]
fn an_update_that_does_not_touch_shoot_flux_is_not_checked() {
    let mut bad = git_config("settings");
    bad["kind"] = json!("Other");
    let old = shoot(flux(bad));
    // Stored before the webhook existed; other changes pass, whatever else the Shoot holds.
    let mut new = old.clone();
    new["spec"]["provider"]["workers"][0]["maximum"] = json!(99);
    new["spec"]["hibernation"] = json!({"enabled": true});
    new["metadata"]["labels"] = json!({"odd": "yes"});
    assert_eq!(update(&old, &new), allowed(&[]));
    // Changing the entry is checked.
    let mut touched = new.clone();
    touched["spec"]["extensions"][1]["providerConfig"]["flux"] = json!({"namespace": "flux"});
    assert_eq!(
        denied_paths(&update(&old, &touched)),
        [
            "spec.extensions[1].providerConfig.kind",
            "spec.extensions[1].providerConfig.source.secretResourceName"
        ]
    );
    // So is removing the Secret the configuration names from spec.resources.
    let good = shoot(flux(git_config("creds")));
    let mut removed = good.clone();
    removed["spec"]["resources"] = json!([]);
    assert_eq!(
        denied_paths(&update(&good, &removed)),
        ["spec.extensions[1].providerConfig.source.secretResourceName"]
    );
    // And losing the last worker pool.
    let mut workerless = good.clone();
    workerless["spec"]["provider"]["workers"] = json!([]);
    assert_eq!(
        denied_paths(&update(&good, &workerless)),
        ["spec.provider.workers"]
    );
    // A Shoot being deleted is never refused (finalizers, status).
    let mut deleting = touched.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(update(&old, &deleting), allowed(&[]));
}

#[test]
fn a_flux_release_outside_the_shoots_kubernetes_range_is_a_warning() {
    let mut config = git_config("creds");
    config["flux"] = json!({"version": "v2.3.0"});
    let object = shoot(flux(config.clone()));
    let Verdict::Allowed { warnings } = create(&object) else {
        panic!("a warning does not refuse");
    };
    assert_eq!(
        warnings,
        [
            "spec.extensions[1].providerConfig.flux.version: Flux v2.3.0 supports Kubernetes 1.28 to 1.30, and this shoot runs Kubernetes 1.35.2; shoot-flux installs it anyway, but Flux may not work as expected: choose a Flux release that supports it"
        ]
    );
    // Inside the range, `latest`, or no pinned version: no warning.
    for version in [json!("v2.9.5"), json!("latest"), json!(null)] {
        config["flux"] = json!({"version": version});
        assert_eq!(create(&shoot(flux(config.clone()))), allowed(&[]));
    }
    // An upgrade of Kubernetes alone warns too (the configuration is not checked again).
    let mut config = git_config("creds");
    config["flux"] = json!({"version": "v2.7.0"});
    let mut old = shoot(flux(config));
    old["spec"]["kubernetes"]["version"] = json!("1.34.1");
    assert_eq!(create(&old), allowed(&[]));
    let mut upgraded = old.clone();
    upgraded["spec"]["kubernetes"]["version"] = json!("1.35.0");
    let Verdict::Allowed { warnings } = update(&old, &upgraded) else {
        panic!("allowed");
    };
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("supports Kubernetes 1.32 to 1.34"));
}

fn configmap(name: &str, namespace: &str, data: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": namespace}, "data": data})
}

fn review_cm(old: Option<&Value>, object: &Value) -> Verdict {
    review_flux_config(&Request {
        operation: if old.is_some() {
            Operation::Update
        } else {
            Operation::Create
        },
        object,
        old_object: old,
    })
}

#[test]
fn flux_config_gets_the_controllers_messages_at_paths_in_the_configmap() {
    let good = configmap(
        "flux-config",
        "garden-dev",
        json!({"fluxVersion": "v2.9.5", "repositoryUrl": "https://git.example.com/fleet.git"}),
    );
    assert_eq!(review_cm(None, &good), allowed(&[]));
    let bad = configmap(
        "flux-config",
        "garden-dev",
        json!({"fluxVersion": "1.0", "repositoryUrl": "git@host:org/repo.git", "colour": "blue"}),
    );
    let verdict = review_cm(None, &bad);
    let mut paths = denied_paths(&verdict);
    paths.sort();
    assert_eq!(
        paths,
        ["data.colour", "data.fluxVersion", "data.repositoryUrl"]
    );
    // Other ConfigMaps, and flux-config outside project namespaces, are not shoot-flux's.
    assert_eq!(
        review_cm(None, &configmap("other", "garden-dev", bad["data"].clone())),
        allowed(&[])
    );
    assert_eq!(
        review_cm(
            None,
            &configmap("flux-config", "default", bad["data"].clone())
        ),
        allowed(&[])
    );
    // An update that leaves data alone passes (labels, annotations).
    let mut labelled = bad.clone();
    labelled["metadata"]["labels"] = json!({"team": "a"});
    assert_eq!(review_cm(Some(&bad), &labelled), allowed(&[]));
    assert_eq!(
        denied_paths(&review_cm(Some(&good), &bad)).len(),
        3,
        "a change to data is checked"
    );
}
