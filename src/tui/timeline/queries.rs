//! The timeline's queries, run by the console's runtime on a blocking thread (never on
//! the draw path): each a call of the engine's query API over the project's record.

use std::path::Path;

use super::{TimelineAction, TimelineEffect};
use crate::engine::query;
use crate::record::recorder::ReplayDir;

/// How many steps a search of tasks and code lists.
const SEARCH_LIMIT: usize = 30;

/// Runs one query over the record at `root`; None for an effect that is not a query.
pub fn run(effect: TimelineEffect, root: &Path) -> Option<TimelineAction> {
    let dir = ReplayDir::open_existing(root);
    let none = || {
        format!(
            "no sessions are recorded in {} yet: each task or cell of a session is recorded",
            root.display()
        )
    };
    Some(match effect {
        TimelineEffect::Load {
            session,
            generation,
        } => TimelineAction::Loaded {
            generation,
            result: dir
                .ok_or_else(none)
                .and_then(|d| query::timeline(&d, &session).map_err(|e| e.to_string())),
        },
        TimelineEffect::Details(refs) => TimelineAction::Details(
            dir.ok_or_else(none)
                .and_then(|d| query::step_details(&d, &refs).map_err(|e| e.to_string())),
        ),
        TimelineEffect::Plan {
            session,
            step,
            opens,
        } => TimelineAction::Plan {
            opens,
            result: dir
                .ok_or_else(none)
                .and_then(|d| query::rewind_plan(&d, &session, step).map_err(|e| e.to_string())),
        },
        TimelineEffect::Diff { a, b } => TimelineAction::Diff(
            dir.ok_or_else(none)
                .and_then(|d| query::diff(&d, &a, &b).map_err(|e| e.to_string())),
        ),
        TimelineEffect::Sessions { query: q } => {
            let result = match dir {
                None => Ok((Vec::new(), Vec::new())),
                Some(d) => sessions(&d, &q),
            };
            TimelineAction::Sessions { query: q, result }
        }
        TimelineEffect::Open(_) => return None,
    })
}

type Listing = (
    Vec<crate::record::index::SessionRow>,
    Vec<crate::record::index::StepHit>,
);

fn sessions(dir: &ReplayDir, q: &str) -> Result<Listing, String> {
    let rows = query::sessions(dir).map_err(|e| e.to_string())?.sessions;
    let hits = if q.trim().is_empty() {
        Vec::new()
    } else {
        // Words as prefixes, so that the list narrows while typing.
        let fts: Vec<String> = q
            .split_whitespace()
            .map(|w| {
                let w: String = w
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                format!("{w}*")
            })
            .filter(|w| w.len() > 1)
            .collect();
        if fts.is_empty() {
            Vec::new()
        } else {
            query::search(dir, &fts.join(" "), SEARCH_LIMIT)
                .map(|r| r.hits)
                .unwrap_or_default()
        }
    };
    Ok((rows, hits))
}
