//! One recorded step in one shape ([`StepView`]), and a session's steps up to one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

use super::QueryError;
use crate::event::{CallOutcome, CellStatus, Event};
use crate::record::log::{Detail, SessionLog, Step, StepKind};
use crate::record::recorder::{RecordError, ReplayDir};
use crate::record::replay::HistoryStep;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Cancelled before it ended (its summary says so); its state stayed for the next step.
    Cancelled,
    /// mcpr stopped before the step ended (no `end` line): shown, never replayed.
    Interrupted,
}

impl StepStatus {
    pub fn of(step: &Step) -> StepStatus {
        let Some(end) = &step.end else {
            return StepStatus::Interrupted;
        };
        let cancelled = step.events.iter().any(|e| match e {
            Event::StepFinished(s) => s.cancelled,
            _ => false,
        });
        match (cancelled, end.success) {
            (true, _) => StepStatus::Cancelled,
            (false, true) => StepStatus::Ok,
            (false, false) => StepStatus::Failed,
        }
    }

    /// The word for it: `ok`, `failed`, `cancelled`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host call of a cell (a tool call, an `ask_llm`, …) and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    pub name: String,
    pub args: Value,
    pub outcome: CallOutcome,
}

/// One cell a step ran (an attempt, for a task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellView {
    pub code: String,
    /// None when the cell never finished (the step was interrupted).
    pub status: Option<CellStatus>,
    /// Output and value text, in order.
    pub output: String,
    pub calls: Vec<CallView>,
}

/// One recorded step: what `mcpr replay show --json` prints for each step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// The session whose log holds the step (a fork ancestor's, for a shared step).
    pub session: String,
    pub step: u64,
    /// The step it continued from (0: none).
    pub parent: u64,
    pub kind: StepKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub started: String,
    pub success: bool,
    /// mcpr stopped before the step ended: shown, never replayed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub duration_ms: f64,
    pub cells: Vec<CellView>,
    /// The number of LLM exchanges (for code and from `ask_llm`).
    pub llm_calls: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The workspace snapshot at its end (empty when interrupted).
    pub snapshot: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_used: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_created: Vec<String>,
    /// The task in words, or the first cell's code.
    pub title: String,
    pub status: StepStatus,
    /// Tokens of its LLM exchanges, summed.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Why a replay cannot re-create the step exactly (a secret was redacted from
    /// something replay needs), when that is so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inexact: Option<String>,
    /// The branch of its session's log the step is on (see [`super::Timeline`]).
    pub branch: String,
}

/// A session's steps up to one, as `mcpr replay show` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub session: String,
    pub steps: Vec<StepView>,
    /// What reading met on the way (unreadable lines, a damaged step), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The view of step `step` of `session`'s tree: one of its own steps (interrupted ones
/// included) or one it shares with a fork ancestor.
pub fn step_view(dir: &ReplayDir, session: &str, step: u64) -> Result<StepView, QueryError> {
    let log = dir.read(session, Detail::Full)?;
    if let Some(own) = log.step(step) {
        let branch = branch_labels(&log).remove(&step).unwrap_or_default();
        return Ok(view(session, own, branch));
    }
    let (path, _) = dir.history(&log, Some(step))?;
    let Some(found) = path.last().filter(|h| h.step.id() == step) else {
        return Err(QueryError::NoStep {
            session: session.to_string(),
            step,
            hint: " (see `mcpr replay timeline`)".into(),
        });
    };
    let branch = labels_of(dir, &found.session)
        .remove(&step)
        .unwrap_or_else(|| found.session.clone());
    Ok(view(&found.session, &found.step, branch))
}

/// The steps of `session` from the start of its tree to `upto` (default: its head,
/// followed by its interrupted steps in their place). When the head's history cannot be
/// rebuilt (a damaged line), every own step that can be read is listed instead, with a
/// warning saying why.
pub fn history(dir: &ReplayDir, session: &str, upto: Option<u64>) -> Result<History, QueryError> {
    let (steps, log, warnings) = history_steps(dir, session, upto)?;
    let mut labels: HashMap<String, HashMap<u64, String>> = HashMap::new();
    labels.insert(session.to_string(), branch_labels(&log));
    let steps = steps
        .iter()
        .map(|h| {
            let branch = labels
                .entry(h.session.clone())
                .or_insert_with(|| labels_of(dir, &h.session))
                .get(&h.step.id())
                .cloned()
                .unwrap_or_else(|| h.session.clone());
            view(&h.session, &h.step, branch)
        })
        .collect();
    Ok(History {
        session: session.to_string(),
        steps,
        warnings,
    })
}

/// The recorded steps of [`history`], the log of `session`, and the warnings.
pub(super) fn history_steps(
    dir: &ReplayDir,
    session: &str,
    upto: Option<u64>,
) -> Result<(Vec<HistoryStep>, SessionLog, Vec<String>), QueryError> {
    let log = dir.read(session, Detail::Full)?;
    let mut warnings: Vec<String> = log
        .warnings
        .iter()
        .map(|w| format!("{}: {w}", log.path.display()))
        .collect();
    let mut steps = match dir.history(&log, upto) {
        Ok((steps, _)) => steps,
        // The head's history is broken: every step that can be read, and why and how to
        // go on, rather than nothing.
        Err(e @ RecordError::Damaged { .. }) if upto.is_none() => {
            warnings.push(e.to_string());
            log.steps
                .iter()
                .map(|s| HistoryStep {
                    session: log.header.name.clone(),
                    step: s.clone(),
                })
                .collect()
        }
        Err(e) => return Err(e.into()),
    };
    if upto.is_none() {
        // Interrupted steps are listed too, in their place, marked (never replayed).
        let shown: Vec<u64> = steps.iter().map(|h| h.step.id()).collect();
        steps.extend(
            log.steps
                .iter()
                .filter(|s| !s.complete() && !shown.contains(&s.id()))
                .map(|s| HistoryStep {
                    session: log.header.name.clone(),
                    step: s.clone(),
                }),
        );
        steps.sort_by_key(|h| h.step.id());
    }
    Ok((steps, log, warnings))
}

/// The branch labels of the own steps of session `name` (empty when its log cannot be
/// read: the caller falls back to the session's name).
fn labels_of(dir: &ReplayDir, name: &str) -> HashMap<u64, String> {
    dir.read(name, Detail::Outline)
        .map(|log| branch_labels(&log))
        .unwrap_or_default()
}

/// The branch each own step of a log is on: `NAME` for the steps on the path to its head,
/// `NAME~LEAF` for the others, LEAF being the step the branch ends with when followed
/// from the step through its earliest child each time (so a rewind's abandoned line of
/// steps keeps one label, and a line begun later from within it gets its own).
pub(super) fn branch_labels(log: &SessionLog) -> HashMap<u64, String> {
    let name = &log.header.name;
    let by_id: HashMap<u64, &Step> = log.steps.iter().map(|s| (s.id(), s)).collect();
    let mut head_path = std::collections::HashSet::new();
    let mut at = log.head;
    while let Some(step) = by_id.get(&at) {
        if !head_path.insert(at) {
            break;
        }
        at = step.begin.parent;
    }
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for s in &log.steps {
        if by_id.contains_key(&s.begin.parent) {
            children.entry(s.begin.parent).or_default().push(s.id());
        }
    }
    for c in children.values_mut() {
        c.sort_unstable();
    }
    log.steps
        .iter()
        .map(|s| {
            if head_path.contains(&s.id()) {
                return (s.id(), name.clone());
            }
            let mut leaf = s.id();
            // Ids grow along a branch; the bound only guards against a corrupt log.
            for _ in 0..=log.steps.len() {
                match children.get(&leaf).and_then(|c| c.first()) {
                    Some(&next) if next > leaf => leaf = next,
                    _ => break,
                }
            }
            (s.id(), format!("{name}~{leaf}"))
        })
        .collect()
}

/// Prompt and completion tokens of a step's LLM exchanges, and their number.
pub(super) fn llm_usage(step: &Step) -> (usize, u64, u64) {
    step.events
        .iter()
        .fold((0, 0, 0), |(n, prompt, completion), e| match e {
            Event::LlmCall { usage, .. } => (
                n + 1,
                prompt + usage.prompt_tokens,
                completion + usage.completion_tokens,
            ),
            _ => (n, prompt, completion),
        })
}

/// The view of `step`, held by the log of `session`, on branch `branch`.
pub(super) fn view(session: &str, step: &Step, branch: String) -> StepView {
    let end = step.end.as_ref();
    let (llm_calls, prompt_tokens, completion_tokens) = llm_usage(step);
    StepView {
        session: session.to_string(),
        step: step.id(),
        parent: step.begin.parent,
        kind: step.begin.kind,
        task: step.begin.task.clone(),
        started: step.begin.started.clone(),
        success: end.is_some_and(|e| e.success),
        interrupted: end.is_none(),
        duration_ms: end.map_or(0.0, |e| e.duration_ms),
        cells: step
            .cells()
            .into_iter()
            .map(|c| CellView {
                code: c.code,
                status: c.status,
                output: c.output,
                calls: c
                    .calls
                    .into_iter()
                    .map(|(name, args, outcome)| CallView {
                        name,
                        args,
                        outcome,
                    })
                    .collect(),
            })
            .collect(),
        llm_calls,
        answer: step.events.iter().find_map(|e| match e {
            Event::StepFinished(s) => s.answer.clone(),
            _ => None,
        }),
        snapshot: end.map(|e| e.snapshot.clone()).unwrap_or_default(),
        skills_used: end.map(|e| e.skills_used.clone()).unwrap_or_default(),
        skills_created: end.map(|e| e.skills_created.clone()).unwrap_or_default(),
        title: step.title(),
        status: StepStatus::of(step),
        prompt_tokens,
        completion_tokens,
        inexact: end.and_then(|e| e.inexact.clone()),
        branch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::StepSummary;
    use crate::record::log::{SessionHeader, StepBegin, StepEnd};

    fn step(id: u64, parent: u64, end: Option<bool>, events: Vec<Event>) -> Step {
        Step {
            begin: StepBegin {
                step: id,
                parent,
                kind: StepKind::Task,
                task: Some(format!("task {id}")),
                startup: None,
                started: String::new(),
            },
            events,
            end: end.map(|success| StepEnd {
                step: id,
                success,
                duration_ms: 1.0,
                snapshot: String::new(),
                skills_used: Vec::new(),
                skills_created: Vec::new(),
                inexact: None,
            }),
            line: id as usize,
            interruption_noted: false,
            checkpoint: None,
        }
    }

    fn log(steps: Vec<Step>, head: u64) -> SessionLog {
        SessionLog {
            path: "s.jsonl".into(),
            header: SessionHeader {
                format: 1,
                id: "0".into(),
                name: "s".into(),
                created: String::new(),
                fork: None,
                base: String::new(),
                mcpr: String::new(),
            },
            steps,
            head,
            warnings: Vec::new(),
            damaged: Vec::new(),
        }
    }

    #[test]
    fn a_cancelled_step_says_so_and_tokens_are_summed() {
        let summary = StepSummary {
            step: 1,
            success: false,
            answer: None,
            output: String::new(),
            error: None,
            attempts: 1,
            llm_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_ms: 0.0,
            exec_ms: 0.0,
            skills_used: Vec::new(),
            skills_created: Vec::new(),
            skill_not_kept: None,
            answered_without_code: false,
            cancelled: true,
        };
        let llm = |prompt, completion| Event::LlmCall {
            step: 1,
            purpose: crate::event::LlmPurpose::Code,
            provider: "script".into(),
            model: "m".into(),
            request: Vec::new(),
            response: String::new(),
            usage: crate::llm::Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                estimated: false,
            },
            duration_ms: 0.0,
            attempts: 1,
        };
        let s = step(
            1,
            0,
            Some(false),
            vec![llm(10, 2), llm(5, 1), Event::StepFinished(summary)],
        );
        let v = view("s", &s, "s".into());
        assert_eq!(v.status, StepStatus::Cancelled);
        assert_eq!(
            (v.llm_calls, v.prompt_tokens, v.completion_tokens),
            (2, 15, 3)
        );
        assert_eq!(v.title, "task 1");
        assert_eq!(
            StepStatus::of(&step(2, 1, None, Vec::new())),
            StepStatus::Interrupted
        );
        assert_eq!(
            StepStatus::of(&step(2, 1, Some(true), Vec::new())),
            StepStatus::Ok
        );
        // The view reads back as itself.
        let back: StepView = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn branches_are_named_after_the_head_and_the_leaves() {
        // 1 ─ 2 ─ 3 ─ 6        rewound to 2: 4 (then 7 from 4); rewound to 1: 5 (head)
        //      ╰ 4 ─ 7
        //  ╰ 5
        let steps = vec![
            step(1, 0, Some(true), Vec::new()),
            step(2, 1, Some(true), Vec::new()),
            step(3, 2, Some(true), Vec::new()),
            step(4, 2, Some(true), Vec::new()),
            step(5, 1, Some(true), Vec::new()),
            step(6, 3, Some(true), Vec::new()),
            step(7, 4, None, Vec::new()),
        ];
        let labels = branch_labels(&log(steps.clone(), 5));
        let label = |id: u64| labels[&id].as_str();
        assert_eq!(
            (1..=7).map(label).collect::<Vec<_>>(),
            vec!["s", "s~6", "s~6", "s~7", "s", "s~6", "s~7"]
        );
        // Head moved back to 3: that line is `s` now, up to the head only.
        let labels = branch_labels(&log(steps, 3));
        let label = |id: u64| labels[&id].as_str();
        assert_eq!(
            (1..=7).map(label).collect::<Vec<_>>(),
            vec!["s", "s", "s", "s~7", "s~5", "s~6", "s~7"]
        );
    }
}
