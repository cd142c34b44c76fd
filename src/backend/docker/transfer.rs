//! Copies between this host's workspace and a container's `/workspace` through the
//! engine (sync mode): in, only what the host changed since the last copy (names it
//! removed are removed by an `exec` as the kernel's uid, since the archive API only
//! adds); back, the container's whole `/workspace`, unpacked by `sync`. The fingerprint
//! after each copy is what the container holds.

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::run::{Placed, lock};
use super::sync;
use crate::sandbox::confined::ConfinedDir;

/// Copies the host's workspace into the container (after removing there what the host
/// removed since the last copy) and remembers its fingerprint.
pub async fn push(
    here: &Placed,
    workspace: &Arc<ConfinedDir>,
    user: (u32, u32),
    seen: &Arc<Mutex<Option<sync::Fingerprint>>>,
) -> Result<(), String> {
    let before = lock(seen).clone();
    let root = workspace.clone();
    let (now, tarball) = tokio::task::spawn_blocking(move || {
        let now = sync::fingerprint(&root)?;
        if before.as_ref() == Some(&now) {
            return Ok((now, None));
        }
        let tarball = sync::pack(&root, user.0, user.1, before.as_ref())?;
        Ok::<_, std::io::Error>((now, Some(tarball)))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("reading the workspace: {e}"))?;
    let Some(tarball) = tarball else {
        return Ok(());
    };
    let last = lock(seen).clone();
    if let Some(before) = last {
        let gone = sync::gone(&before, &now);
        if !gone.is_empty() {
            remove_inside(here, user, &gone).await?;
        }
    }
    upload(here, crate::sandbox::INSIDE_WORKSPACE, tarball).await?;
    *lock(seen) = Some(now);
    Ok(())
}

/// Removes `paths` (relative to /workspace) in the container, as the kernel's uid: the
/// archive API only adds.
async fn remove_inside(here: &Placed, user: (u32, u32), paths: &[PathBuf]) -> Result<(), String> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    const REMOVE: &str = "import os, shutil, sys\nfor p in sys.argv[1:]:\n    if os.path.isdir(p) and not os.path.islink(p):\n        shutil.rmtree(p, ignore_errors=True)\n    elif os.path.lexists(p):\n        os.remove(p)";
    for chunk in paths.chunks(500) {
        let mut cmd = vec![
            "python3".to_string(),
            "-I".into(),
            "-c".into(),
            REMOVE.into(),
        ];
        cmd.extend(chunk.iter().map(|p| p.to_string_lossy().into_owned()));
        let exec = here
            .docker
            .create_exec(
                &here.id,
                CreateExecOptions {
                    cmd: Some(cmd),
                    user: Some(format!("{}:{}", user.0, user.1)),
                    working_dir: Some(crate::sandbox::INSIDE_WORKSPACE.to_string()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("removing files in the container: {e}"))?;
        match here.docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                while output.next().await.is_some() {}
            }
            Ok(StartExecResults::Detached) => {}
            Err(e) => return Err(format!("removing files in the container: {e}")),
        }
    }
    Ok(())
}

pub async fn upload(here: &Placed, path: &str, tarball: Vec<u8>) -> Result<(), String> {
    let options = UploadToContainerOptionsBuilder::default()
        .path(path)
        .build();
    here.docker
        .upload_to_container(&here.id, Some(options), bollard::body_full(tarball.into()))
        .await
        .map_err(|e| format!("uploading to {path}: {e}"))
}

/// Brings the container's `/workspace` back into the host's; returns what was not taken.
pub async fn pull(
    here: &Placed,
    workspace: &Arc<ConfinedDir>,
    seen: &Arc<Mutex<Option<sync::Fingerprint>>>,
) -> Result<Vec<String>, String> {
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(crate::sandbox::INSIDE_WORKSPACE)
        .build();
    let mut stream = here.docker.download_from_container(&here.id, Some(options));
    let mut tarball = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            format!(
                "the engine at {} did not hand the workspace over: {e}",
                here.engine.address()
            )
        })?;
        tarball.extend_from_slice(&chunk);
    }
    let before = lock(seen).clone();
    let root = workspace.clone();
    let (done, now) = tokio::task::spawn_blocking(move || {
        let done = sync::unpack(&root, &tarball)?;
        let host = sync::fingerprint(&root)?;
        Ok::<_, std::io::Error>((done, sync::as_in_container(host, before.as_ref())))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the workspace could not be written back: {e}"))?;
    *lock(seen) = Some(now);
    Ok(done.refused)
}
