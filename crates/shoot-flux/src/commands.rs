//! The command-line tools beside the controller: `deploy-key`, `render`, `status` and
//! `mirror`; and `admission`, the webhook server.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::apiresources::extension_resource;
use crate::cli::{self, Args, Command};
use crate::garden::Garden;
use crate::render_command::{self, RenderInput};
use crate::runtime::client_from;
use crate::status_command::{self, Output};
use shoot_flux_core::deploykey::{DeployKey, SECRET_NAME};

/// Runs one command to its end.
pub async fn run(args: &Args, command: &Command) -> Result<()> {
    match command {
        Command::DeployKey { project, namespace } => {
            let namespace = cli::deploy_key_namespace(project.as_deref(), namespace.as_deref())
                .map_err(anyhow::Error::msg)?;
            deploy_key(args, &namespace).await
        }
        Command::Admission {
            webhook_bind_address,
            tls_cert_file,
            tls_private_key_file,
        } => {
            crate::runtime::init_logging(args);
            crate::webhook::run(&crate::webhook::Options {
                bind_address: *webhook_bind_address,
                health_bind_address: args.health_bind_address,
                tls_cert_file: tls_cert_file.clone(),
                tls_private_key_file: tls_private_key_file.clone(),
            })
            .await
        }
        Command::Status { output, watch } => status(args, *output, *watch).await,
        Command::Mirror {
            version,
            from,
            to_dir,
            to_oci,
            ca_file,
            credentials_file,
            timeout,
        } => {
            let request = crate::mirror_command::MirrorRequest {
                version: version.clone(),
                from: from.clone(),
                destination: crate::mirror_command::destination(
                    to_dir.as_deref(),
                    to_oci.as_deref(),
                )
                .map_err(anyhow::Error::msg)?,
                ca_file: ca_file.clone(),
                credentials_file: credentials_file.clone(),
                timeout: shoot_flux_core::config::operator::parse_duration(timeout)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        anyhow::anyhow!("--timeout {timeout:?} is not a duration like 60s")
                    })?,
            };
            let report = crate::mirror_command::mirror(&request)
                .await
                .map_err(anyhow::Error::msg)?;
            print!("{report}");
            Ok(())
        }
        Command::Render {
            cluster,
            extension,
            project_config,
            config,
        } => {
            render(
                cluster,
                extension,
                project_config.as_deref(),
                config.as_deref(),
            )
            .await
        }
    }
}

/// The answer deadline of the CLI's requests (`deploy-key`, `status`).
const CLI_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `deploy-key --project <name>` or `--namespace <ns>`: prints the project's deploy key for the
/// operator.
async fn deploy_key(args: &Args, namespace: &str) -> Result<()> {
    let path = args
        .garden_kubeconfig
        .as_deref()
        .or(args.kubeconfig.as_deref());
    let garden = Garden::new(Some(
        client_from(path, CLI_REQUEST_TIMEOUT)
            .await
            .context("garden client")?,
    ));
    match garden.secret(namespace, SECRET_NAME).await? {
        None => {
            eprint!("{}", cli::deploy_key_missing(namespace));
            std::process::exit(2);
        }
        Some(secret) => {
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            let key = DeployKey::from_secret_data(&data, &format!("{namespace}/{SECRET_NAME}"))
                .map_err(|e| anyhow::anyhow!("the deploy key Secret is not usable: {e}"))?;
            print!("{}", cli::deploy_key_report(namespace, &key));
            Ok(())
        }
    }
}

/// `render`: the shoot's objects from files, on stdout; problems on stderr with exit code 1.
async fn render(
    cluster: &std::path::Path,
    extension: &std::path::Path,
    project_config: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
) -> ! {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1)
        })
    };
    let input = RenderInput {
        cluster: read(cluster),
        extension: read(extension),
        project_config: project_config.map(read),
        operator_config: config.map(read),
    };
    match render_command::render(&input).await {
        Ok(output) => {
            for note in &output.notes {
                eprintln!("note: {note}");
            }
            print!("{}", output.yaml);
            std::process::exit(0)
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            std::process::exit(1)
        }
    }
}

/// `status`: the seed's shoots, one line each (or JSON/YAML); with `watch`, printed again
/// whenever what it prints changes, until interrupted.
async fn status(args: &Args, output: Output, watch: bool) -> Result<()> {
    let seed = client_from(args.kubeconfig.as_deref(), CLI_REQUEST_TIMEOUT)
        .await
        .context("seed client (--kubeconfig or KUBECONFIG)")?;
    let api: Api<DynamicObject> = Api::all_with(seed, &extension_resource());
    let render = |extensions: Vec<&serde_json::Value>| {
        let shoots = status_command::shoots(extensions, k8s_openapi::jiff::Timestamp::now());
        status_command::print(&shoots, output).map_err(anyhow::Error::msg)
    };
    if !watch {
        let list = api
            .list(&ListParams::default())
            .await
            .context("listing Extensions in the seed")?;
        let extensions: Vec<serde_json::Value> = list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect();
        print!("{}", render(extensions.iter().collect())?);
        return Ok(());
    }
    let mut known: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    let mut listed = false;
    let mut printed = String::new();
    let key = |o: &DynamicObject| {
        (
            o.metadata.namespace.clone().unwrap_or_default(),
            o.metadata.name.clone().unwrap_or_default(),
        )
    };
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Err(e) => {
                // Retried with backoff by the watcher; said once per failure.
                eprintln!("watching Extensions: {e}");
                continue;
            }
            // A re-list after a watch error: print nothing until it is complete, or shoots
            // not yet listed again would seem to be gone.
            Ok(watcher::Event::Init) => {
                known.clear();
                listed = false;
            }
            Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => {
                if let Ok(value) = serde_json::to_value(&o) {
                    known.insert(key(&o), value);
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                known.remove(&key(&o));
            }
            Ok(watcher::Event::InitDone) => listed = true,
        }
        if !listed {
            continue;
        }
        let text = render(known.values().collect())?;
        if text != printed {
            // A table is printed whole each time, after a blank line, like `watch` would.
            if !printed.is_empty() && matches!(output, Output::Table | Output::Wide) {
                println!();
            }
            print!("{text}");
            std::io::Write::flush(&mut std::io::stdout())?;
            printed = text;
        }
    }
    Ok(())
}
