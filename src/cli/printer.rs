//! Shows events in the terminal: program output on stdout, everything else on stderr,
//! or one JSON object per line with `--json`.

use std::io::Write;

use crate::event::{CellStatus, Event, Stream};

pub struct Printer {
    pub json: bool,
    pub workspace_shown: String,
}

/// Whether the model's streamed words are already in front of the user on this terminal.
fn streamed_to_same_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

impl Printer {
    pub fn note(&self, text: &str) {
        if !self.json {
            errln!("[mcpr] {text}");
        }
    }

    pub fn show(&mut self, event: Event) {
        if self.json {
            // How operations end is the CLI's own business, not the user's.
            if matches!(event, Event::OpEnded { .. }) {
                return;
            }
            if let Ok(line) = serde_json::to_string(&event) {
                outln!("{line}");
            }
            return;
        }
        match event {
            Event::Output { stream, text, .. } => match stream {
                Stream::Stdout => super::out::write_bytes(text.as_bytes()),
                Stream::Stderr => err!("{text}"),
            },
            Event::Value { repr, .. } => outln!("{repr}"),
            Event::Error {
                ename,
                message,
                traceback,
                ..
            } => {
                if traceback.trim().is_empty() || !traceback.contains(&ename) {
                    if !traceback.trim().is_empty() {
                        err!("{traceback}");
                    }
                    errln!("{ename}: {message}");
                } else if ename == "KeyboardInterrupt" {
                    err!(
                        "{}",
                        traceback
                            .trim_end_matches('\n')
                            .trim_end_matches("KeyboardInterrupt")
                    );
                    errln!("KeyboardInterrupt: {message}");
                } else {
                    err!("{traceback}");
                }
            }
            Event::KernelRestarted { reason } => self.note(&reason),
            Event::ReplayDiffered {
                session,
                step,
                cell,
                difference,
            } => self.note(&differed(&session, step, cell, &difference)),
            Event::CellFinished {
                cell,
                status,
                overflow,
                ..
            } => {
                for o in overflow {
                    self.note(&format!(
                        "cell {cell} {} was {} bytes; only the first part was shown, all of it is in {}/{}",
                        o.stream.as_str(),
                        o.bytes,
                        self.workspace_shown,
                        o.path.display()
                    ));
                }
                if status == CellStatus::Timeout || status == CellStatus::Cancelled {
                    self.note(&format!("cell {cell} stopped: {status:?}").to_lowercase());
                }
            }
            Event::LlmToken { text, .. } => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
            }
            Event::CodeGenerated { attempt, .. } => {
                errln!("\n[mcpr] running the code (attempt {attempt})");
            }
            Event::LlmFailed { message, .. } => {
                self.note(&format!("the model did not answer: {message}"))
            }
            Event::Notice { message, .. } => self.note(&message),
            Event::LlmCall { .. } => errln!(),
            Event::StepFinished(s) => {
                // The answer belongs on stdout, unless the user just watched it stream there.
                if let Some(answer) = &s.answer
                    && !streamed_to_same_terminal()
                {
                    outln!("{answer}");
                }
                let outcome = match (s.success, s.answered_without_code) {
                    _ if s.cancelled => "cancelled",
                    (true, false) => "done",
                    (true, true) => "answered without code",
                    (false, true) => "failed: answered without code",
                    (false, false) => "failed",
                };
                self.note(&format!(
                    "step {} {outcome}: {} attempt(s), {} LLM call(s), {} + {} tokens, {:.1} s in the model, {:.1} s running code{}",
                    s.step,
                    s.attempts,
                    s.llm_calls,
                    s.prompt_tokens,
                    s.completion_tokens,
                    s.llm_ms / 1000.0,
                    s.exec_ms / 1000.0,
                    s.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
                ));
                if !s.skills_created.is_empty() {
                    self.note(&format!(
                        "kept as skill: {} (`mcpr skills show NAME`)",
                        s.skills_created.join(", ")
                    ));
                } else if let Some(why) = &s.skill_not_kept {
                    self.note(&format!("not kept as a skill: {why}"));
                }
            }
            Event::CodeRequested { prompt, .. } => {
                let excerpt: Vec<&str> = prompt.lines().rev().take(12).collect();
                let excerpt: Vec<&str> = excerpt.into_iter().rev().collect();
                errln!(
                    "\n--- the model's turn (manual mode) ---\n{}\n--- type Python code; end with a line holding only '.', or '.' alone to finish ---",
                    excerpt.join("\n")
                );
            }
            Event::ApprovalRequested(r) => {
                err!(
                    "[mcpr] the code calls {}.{}({}): {}. Allow it? [y] once, [a] for this session, [N] no: ",
                    r.server,
                    r.tool,
                    crate::record::clip(&r.args.to_string(), 200),
                    r.reason
                );
            }
            Event::ApprovalAnswered { decision, .. } => self.note(match decision {
                crate::tools::policy::Decision::AllowOnce => "allowed once",
                crate::tools::policy::Decision::AllowSession => "allowed for this session",
                crate::tools::policy::Decision::Deny => "denied",
            }),
            Event::SessionStarted { .. }
            | Event::CallStarted { .. }
            | Event::StepRecorded { .. }
            | Event::HeadMoved { .. }
            | Event::ReplayProgress { .. }
            // Said by the notice that comes with it.
            | Event::StateRestored { .. }
            | Event::CheckpointKept { .. }
            | Event::Forked { .. }
            | Event::OpEnded { .. }
            | Event::CellStarted { .. }
            | Event::HostCall { .. }
            | Event::StepStarted { .. }
            | Event::Variables { .. } => {}
        }
    }
}

/// The warning for a replayed cell that came back different.
pub fn differed(session: &str, step: u64, cell: u64, difference: &str) -> String {
    format!(
        "warning: step {step} of session {session} (cell {cell}) came back different when re-run: {difference}. Its code is not deterministic (random numbers, time, hash order), so the state rebuilt may differ from the original"
    )
}
