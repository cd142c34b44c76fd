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
            eprintln!("[mcpr] {text}");
        }
    }

    pub fn show(&mut self, event: Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(&event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        match event {
            Event::Output { stream, text, .. } => {
                let _ = match stream {
                    Stream::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(text.as_bytes()).and_then(|()| out.flush())
                    }
                    Stream::Stderr => {
                        let mut err = std::io::stderr().lock();
                        err.write_all(text.as_bytes()).and_then(|()| err.flush())
                    }
                };
            }
            Event::Value { repr, .. } => println!("{repr}"),
            Event::Error {
                ename,
                message,
                traceback,
                ..
            } => {
                if traceback.trim().is_empty() || !traceback.contains(&ename) {
                    if !traceback.trim().is_empty() {
                        eprint!("{traceback}");
                    }
                    eprintln!("{ename}: {message}");
                } else if ename == "KeyboardInterrupt" {
                    eprint!(
                        "{}",
                        traceback
                            .trim_end_matches('\n')
                            .trim_end_matches("KeyboardInterrupt")
                    );
                    eprintln!("KeyboardInterrupt: {message}");
                } else {
                    eprint!("{traceback}");
                }
            }
            Event::KernelRestarted { reason } => self.note(&reason),
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
                eprintln!("\n[mcpr] running the code (attempt {attempt})");
            }
            Event::LlmFailed { message, .. } => {
                self.note(&format!("the model did not answer: {message}"))
            }
            Event::Notice { message, .. } => self.note(&message),
            Event::LlmCall { .. } => eprintln!(),
            Event::StepFinished(s) => {
                // The answer belongs on stdout, unless the user just watched it stream there.
                if let Some(answer) = &s.answer
                    && !streamed_to_same_terminal()
                {
                    println!("{answer}");
                }
                let outcome = if s.success { "done" } else { "failed" };
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
            Event::SessionStarted { .. }
            | Event::CellStarted { .. }
            | Event::HostCall { .. }
            | Event::StepStarted { .. } => {}
        }
    }
}
