//! A replay that stopped because re-running a recorded cell did something else than the
//! record holds: which step, which cell and what differed, read from the engine's error
//! (`replay diverged at step S of session N (cell C of the step): DIFFERENCE`), so that
//! the console can show the recorded cell beside what happened.

use crate::engine::query::NodeRef;

#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    pub at: NodeRef,
    /// 1-based cell within the step (0: the step's startup code).
    pub cell: usize,
    /// What the re-run did against what the record holds.
    pub difference: String,
    /// The engine's whole message (with the way out).
    pub message: String,
}

/// Reads a divergence out of an engine error's message, when it is one.
pub fn parse(message: &str) -> Option<Divergence> {
    let rest = message.split("replay diverged at step ").nth(1)?;
    let (step, rest) = rest.split_once(" of session ")?;
    let (session, rest) = rest.split_once(" (cell ")?;
    let (cell, rest) = rest.split_once(" of the step): ")?;
    let difference = rest.lines().next().unwrap_or_default().to_string();
    Some(Divergence {
        at: NodeRef {
            session: session.to_string(),
            step: step.trim().parse().ok()?,
        },
        cell: cell.trim().parse().ok()?,
        difference,
        message: message.to_string(),
    })
}

/// The call a difference names on each side, when it names one: (the code's call, the
/// record's call), e.g. `the code called demo.x with {..} where the record has {..}`.
pub fn sides(difference: &str) -> (String, String) {
    if let Some(rest) = difference.strip_prefix("the code called ")
        && let Some((ran, recorded)) = rest.split_once(" where the record has ")
    {
        return (ran.to_string(), recorded.to_string());
    }
    if let Some(rest) = difference.strip_prefix("the recorded call ") {
        let call = rest.trim_end_matches(" was not made again");
        return ("(not made)".to_string(), call.to_string());
    }
    if let Some(rest) = difference.strip_prefix("the cell ended ")
        && let Some((ran, recorded)) = rest.split_once(" where the record has ")
    {
        return (format!("ended {ran}"), format!("ended {recorded}"));
    }
    (difference.to_string(), "as recorded".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::replay::{Divergence as D, ReplayError};

    #[test]
    fn the_engines_message_reads_back_as_the_divergence() {
        let e = crate::engine::EngineError::replay(
            "s",
            ReplayError::Diverged(D {
                session: "s-fork-1".into(),
                step: 3,
                cell: 2,
                difference:
                    "the code called tools.call with {\"a\":2} where the record has {\"a\":1}"
                        .into(),
            }),
        );
        let d = parse(&e.to_string()).expect("a divergence");
        assert_eq!(d.at.session, "s-fork-1");
        assert_eq!(d.at.step, 3);
        assert_eq!(d.cell, 2);
        let (ran, recorded) = sides(&d.difference);
        assert_eq!(ran, "tools.call with {\"a\":2}");
        assert_eq!(recorded, "{\"a\":1}");
        assert!(parse("could not restore the workspace for step 2: gone").is_none());
    }
}
