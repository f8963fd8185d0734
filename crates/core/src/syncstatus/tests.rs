use serde_json::json;

use super::*;

fn installed(bootstrap: bool, private: bool) -> Installed {
    Installed {
        api_version: PROVIDER_STATUS_API_VERSION.into(),
        kind: PROVIDER_STATUS_KIND.into(),
        flux: InstalledFlux {
            version: "v2.9.5".into(),
            namespace: "flux-system".into(),
            controllers: vec![
                Controller {
                    name: "kustomize-controller".into(),
                    image: "ghcr.io/fluxcd/kustomize-controller:v1.9.5".into(),
                },
                Controller {
                    name: "source-controller".into(),
                    image: "ghcr.io/fluxcd/source-controller:v1.9.5".into(),
                },
            ],
        },
        management_mode: if bootstrap { "Bootstrap" } else { "Managed" }.into(),
        source: Some(ObjectRef {
            kind: "GitRepository".into(),
            namespace: "flux-system".into(),
            name: "main-gitrepo".into(),
        }),
        kustomization: Some(ObjectRef {
            kind: "Kustomization".into(),
            namespace: "flux-system".into(),
            name: "main-ks".into(),
        }),
        deploy_key: private.then(|| DeployKeyRef {
            project: "foo".into(),
            namespace: Some("garden-team-f".into()),
            fingerprint: "SHA256:abc".into(),
        }),
    }
}

fn deployment(name: &str, image: &str, available: i64) -> Value {
    json!({
        "metadata": {"name": name, "generation": 2,
            "managedFields": [{"manager": "gardener-resource-manager"}]},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"observedGeneration": 2, "updatedReplicas": available, "availableReplicas": available}
    })
}

fn healthy_deployments() -> Vec<Value> {
    vec![
        deployment(
            "kustomize-controller",
            "ghcr.io/fluxcd/kustomize-controller:v1.9.5",
            1,
        ),
        deployment(
            "source-controller",
            "ghcr.io/fluxcd/source-controller:v1.9.5",
            1,
        ),
    ]
}

fn flux_object(name: &str, ready: &str, message: &str, revision: (&str, &str)) -> Value {
    let mut o = json!({"metadata": {"name": name}, "status": {
        "conditions": [{"type": "Ready", "status": ready, "message": message}]}});
    o.pointer_mut("/status")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(revision.0.into(), json!(revision.1));
    o
}

fn condition<'a>(report: &'a Report, kind: &str) -> &'a Verdict {
    &report
        .conditions
        .iter()
        .find(|(k, _)| *k == kind)
        .unwrap()
        .1
}

#[test]
fn a_synced_shoot_reports_its_revisions() {
    let source = json!({"metadata": {"name": "main-gitrepo"}, "status": {
        "artifact": {"revision": "main@sha1:1111"},
        "conditions": [{"type": "Ready", "status": "True"}]}});
    let ks = flux_object(
        "main-ks",
        "True",
        "Applied",
        ("lastAppliedRevision", "main@sha1:1111"),
    );
    let report = decide(
        &installed(false, false),
        &Observation::Seen {
            deployments: healthy_deployments(),
            source: Some(source),
            kustomization: Some(ks),
        },
    );
    assert_eq!(report.state, SyncState::Ready);
    for kind in [INSTALLED, SOURCE, KUSTOMIZATION, OWNERSHIP] {
        assert_eq!(condition(&report, kind).status, "True", "{kind}");
    }
    let message = &condition(&report, KUSTOMIZATION).message;
    assert_eq!(
        message,
        "Kustomization main-ks is ready at revision main@sha1:1111"
    );
    assert_eq!(revision_in(message), Some("main@sha1:1111"));
    assert_eq!(
        revision_in(&condition(&report, SOURCE).message),
        Some("main@sha1:1111")
    );
    assert_eq!(revision_in("GitRepository x has not reported"), None);
}

#[test]
fn a_failing_kustomization_carries_fluxs_message() {
    let ks = flux_object(
        "main-ks",
        "False",
        "kustomize build failed: accumulating resources",
        ("lastAppliedRevision", "main@sha1:1111"),
    );
    let report = decide(
        &installed(false, false),
        &Observation::Seen {
            deployments: healthy_deployments(),
            source: None,
            kustomization: Some(ks),
        },
    );
    assert_eq!(report.state, SyncState::Failing);
    let v = condition(&report, KUSTOMIZATION);
    assert_eq!(
        (v.status, v.message.as_str()),
        (
            "False",
            "Kustomization main-ks: kustomize build failed: accumulating resources"
        )
    );
    assert_eq!(condition(&report, SOURCE).reason, "NotFound");
}

#[test]
fn a_refused_deploy_key_names_the_key_to_add() {
    let refused = "failed to checkout and determine revision: unable to clone 'ssh://git@127.0.0.1:2222/x.git': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain";
    let source = flux_object("main-gitrepo", "False", refused, ("x", "y"));
    let seen = |private| {
        decide(
            &installed(false, private),
            &Observation::Seen {
                deployments: healthy_deployments(),
                source: Some(source.clone()),
                kustomization: None,
            },
        )
    };
    let v = condition(&seen(true), SOURCE).clone();
    assert_eq!(v.reason, "AuthenticationFailed");
    assert!(
        v.message
            .starts_with("authentication failed: add deploy key SHA256:abc (project foo)"),
        "{}",
        v.message
    );
    assert!(
        v.message
            .contains("`shoot-flux deploy-key --namespace garden-team-f` prints it"),
        "{}",
        v.message
    );
    assert!(v.message.contains(refused));
    // Without a deploy key of ours (public repository, own secret) Flux's words stay alone.
    assert_eq!(condition(&seen(false), SOURCE).reason, "NotReady");
    // Other failures are not blamed on the key.
    let other = flux_object("main-gitrepo", "False", "no such branch main", ("x", "y"));
    let report = decide(
        &installed(false, true),
        &Observation::Seen {
            deployments: vec![],
            source: Some(other),
            kustomization: None,
        },
    );
    assert_eq!(condition(&report, SOURCE).reason, "NotReady");
}

#[test]
fn flux_installed_means_present_at_the_recorded_images_and_rolled_out() {
    let installed = installed(false, false);
    assert_eq!(
        installed_verdict(&installed, &healthy_deployments()).status,
        "True"
    );
    let v = installed_verdict(&installed, &healthy_deployments()[..1]);
    assert_eq!((v.status, v.reason), ("False", "ControllersMissing"));
    assert!(v.message.contains("source-controller"), "{}", v.message);
    let mut old = healthy_deployments();
    old[1] = deployment(
        "source-controller",
        "ghcr.io/fluxcd/source-controller:v1.6.0",
        1,
    );
    let v = installed_verdict(&installed, &old);
    assert_eq!(v.reason, "VersionMismatch");
    assert!(v.message.contains("source-controller runs ghcr.io/fluxcd/source-controller:v1.6.0, not ghcr.io/fluxcd/source-controller:v1.9.5"), "{}", v.message);
    let mut unavailable = healthy_deployments();
    unavailable[0] = deployment(
        "kustomize-controller",
        "ghcr.io/fluxcd/kustomize-controller:v1.9.5",
        0,
    );
    assert_eq!(
        installed_verdict(&installed, &unavailable).reason,
        "ControllersUnavailable"
    );
    // In Bootstrap mode the repository may move Flux on: another image is fine.
    let bootstrap = super::tests::installed(true, false);
    assert_eq!(installed_verdict(&bootstrap, &old).status, "True");
}

#[test]
fn without_access_every_condition_is_unknown_with_the_reason() {
    let waiting = decide(
        &installed(false, false),
        &Observation::WaitingForAccess("no token yet".into()),
    );
    assert_eq!(waiting.state, SyncState::Waiting);
    assert_eq!(waiting.conditions.len(), 4);
    for (_, v) in &waiting.conditions {
        assert_eq!((v.status, v.reason), ("Unknown", "WaitingForShootAccess"));
        assert_eq!(v.message, "waiting for shoot access: no token yet");
    }
    let down = decide(
        &installed(false, false),
        &Observation::Unreachable("connection refused".into()),
    );
    assert_eq!(down.state, SyncState::Unreachable);
    assert!(
        down.conditions.iter().all(
            |(_, v)| v.reason == "ShootUnreachable" && v.message.contains("connection refused")
        )
    );
}

#[test]
fn ownership_verdicts_say_what_to_do() {
    let others = vec![(
        "source-controller".to_string(),
        "kustomize-controller".to_string(),
    )];
    let v = ownership_verdict(false, &others, "flux-system");
    assert_eq!(
        (v.status, v.reason),
        ("False", "RepositoryAlsoAppliesFluxComponents")
    );
    assert!(v.message.contains(
        "Deployment flux-system/source-controller is also written by kustomize-controller"
    ));
    assert!(v.message.contains("managementMode: Bootstrap"));
    assert_eq!(ownership_verdict(false, &[], "flux-system").status, "True");
    assert_eq!(
        ownership_verdict(true, &others, "flux-system").status,
        "True"
    );
}

#[test]
fn unchanged_conditions_cause_no_write() {
    let verdicts = decide(
        &installed(false, false),
        &Observation::WaitingForAccess("x".into()),
    )
    .conditions;
    let first = conditions::merge(&[], &verdicts, "t1").unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(conditions::merge(&first, &verdicts, "t2"), None);
    let down = decide(
        &installed(false, false),
        &Observation::Unreachable("y".into()),
    )
    .conditions;
    let second = conditions::merge(&first, &down, "t3").unwrap();
    assert!(second.iter().all(|c| c.last_transition_time == "t1"));
    assert!(second.iter().all(|c| c.last_update_time == "t3"));
}

#[test]
fn the_health_check_sees_only_false_sync_conditions() {
    let c = |kind: &str, status: &str, message: &str| Condition {
        type_: kind.into(),
        status: status.into(),
        last_transition_time: String::new(),
        last_update_time: String::new(),
        reason: String::new(),
        message: message.into(),
        codes: vec![],
    };
    assert_eq!(
        sync_failure(&[c(SOURCE, "True", "ok"), c(KUSTOMIZATION, "Unknown", "?")]),
        None
    );
    assert_eq!(
        sync_failure(&[
            c(SOURCE, "True", "ok"),
            c(KUSTOMIZATION, "False", "Kustomization main-ks: boom"),
            c(INSTALLED, "False", "not counted")
        ])
        .as_deref(),
        Some("Flux sync failing: Kustomization main-ks: boom")
    );
}

#[test]
fn the_record_round_trips_through_the_extension() {
    let record = installed(false, true);
    let ext = json!({"status": {"providerStatus": serde_json::to_value(&record).unwrap()}});
    assert_eq!(Installed::from_extension(&ext), Some(record));
    assert_eq!(
        Installed::from_extension(&json!({"status": {"providerStatus": {"kind": "Other"}}})),
        None
    );
    // A merge patch of the record removes the deploy key when it no longer applies.
    let public = serde_json::to_value(installed(false, false)).unwrap();
    assert_eq!(public["deployKey"], Value::Null);
    assert!(public.as_object().unwrap().contains_key("deployKey"));
}

#[test]
fn the_deploy_key_command_names_the_namespace_the_key_is_in() {
    let recorded: DeployKeyRef = serde_json::from_value(
        json!({"project": "alpha", "namespace": "garden-team-a", "fingerprint": "SHA256:x"}),
    )
    .unwrap();
    assert_eq!(
        recorded.command(),
        "shoot-flux deploy-key --namespace garden-team-a"
    );
    // A record from before the namespace was kept.
    let older: DeployKeyRef =
        serde_json::from_value(json!({"project": "dev", "fingerprint": "SHA256:x"})).unwrap();
    assert_eq!(older.command(), "shoot-flux deploy-key --project dev");
    assert_eq!(
        serde_json::to_value(&older).unwrap(),
        json!({"project": "dev", "fingerprint": "SHA256:x"})
    );
}

fn seen_ready() -> Observation {
    let deployment = |name: &str, image: &str| {
        json!({"metadata": {"name": name, "generation": 1},
               "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": image}]}}},
               "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1}})
    };
    Observation::Seen {
        deployments: vec![
            deployment(
                "kustomize-controller",
                "ghcr.io/fluxcd/kustomize-controller:v1.9.5",
            ),
            deployment(
                "source-controller",
                "ghcr.io/fluxcd/source-controller:v1.9.5",
            ),
        ],
        source: None,
        kustomization: None,
    }
}

fn verdict_of<'a>(report: &'a Report, kind: &str) -> Option<&'a Verdict> {
    report
        .conditions
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v)
}

#[test]
fn the_kubernetes_compatibility_names_both_versions_and_the_range() {
    let record = installed(false, false);
    let outside = compatibility_verdict(&record, Some("1.31.0"));
    assert_eq!(
        (outside.status, outside.reason),
        ("False", "KubernetesVersionUnsupported")
    );
    for fragment in ["Kubernetes 1.31.0", "Flux v2.9.5", "1.34 to 1.36"] {
        assert!(outside.message.contains(fragment), "{}", outside.message);
    }
    let inside = compatibility_verdict(&record, Some("1.36.3"));
    assert_eq!(
        (inside.status, inside.reason),
        ("True", "KubernetesVersionSupported")
    );
    assert!(
        inside.message.contains("1.34 to 1.36"),
        "{}",
        inside.message
    );
    assert_eq!(compatibility_verdict(&record, None).status, "Unknown");
    let mut unlisted = record.clone();
    unlisted.flux.version = "v2.10.0".into();
    let v = compatibility_verdict(&unlisted, Some("1.31.0"));
    assert_eq!(
        (v.status, v.reason),
        ("Unknown", "NoCompatibilityStatement")
    );
}

#[test]
fn the_compatibility_is_reported_also_when_the_shoot_cannot_be_read() {
    let record = installed(false, false);
    for observation in [
        seen_ready(),
        Observation::Unreachable("refused".into()),
        Observation::WaitingForAccess("no token".into()),
    ] {
        let report = with_shoot_facts(decide(&record, &observation), &record, Some("1.31.0"), &[]);
        assert_eq!(
            verdict_of(&report, KUBERNETES_COMPATIBLE).map(|v| v.status),
            Some("False")
        );
        // Managed mode never marks the shoot as bootstrapped.
        assert_eq!(verdict_of(&report, "FluxBootstrapped"), None);
    }
}

#[test]
fn bootstrap_mode_marks_the_shoot_bootstrapped_once_flux_is_there_and_keeps_the_mark() {
    let record = installed(true, false);
    let report = |observation: &Observation, existing: &[Condition]| {
        with_shoot_facts(
            decide(&record, observation),
            &record,
            Some("1.36.3"),
            existing,
        )
    };
    // Not before the controllers are there.
    let waiting = report(&Observation::WaitingForAccess("no token".into()), &[]);
    assert_eq!(verdict_of(&waiting, "FluxBootstrapped"), None);
    let missing = report(
        &Observation::Seen {
            deployments: vec![],
            source: None,
            kustomization: None,
        },
        &[],
    );
    assert_eq!(verdict_of(&missing, "FluxBootstrapped"), None);
    // Then True, in the shape the stackit extension reads (type and status).
    let ready = report(&seen_ready(), &[]);
    let mark = verdict_of(&ready, "FluxBootstrapped").expect("FluxBootstrapped is set");
    assert_eq!(
        (mark.status, mark.reason),
        ("True", crate::takeover::BOOTSTRAPPED_BY_SHOOT_FLUX)
    );
    let written = conditions::merge(&[], &ready.conditions, "t1").unwrap();
    // Kept as it is afterwards, whatever the shoot shows: never rewritten, never removed.
    for observation in [
        seen_ready(),
        Observation::Unreachable("refused".into()),
        Observation::Seen {
            deployments: vec![],
            source: None,
            kustomization: None,
        },
    ] {
        let later = report(&observation, &written);
        assert_eq!(verdict_of(&later, "FluxBootstrapped"), None);
        let merged =
            conditions::merge(&written, &later.conditions, "t2").unwrap_or(written.clone());
        let kept = merged
            .iter()
            .find(|c| c.type_ == "FluxBootstrapped")
            .unwrap();
        assert_eq!(
            (kept.status.as_str(), kept.last_update_time.as_str()),
            ("True", "t1")
        );
    }
    // stackit's own mark is left as stackit wrote it.
    let stackit = Condition {
        type_: "FluxBootstrapped".into(),
        status: "True".into(),
        last_transition_time: "t0".into(),
        last_update_time: "t0".into(),
        reason: "BootstrapSuccessful".into(),
        message: "Flux has been successfully bootstrapped on the Shoot cluster.".into(),
        codes: vec![],
    };
    let taken_over = report(&seen_ready(), std::slice::from_ref(&stackit));
    assert_eq!(verdict_of(&taken_over, "FluxBootstrapped"), None);
}
