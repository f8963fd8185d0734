//! Key hygiene in a seed: the running controller's memory, dumped with `gcore`, holds no piece of
//! the private deploy key of a project without shoots on its seed (raw, base64 as the API server
//! sends Secret data, nor the ed25519 seed), while it does hold the keys of the projects whose
//! shoots it reconciles (the control that shows the dump and the search work). A steady shoot
//! reads no key; a key rotated away, or whose project's last shoot left the seed, is gone from
//! memory as text (its base64 form may stay in freed buffers of the HTTP client and of rendering,
//! which the test reports but does not require to be gone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use shoot_flux_core::deploykey::{DeployKey, IDENTITY, fingerprint};
use testbed::gardenlet;
use testbed::kubeutil::wait_for;

use common::*;

/// Pieces of a private key that each carry at least 64 bits of the key's own random material, so
/// that finding one is no accident: an OpenSSH key is mostly random, but its format header, key
/// type and comment are the same in every key, and so are pieces of them.
#[derive(Debug, Clone)]
struct Pieces {
    /// The lines of the OpenSSH body, as the key is held in text.
    lines: Vec<Vec<u8>>,
    /// 40-character pieces of the base64 of the whole `identity` value, as Secret data carries
    /// it and the API server sends it in JSON (aligned to whole 3-byte groups).
    base64: Vec<Vec<u8>>,
    /// The 32-byte ed25519 seed.
    seed: Vec<u8>,
}

const MIN_RANDOM_BITS: u32 = 64;

impl Pieces {
    fn of(deploy_key: &DeployKey) -> Self {
        let identity = &deploy_key.secret_data()[IDENTITY];
        let key = ssh_key::PrivateKey::from_openssh(identity).unwrap();
        let pair = key.key_data().ed25519().unwrap();
        let seed = pair.private.to_bytes().to_vec();
        let public = pair.public.0.to_vec();
        // The body decoded: where the seed and the public key (twice) are is random.
        let body: String = identity
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap();
        let mut random = vec![false; raw.len()];
        for secret in [&seed, &public] {
            for at in 0..=raw.len() - secret.len() {
                if raw[at..at + secret.len()] == secret[..] {
                    random[at..at + secret.len()].fill(true);
                }
            }
        }
        // Per byte of the identity text: how many of the 6 bits its base64 character stands for
        // are random (0 for the BEGIN/END lines and newlines).
        let mut bits = Vec::with_capacity(identity.len());
        let mut index = 0usize;
        for line in identity.split_inclusive('\n') {
            let body_line = !line.starts_with("-----");
            for byte in line.bytes() {
                if body_line && byte != b'\n' && byte != b'=' {
                    let n = (6 * index..6 * index + 6)
                        .filter(|bit| random.get(bit / 8).copied().unwrap_or(false))
                        .count();
                    bits.push(u32::try_from(n).unwrap());
                    index += 1;
                } else {
                    bits.push(0);
                }
            }
        }
        let mut lines = Vec::new();
        let mut at = 0;
        for line in identity.split_inclusive('\n') {
            let text = line.trim_end_matches('\n');
            if bits[at..at + text.len()].iter().sum::<u32>() >= MIN_RANDOM_BITS {
                lines.push(text.as_bytes().to_vec());
            }
            at += line.len();
        }
        // Each 40 characters of the base64 stand for 30 bytes of the identity text.
        let encoded = &deploy_key.secret_data_base64()[IDENTITY];
        let base64: Vec<Vec<u8>> = encoded
            .as_bytes()
            .chunks(40)
            .enumerate()
            .filter(|(i, c)| {
                c.len() == 40
                    && bits
                        .get(30 * i..30 * i + 30)
                        .is_some_and(|b| b.iter().sum::<u32>() >= MIN_RANDOM_BITS)
            })
            .map(|(_, c)| c.to_vec())
            .collect();
        assert!(lines.len() >= 3 && base64.len() >= 6, "too few pieces");
        Self {
            lines,
            base64,
            seed,
        }
    }

    fn all(&self) -> Vec<Vec<u8>> {
        let mut out = self.lines.clone();
        out.extend(self.base64.iter().cloned());
        out.push(self.seed.clone());
        out
    }
}

/// Which of `needles` occur in the file, read in pieces (a core dump is hundreds of MiB).
fn occurring(path: &Path, needles: &[Vec<u8>]) -> Vec<bool> {
    let automaton = AhoCorasick::new(needles).unwrap();
    let mut found = vec![false; needles.len()];
    let file = std::io::BufReader::with_capacity(8 << 20, std::fs::File::open(path).unwrap());
    for m in automaton.stream_find_iter(file) {
        found[m.unwrap().pattern().as_usize()] = true;
    }
    found
}

/// For each group of needles, which occur in the file (one pass).
fn search(path: &Path, groups: &[&Vec<Vec<u8>>]) -> Vec<Vec<bool>> {
    let all: Vec<Vec<u8>> = groups.iter().flat_map(|g| g.iter().cloned()).collect();
    let mut found = occurring(path, &all).into_iter();
    groups
        .iter()
        .map(|g| found.by_ref().take(g.len()).collect())
        .collect()
}

fn count(found: &[bool]) -> usize {
    found.iter().filter(|f| **f).count()
}

/// The process's memory as a core file in `dir` (`gcore` from gdb); says its size and time.
fn dump(dir: &Path, pid: i32, name: &str) -> std::path::PathBuf {
    let prefix = dir.join(name);
    let started = Instant::now();
    let out = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .output()
        .expect("gcore (from gdb) is needed; hack/testbed/install installs it");
    let core = dir.join(format!("{name}.{pid}"));
    assert!(
        out.status.success() && core.exists(),
        "gcore failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&core).unwrap().len();
    println!(
        "dumped the controller ({} MiB) in {:.1}s",
        size >> 20,
        started.elapsed().as_secs_f64()
    );
    core
}

/// A key as an operator makes it for a project, valid for the bed's Git host.
fn operator_key(git: &testbed::git::GitServer, project: &str) -> DeployKey {
    DeployKey::generate(&format!("{project} operator key"), git.known_hosts()).unwrap()
}

/// The project's `flux-source` as an operator writes it: the key's data as the product encodes it
/// for Secrets.
fn secret(project: &str, key: &DeployKey) -> Secret {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "flux-source", "namespace": format!("garden-{project}")},
        "data": key.secret_data_base64(),
    }))
    .unwrap()
}

/// Creates or replaces the project's `flux-source` with `key`.
async fn put_key(bed: &testbed::Bed, project: &str, key: &DeployKey) {
    let api: Api<Secret> = Api::namespaced(
        bed.garden().client().await.unwrap(),
        &format!("garden-{project}"),
    );
    let mut object = secret(project, key);
    match api.get_opt("flux-source").await.unwrap() {
        Some(current) => {
            object.metadata.resource_version = current.metadata.resource_version;
            api.replace("flux-source", &PostParams::default(), &object)
                .await
                .unwrap();
        }
        None => {
            api.create(&PostParams::default(), &object).await.unwrap();
        }
    }
}

/// The deploy key in the project's `flux-source`.
async fn key_in_garden(bed: &testbed::Bed, project: &str) -> DeployKey {
    let api: Api<Secret> = Api::namespaced(
        bed.garden().client().await.unwrap(),
        &format!("garden-{project}"),
    );
    let data = api.get("flux-source").await.unwrap().data.unwrap();
    let data = data.into_iter().map(|(k, v)| (k, v.0)).collect();
    DeployKey::from_secret_data(&data, &format!("garden-{project}/flux-source")).unwrap()
}

/// Waits until the shoot's status names the deploy key with `public`.
async fn wait_shoot_uses(bed: &testbed::Bed, namespace: &str, public: &str) {
    let want = fingerprint(public).unwrap();
    let api = extension_api(bed, namespace).await;
    wait_for(
        &format!("{namespace} to use deploy key {want}"),
        Duration::from_secs(60),
        || async {
            let ext = serde_json::to_value(api.get("shoot-flux").await?)?;
            let have = &ext["status"]["providerStatus"]["deployKey"]["fingerprint"];
            if *have == want.as_str() && gardenlet_ready(&ext).is_ok() {
                Ok(Some(()))
            } else {
                anyhow::bail!("deploy key {have}")
            }
        },
    )
    .await
    .unwrap();
}

/// The controller's reads of deploy key Secrets so far, from its debug log.
fn key_reads(extension: &Extension) -> usize {
    extension
        .log()
        .lines()
        .filter(|l| l.contains("http.method=GET") && l.contains("/secrets/flux-source"))
        .count()
}

async fn held(extension: &Extension) -> f64 {
    metric_sum(&extension.metrics().await, "shoot_flux_deploy_keys_held")
}

#[test]
fn the_streaming_search_finds_pieces_anywhere_in_a_big_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haystack");
    // Larger than the reader's buffer, with needles across its boundaries and at the end.
    let mut bytes = vec![0u8; (8 << 20) * 2 + 100];
    let needles: Vec<Vec<u8>> = vec![
        b"first-needle-0123456789".to_vec(),
        b"second-needle-abcdefghij".to_vec(),
        vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03],
        b"never-written".to_vec(),
    ];
    let places = [(8 << 20) - 5, (8 << 20) * 2 - 3, bytes.len() - 8];
    for (needle, at) in needles.iter().zip(places) {
        bytes[at..at + needle.len()].copy_from_slice(needle);
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(occurring(&path, &needles), [true, true, true, false]);
}

/// What made an earlier version of this test flaky: a piece with a few random bits (the header
/// ends in two bits of the public key) matched another key held in memory one time in four.
#[test]
fn pieces_of_one_key_never_occur_in_another_with_the_same_comment() {
    let key = || DeployKey::generate("same comment", String::new()).unwrap();
    for _ in 0..100 {
        let (a, b) = (key(), key());
        let pieces = Pieces::of(&a);
        let other = Pieces::of(&b);
        let haystack = [
            b.secret_data()[IDENTITY].as_bytes().to_vec(),
            b.secret_data_base64()[IDENTITY].as_bytes().to_vec(),
            other.seed.clone(),
        ]
        .concat();
        let found = AhoCorasick::new(pieces.all()).unwrap().find(&haystack[..]);
        assert!(found.is_none(), "{found:?}");
        // And all of them in its own forms.
        let own = [
            a.secret_data()[IDENTITY].as_bytes().to_vec(),
            a.secret_data_base64()[IDENTITY].as_bytes().to_vec(),
            pieces.seed.clone(),
        ]
        .concat();
        let automaton = AhoCorasick::new(pieces.all()).unwrap();
        let mut seen = vec![false; pieces.all().len()];
        for m in automaton.find_overlapping_iter(&own[..]) {
            seen[m.pattern().as_usize()] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}

#[tokio::test]
async fn a_seed_holds_only_the_deploy_keys_of_projects_with_shoots_on_it() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    // Nothing clones it: no Flux runs in these shoots.
    git.create_repository("hygiene-fleet", &[("README.md", "hygiene\n")])
        .unwrap();
    let url = git.ssh_url("hygiene-fleet");
    // `made`: a shoot here, a key the operator made. `new`: a shoot here, a key the controller
    // creates. `elsewhere`: no shoot on this seed (its shoots run on other seeds), a key the
    // watch sees in its first list and again, rotated, as an event.
    for project in ["made", "new", "elsewhere"] {
        set_project_config(
            bed,
            project,
            &[("repositoryUrl", &url), ("repositoryType", "private")],
        )
        .await;
    }
    let elsewhere_first = operator_key(git, "elsewhere");
    put_key(bed, "elsewhere", &elsewhere_first).await;
    let made_first = operator_key(git, "made");
    put_key(bed, "made", &made_first).await;

    let seed = bed.seed().client().await.unwrap();
    let (made, new) = (spec("made", "app"), spec("new", "app"));
    for s in [&made, &new] {
        gardenlet::apply_shoot_objects(&seed, s, None)
            .await
            .unwrap();
    }
    let extension = start_extension(bed, &[]).await;
    for s in [&made, &new] {
        gardenlet::apply_extension(&seed, s).await.unwrap();
    }
    wait_shoot_uses(bed, &made.technical_id(), made_first.public_key()).await;
    wait_ready(bed, &new.technical_id(), Duration::from_secs(60)).await;

    // Both rotated in place, elsewhere first: the one watch delivers its events in order, so
    // once the made shoot uses its new key, the process has seen elsewhere's too.
    let elsewhere_second = operator_key(git, "elsewhere");
    put_key(bed, "elsewhere", &elsewhere_second).await;
    let made_second = operator_key(git, "made");
    put_key(bed, "made", &made_second).await;
    wait_shoot_uses(bed, &made.technical_id(), made_second.public_key()).await;

    let made_first_pieces = Pieces::of(&made_first);
    let made_second_pieces = Pieces::of(&made_second);
    let new_pieces = Pieces::of(&key_in_garden(bed, "new").await);
    let elsewhere: Vec<Vec<u8>> = [&elsewhere_first, &elsewhere_second]
        .iter()
        .flat_map(|k| Pieces::of(k).all())
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let core = dump(dir.path(), extension.process.pid(), "controller");
    let found = search(
        &core,
        &[
            &elsewhere,
            &made_second_pieces.lines,
            &new_pieces.lines,
            &made_first_pieces.lines,
            &made_first_pieces.base64,
        ],
    );
    std::fs::remove_file(&core).unwrap();
    let leaked: Vec<String> = elsewhere
        .iter()
        .zip(&found[0])
        .filter(|(_, f)| **f)
        .map(|(n, _)| String::from_utf8(n.clone()).unwrap_or_else(|_| "(the raw seed)".into()))
        .collect();
    println!(
        "pieces of the keys of the project without shoots here in memory: {} of {}; of the key rotated away: {} of {} lines, {} of {} base64 pieces",
        leaked.len(),
        elsewhere.len(),
        count(&found[3]),
        found[3].len(),
        count(&found[4]),
        found[4].len(),
    );
    assert!(
        leaked.is_empty(),
        "the controller holds pieces of the deploy key of a project without shoots on its seed: {leaked:?}"
    );
    // The control: the keys it needs are there, every line of each.
    assert!(
        found[1].iter().chain(&found[2]).all(|f| *f),
        "the keys of the projects with shoots here were not found in the dump ({:?} {:?}), so the search proves nothing",
        found[1],
        found[2]
    );
    // A key is held as text only in memory that is zeroized when it is dropped.
    assert_eq!(
        count(&found[3]),
        0,
        "the key rotated away is still in memory as text"
    );

    // Two projects' keys are held, and a steady shoot costs no read of its key.
    assert_eq!(held(&extension).await, 2.0);
    let reads_before = key_reads(&extension);
    // The operator's key was read, and read again once rotated.
    assert!(reads_before >= 2, "{reads_before} reads of flux-source");
    for s in [&made, &new] {
        let since = annotate(bed, &s.technical_id(), "reconcile").await;
        wait_for(
            "the reconcile asked for",
            Duration::from_secs(60),
            || async {
                let ext = serde_json::to_value(
                    extension_api(bed, &s.technical_id())
                        .await
                        .get("shoot-flux")
                        .await?,
                )?;
                let at = ext["status"]["lastOperation"]["lastUpdateTime"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                Ok((gardenlet_ready(&ext).is_ok() && at >= since).then_some(()))
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(key_reads(&extension), reads_before, "reads of flux-source");

    // The last shoot of one project leaves the seed and its key goes.
    let api = extension_api(bed, &made.technical_id()).await;
    api.delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the made shoot's Extension to be deleted",
        Duration::from_secs(60),
        || async { Ok(api.get_opt("shoot-flux").await?.is_none().then_some(())) },
    )
    .await
    .unwrap();
    wait_for("one deploy key held", Duration::from_secs(90), || async {
        let n = held(&extension).await;
        Ok((n == 1.0).then_some(()))
    })
    .await
    .unwrap();
    let core = dump(dir.path(), extension.process.pid(), "after-delete");
    let found = search(
        &core,
        &[
            &new_pieces.lines,
            &made_second_pieces.lines,
            &made_second_pieces.base64,
            &elsewhere,
        ],
    );
    std::fs::remove_file(&core).unwrap();
    println!(
        "after the project's last shoot left: {} of {} lines of its key in memory, {} of {} base64 pieces",
        count(&found[1]),
        found[1].len(),
        count(&found[2]),
        found[2].len()
    );
    assert!(
        found[0].iter().all(|f| *f),
        "the remaining key was not found"
    );
    assert_eq!(
        count(&found[1]),
        0,
        "the key of the project that left is still in memory as text"
    );
    assert_eq!(count(&found[3]), 0, "the key of the project without shoots");

    extension_api(bed, &new.technical_id())
        .await
        .delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
}
