//! `mcpr doctor`'s Docker lines: whether an engine with the image answers, and the
//! hardening a trial container actually has, item by item.

use std::time::Duration;

use super::{Check, Verdict, check, tempfile_workspace};
use crate::backend::docker::{check_ready, hardening};
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::kernel::CellOptions;
use crate::project::KernelConfig;
use crate::sandbox::IsolationRequest;
use crate::session::Launcher;

pub async fn checks(config: &KernelConfig) -> Vec<Check> {
    let wanted = config.isolation == IsolationRequest::Docker;
    let engine = match check_ready(&config.docker).await {
        Ok(line) => check("docker", Verdict::Ok, line, None),
        Err(why) => {
            let verdict = if wanted {
                Verdict::Missing
            } else {
                Verdict::Warn
            };
            let fix = if wanted {
                "scripts/setup-docker.sh starts a local engine and builds the default image"
            } else {
                "only needed for isolation = \"docker\"; the subprocess backend works without it"
            };
            return vec![check("docker", verdict, why, Some(fix))];
        }
    };
    vec![engine, trial(config).await]
}

/// Starts a trial kernel container and judges its hardening from inside.
async fn trial(config: &KernelConfig) -> Check {
    let report = match probe(config).await {
        Ok(report) => report,
        Err(why) => {
            return check(
                "hardening",
                Verdict::Missing,
                format!("a trial container failed: {why}"),
                Some("see `docker info` and the engine's log"),
            );
        }
    };
    let items = hardening::verdicts(&report, &config.docker, &config.limits);
    let missing: Vec<String> = items
        .iter()
        .filter(|i| !i.in_force)
        .map(|i| format!("{} ({})", i.name, i.seen))
        .collect();
    if missing.is_empty() {
        let names: Vec<&str> = items.iter().map(|i| i.name).collect();
        check(
            "hardening",
            Verdict::Ok,
            format!("a trial container has all of: {}", names.join(", ")),
            None,
        )
    } else {
        check(
            "hardening",
            Verdict::Missing,
            format!("NOT in force in a trial container: {}", missing.join("; ")),
            Some("check the engine's security options (`docker info`) and the [docker] settings"),
        )
    }
}

async fn probe(config: &KernelConfig) -> Result<serde_json::Value, String> {
    let launcher =
        Launcher::from_config(config, Some(IsolationRequest::Docker)).map_err(|e| e.to_string())?;
    let dir = tempfile_workspace().map_err(|e| e.to_string())?;
    let mut kernel = launcher
        .start(dir.path())
        .await
        .map_err(|e| e.to_string())?;
    let (mut value, mut failure) = (None, None);
    kernel
        .run_cell(
            1,
            hardening::PROBE,
            &CellOptions {
                timeout: Some(Duration::from_secs(20)),
                ..CellOptions::default()
            },
            &HostCalls::with_builtins(),
            dir.path(),
            &mut |e| match e {
                Event::Value { json, .. } => value = json,
                Event::Error { ename, message, .. } => {
                    failure = Some(format!("{ename}: {message}"))
                }
                _ => {}
            },
        )
        .await;
    kernel.shutdown().await;
    value.ok_or_else(|| failure.unwrap_or_else(|| "the probe gave no answer".into()))
}
