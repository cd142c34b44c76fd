//! Tool results as a model reads them best: what the code printed, its value, its error,
//! and one line on how it ended.

use rmcp::model::{CallToolResult, ContentBlock};

use crate::event::{CellStatus, Event, Stream};

/// The result of a `run_python` call from the cell's events.
pub fn cell(session: &str, events: &[Event]) -> CallToolResult {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut parts = Vec::new();
    let mut status = None;
    let mut notes = Vec::new();
    let mut links = Vec::new();
    for e in events {
        match e {
            Event::Output {
                stream: Stream::Stdout,
                text,
                ..
            } => stdout.push_str(text),
            Event::Output {
                stream: Stream::Stderr,
                text,
                ..
            } => stderr.push_str(text),
            Event::Value { repr, .. } => parts.push(format!("=> {repr}")),
            Event::Error {
                ename,
                message,
                traceback,
                ..
            } => parts.push(if traceback.trim().is_empty() {
                format!("{ename}: {message}")
            } else if traceback.contains(message.as_str()) {
                traceback.trim_end().to_string()
            } else {
                // What mcpr adds (a limit reached, a cancel) is not in Python's traceback.
                format!("{}\n[mcpr] {ename}: {message}", traceback.trim_end())
            }),
            Event::KernelRestarted { reason } => notes.push(reason.clone()),
            Event::Notice { message, .. } => notes.push(message.clone()),
            Event::CellFinished {
                status: s,
                overflow,
                duration_ms,
                ..
            } => {
                status = Some((*s, *duration_ms));
                for o in overflow {
                    let path = o.path.to_string_lossy();
                    notes.push(format!(
                        "{} was {} bytes; only the first part is above, all of it is in the file {path} of the session's workspace (read it with code, or as the resource {})",
                        o.stream.as_str(),
                        o.bytes,
                        super::resources::file_uri(session, &path)
                    ));
                    links.push(ContentBlock::resource_link(
                        rmcp::model::Resource::new(
                            super::resources::file_uri(session, &path),
                            format!("all of the {}", o.stream.as_str()),
                        )
                        .with_mime_type("text/plain"),
                    ));
                }
            }
            _ => {}
        }
    }
    let mut text = String::new();
    if !stdout.is_empty() {
        text.push_str(&stdout);
        if !stdout.ends_with('\n') {
            text.push('\n');
        }
    }
    if !stderr.is_empty() {
        text.push_str("[stderr]\n");
        text.push_str(&stderr);
        if !stderr.ends_with('\n') {
            text.push('\n');
        }
    }
    for p in &parts {
        text.push_str(p);
        text.push('\n');
    }
    for n in &notes {
        text.push_str(&format!("[mcpr] {n}\n"));
    }
    let ok = matches!(status, Some((CellStatus::Ok, _)));
    match status {
        Some((CellStatus::Ok, _)) if text.is_empty() => {
            text.push_str("(no output)\n");
        }
        Some((CellStatus::Ok, _)) => {}
        Some((s, ms)) => text.push_str(&format!(
            "[mcpr] the code ended {} after {:.1} s (session {session})\n",
            match s {
                CellStatus::Error => "with an error",
                CellStatus::Timeout => "at its time limit",
                CellStatus::Cancelled => "cancelled",
                CellStatus::KernelDied => "with the kernel's death (its state is lost)",
                CellStatus::Ok => "ok",
            },
            ms / 1000.0
        )),
        None => text.push_str("[mcpr] the code did not run\n"),
    }
    let mut content = vec![ContentBlock::text(text)];
    content.extend(links);
    if ok {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    }
}

/// The result of a `run_task` call: the answer or output, the code, a summary.
pub fn task(session: &str, events: &[Event]) -> CallToolResult {
    let code = events.iter().rev().find_map(|e| match e {
        Event::CodeGenerated { code, .. } => Some(code.clone()),
        _ => None,
    });
    let Some(summary) = events.iter().find_map(|e| match e {
        Event::StepFinished(s) => Some(s.clone()),
        _ => None,
    }) else {
        return CallToolResult::error(vec![ContentBlock::text("the task did not finish")]);
    };
    let mut text = summary
        .answer
        .clone()
        .unwrap_or_else(|| summary.output.clone());
    if let Some(code) = code {
        text.push_str(&format!("\n\n[code]\n{}", code.trim_end()));
    }
    text.push_str(&format!(
        "\n\n[mcpr] session {session}, step {}: {} in {} attempt(s){}",
        summary.step,
        if summary.success { "done" } else { "failed" },
        summary.attempts,
        summary
            .error
            .as_deref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default()
    ));
    let content = vec![ContentBlock::text(text)];
    if summary.success {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    }
}

/// Servers that could not be asked, as a trailing note.
pub fn problems(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("\n[mcpr] not searched: {}", problems.join("; "))
    }
}
