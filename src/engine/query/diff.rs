//! Two sessions or branches compared step by step, as data.

use serde::{Deserialize, Serialize};

use super::QueryError;
use super::steps::history_steps;
use crate::record::recorder::ReplayDir;
use crate::record::replay::HistoryStep;

/// A session (its head) or a step of its tree: `NAME` or `NAME@STEP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRef {
    pub session: String,
    /// None: the session's head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
}

impl StepRef {
    /// Reads `NAME` or `NAME@STEP`.
    pub fn parse(spec: &str) -> Result<StepRef, QueryError> {
        let bad = |why: String| QueryError::BadStepRef {
            spec: spec.to_string(),
            why,
        };
        match spec.rsplit_once('@') {
            Some((name, step)) => {
                let step = step
                    .parse()
                    .map_err(|_| bad(format!("after `@` comes a step number, e.g. {name}@3")))?;
                if name.is_empty() {
                    return Err(bad(format!(
                        "before `@` comes a session's name, e.g. NAME@{step} (see `mcpr replay list`)"
                    )));
                }
                Ok(StepRef {
                    session: name.to_string(),
                    step: Some(step),
                })
            }
            None if spec.is_empty() => Err(bad(
                "name a session, or a step of one as NAME@STEP (see `mcpr replay list`)".into(),
            )),
            None => Ok(StepRef {
                session: spec.to_string(),
                step: None,
            }),
        }
    }
}

impl std::str::FromStr for StepRef {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepRef::parse(s)
    }
}

impl std::fmt::Display for StepRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(step) => write!(f, "{}@{step}", self.session),
            None => f.write_str(&self.session),
        }
    }
}

/// What a line of a line diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffTag {
    Equal,
    /// Only in A.
    Delete,
    /// Only in B.
    Insert,
}

impl DiffTag {
    /// ` `, `-` or `+`, as diff(1) marks lines.
    pub fn sign(self) -> &'static str {
        match self {
            DiffTag::Equal => " ",
            DiffTag::Delete => "-",
            DiffTag::Insert => "+",
        }
    }
}

/// One line of a line diff (without its line break).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub tag: DiffTag,
    pub text: String,
}

/// The steps at one position of two histories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    /// 1-based position in the histories.
    pub position: usize,
    /// (session, step) of A's step there; None when A's history is shorter.
    pub a: Option<(String, u64)>,
    pub b: Option<(String, u64)>,
    /// The same recorded step (shared through a fork, or before a rewind's branch point).
    pub shared: bool,
    /// Code: the task (as a `# task:` line) and the cells' code.
    pub same_code: bool,
    /// The cells' output and values.
    pub same_output: bool,
    /// Success alike (an absent or interrupted step counts as no result).
    pub same_result: bool,
    /// Whether each step succeeded; None when absent or interrupted.
    #[serde(default)]
    pub a_success: Option<bool>,
    #[serde(default)]
    pub b_success: Option<bool>,
    /// For a row that is not shared: the line diff of the code, when it differs (a missing
    /// step compares as empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<DiffLine>,
    /// The same for the output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<DiffLine>,
}

impl DiffRow {
    /// Code, output and result are all the same.
    pub fn same(&self) -> bool {
        self.same_code && self.same_output && self.same_result
    }
}

/// Two histories compared position by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub a: StepRef,
    pub b: StepRef,
    pub rows: Vec<DiffRow>,
    /// Some row differs in code, output or result.
    pub differs: bool,
    /// What reading the logs met, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The code and output text of a step, as compared.
fn step_text(h: &HistoryStep) -> (String, String) {
    let cells = h.step.cells();
    let code: Vec<&str> = cells.iter().map(|c| c.code.as_str()).collect();
    let output: Vec<&str> = cells.iter().map(|c| c.output.as_str()).collect();
    let code = match &h.step.begin.task {
        Some(t) => format!("# task: {t}\n{}", code.join("\n")),
        None => code.join("\n"),
    };
    (code, output.join(""))
}

fn line_diff(a: &str, b: &str) -> Vec<DiffLine> {
    if a == b {
        return Vec::new();
    }
    similar::TextDiff::from_lines(a, b)
        .iter_all_changes()
        .map(|change| DiffLine {
            tag: match change.tag() {
                similar::ChangeTag::Delete => DiffTag::Delete,
                similar::ChangeTag::Insert => DiffTag::Insert,
                similar::ChangeTag::Equal => DiffTag::Equal,
            },
            text: change.value().trim_end_matches('\n').to_string(),
        })
        .collect()
}

/// Compares the history of `a` with that of `b` (each from the start of its tree to the
/// step named, or to the head with its interrupted steps, as [`super::history`] lists
/// them), position by position.
pub fn diff(dir: &ReplayDir, a: &StepRef, b: &StepRef) -> Result<Diff, QueryError> {
    let (left, _, mut warnings) = history_steps(dir, &a.session, a.step)?;
    let (right, _, more) = history_steps(dir, &b.session, b.step)?;
    warnings.extend(more);
    let key = |h: Option<&HistoryStep>| h.map(|h| (h.session.clone(), h.step.id()));
    let success = |h: Option<&HistoryStep>| h.and_then(|h| h.step.end.as_ref().map(|e| e.success));
    let rows: Vec<DiffRow> = (0..left.len().max(right.len()))
        .map(|i| {
            let (l, r) = (left.get(i), right.get(i));
            let shared = l.is_some() && key(l) == key(r);
            let (lt, rt) = (l.map(step_text), r.map(step_text));
            let mut row = DiffRow {
                position: i + 1,
                a: key(l),
                b: key(r),
                shared,
                same_code: lt.as_ref().map(|t| &t.0) == rt.as_ref().map(|t| &t.0),
                same_output: lt.as_ref().map(|t| &t.1) == rt.as_ref().map(|t| &t.1),
                same_result: success(l) == success(r),
                a_success: success(l),
                b_success: success(r),
                code: Vec::new(),
                output: Vec::new(),
            };
            if !shared && !row.same() {
                let (lt, rt) = (lt.unwrap_or_default(), rt.unwrap_or_default());
                row.code = line_diff(&lt.0, &rt.0);
                row.output = line_diff(&lt.1, &rt.1);
            }
            row
        })
        .collect();
    Ok(Diff {
        a: a.clone(),
        b: b.clone(),
        differs: rows.iter().any(|r| !r.same()),
        rows,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_references_parse_with_clear_errors() {
        assert_eq!(
            StepRef::parse("s").unwrap(),
            StepRef {
                session: "s".into(),
                step: None
            }
        );
        assert_eq!(
            StepRef::parse("a@b@3").unwrap(),
            StepRef {
                session: "a@b".into(),
                step: Some(3)
            }
        );
        assert_eq!(StepRef::parse("s@2").unwrap().to_string(), "s@2");
        let e = StepRef::parse("s@two").unwrap_err();
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "\"s@two\": after `@` comes a step number, e.g. s@3"
        );
        assert!(
            StepRef::parse("@3")
                .unwrap_err()
                .to_string()
                .contains("session's name")
        );
        assert!(StepRef::parse("").is_err());
    }

    #[test]
    fn line_diffs_mark_deleted_and_inserted_lines() {
        let d = line_diff("a\nb\n", "a\nc\n");
        let tags: Vec<(DiffTag, &str)> = d.iter().map(|l| (l.tag, l.text.as_str())).collect();
        assert_eq!(
            tags,
            vec![
                (DiffTag::Equal, "a"),
                (DiffTag::Delete, "b"),
                (DiffTag::Insert, "c")
            ]
        );
        assert!(line_diff("same", "same").is_empty());
    }
}
