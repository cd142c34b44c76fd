//! The server's resources: session records, one step as JSON, files of a session's
//! workspace (offloaded output, saved results), and skill files.
//!
//! `mcpr://session/NAME`, `mcpr://session/NAME/step/N`, `mcpr://session/NAME/file/PATH`,
//! `mcpr://skill/NAME`. Workspace files are read through `ConfinedDir`: the sandboxed
//! code owns the workspace, so a symlink it planted is never followed.

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};

use super::Shared;

/// Largest file served whole.
const MAX_FILE: u64 = 16 * 1024 * 1024;

pub fn session_uri(name: &str) -> String {
    format!("mcpr://session/{name}")
}

pub fn file_uri(session: &str, path: &str) -> String {
    format!("mcpr://session/{session}/file/{path}")
}

pub fn templates() -> Vec<ResourceTemplate> {
    [
        (
            "mcpr://session/{name}",
            "session",
            "A recorded session: every step as JSON",
        ),
        (
            "mcpr://session/{name}/step/{step}",
            "step",
            "One recorded step as JSON: code, output, tool calls, result",
        ),
        (
            "mcpr://session/{name}/file/{path}",
            "workspace file",
            "A file of a session's workspace (offloaded output, saved results)",
        ),
        ("mcpr://skill/{name}", "skill", "A skill's Python source"),
    ]
    .into_iter()
    .map(|(uri, name, description)| ResourceTemplate::new(uri, name).with_description(description))
    .collect()
}

/// The recorded sessions and the skills.
pub fn list(shared: &Shared) -> Vec<Resource> {
    let mut out = Vec::new();
    if let Some(dir) = shared.sessions.record_dir()
        && let Ok(names) = dir.session_names()
    {
        out.extend(names.iter().map(|n| {
            Resource::new(session_uri(n), format!("session {n}")).with_mime_type("application/json")
        }));
    }
    let project = &shared.sessions.context().project;
    if let Ok(library) = crate::engine::query::skills::open_library(project)
        && let Ok(list) = crate::engine::query::skills::list(
            &library,
            crate::engine::query::skills::SkillSort::Name,
        )
    {
        out.extend(list.skills.iter().map(|s| {
            Resource::new(
                format!("mcpr://skill/{}", s.name),
                format!("skill {}", s.name),
            )
            .with_mime_type("text/x-python")
        }));
    }
    out
}

fn not_found(uri: &str, why: impl std::fmt::Display) -> ErrorData {
    ErrorData::resource_not_found(format!("{uri}: {why}"), None)
}

fn json(uri: &str, value: &impl serde::Serialize) -> Result<ResourceContents, ErrorData> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(ResourceContents::text(text, uri).with_mime_type("application/json"))
}

/// Reads `uri`.
pub fn read(shared: &Shared, uri: &str) -> Result<ResourceContents, ErrorData> {
    if let Some(name) = uri.strip_prefix("mcpr://skill/") {
        let project = &shared.sessions.context().project;
        let library =
            crate::engine::query::skills::open_library(project).map_err(|e| not_found(uri, e))?;
        return match crate::engine::query::skills::show(&library, name)
            .map_err(|e| not_found(uri, e))?
        {
            crate::engine::query::skills::SkillDetail::Skill(s) => {
                Ok(ResourceContents::text(s.code, uri).with_mime_type("text/x-python"))
            }
            crate::engine::query::skills::SkillDetail::Broken(b) => {
                Ok(ResourceContents::text(b.code, uri).with_mime_type("text/x-python"))
            }
        };
    }
    let Some(rest) = uri.strip_prefix("mcpr://session/") else {
        return Err(ErrorData::invalid_params(
            format!("{uri}: not an mcpr resource; see resources/templates/list"),
            None,
        ));
    };
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let dir = shared
        .sessions
        .record_dir()
        .ok_or_else(|| not_found(uri, "no sessions are recorded yet"))?;
    if tail.is_empty() {
        let history =
            crate::engine::query::history(&dir, name, None).map_err(|e| not_found(uri, e))?;
        return json(uri, &history);
    }
    if let Some(step) = tail.strip_prefix("step/") {
        let step: u64 = step
            .parse()
            .map_err(|_| ErrorData::invalid_params(format!("{uri}: a step is a number"), None))?;
        let view =
            crate::engine::query::step_view(&dir, name, step).map_err(|e| not_found(uri, e))?;
        return json(uri, &view);
    }
    if let Some(path) = tail.strip_prefix("file/") {
        let project = &shared.sessions.context().project;
        crate::project::validate_session_name(name).map_err(|e| not_found(uri, e))?;
        let workspace = project.workspace_root().join(name);
        let root = crate::sandbox::confined::ConfinedDir::open(&workspace)
            .map_err(|e| not_found(uri, e))?;
        if let Ok(Some(meta)) = root.stat_path(path)
            && meta.len > MAX_FILE
        {
            return Err(ErrorData::invalid_params(
                format!(
                    "{uri}: the file has {} bytes, more than the {MAX_FILE} served whole; read it in parts with run_python",
                    meta.len
                ),
                None,
            ));
        }
        let bytes = root.read(path).map_err(|e| not_found(uri, e))?;
        return Ok(match String::from_utf8(bytes) {
            Ok(text) => ResourceContents::text(text, uri).with_mime_type("text/plain"),
            Err(e) => {
                use base64::Engine;
                ResourceContents::blob(
                    base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                    uri,
                )
            }
        });
    }
    Err(ErrorData::invalid_params(
        format!("{uri}: after the session name comes step/N or file/PATH"),
        None,
    ))
}
