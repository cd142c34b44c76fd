//! A replay that stopped because re-running a recorded cell did something else than the
//! record holds: which step, which cell and what differed (the engine's `OpEnded` carries
//! it), so that the console can show the recorded cell beside what happened.

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

impl Divergence {
    /// The console's view of the engine's divergence; `message` is the error it ended
    /// the operation with.
    pub fn new(d: &crate::record::replay::Divergence, message: &str) -> Divergence {
        Divergence {
            at: NodeRef {
                session: d.session.clone(),
                step: d.step,
            },
            cell: d.cell,
            difference: d.difference.clone(),
            message: message.to_string(),
        }
    }
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

    #[test]
    fn a_difference_names_the_call_on_each_side() {
        let (ran, recorded) =
            sides("the code called tools.call with {\"a\":2} where the record has {\"a\":1}");
        assert_eq!(ran, "tools.call with {\"a\":2}");
        assert_eq!(recorded, "{\"a\":1}");
        let (ran, recorded) = sides("the recorded call demo.x({}) was not made again");
        assert_eq!(
            (ran.as_str(), recorded.as_str()),
            ("(not made)", "demo.x({})")
        );
        let (ran, recorded) = sides("the cell ended Ok where the record has Error");
        assert_eq!(
            (ran.as_str(), recorded.as_str()),
            ("ended Ok", "ended Error")
        );
    }
}
