//! A tmux server of a test's own for the console's end-to-end tests: keys go in with
//! send-keys, the screen comes back with capture-pane, and `stty -a` in the pane's shell
//! says whether the terminal was given back sane.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `mcpr` the console tests run: `MCPR_BIN` when set (CI sets the release binary),
/// else the one this test build made.
pub fn console_bin() -> PathBuf {
    super::mcpr_bin()
}

/// A tmux server of the test's own, killed when the test ends.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, dir: &Path, width: u16, height: u16) -> Tmux {
        let t = Tmux {
            socket: format!("mcpr-tui-test-{}-{name}", std::process::id()),
        };
        let status = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-c", &dir.display().to_string()])
            .args([
                "env",
                "PS1=READY$ ",
                "TERM=xterm-256color",
                "bash",
                "--norc",
                "--noprofile",
            ])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux could not start a session");
        // The pane's size must not follow a client's (there is none).
        t.tmux(&["set-option", "-g", "window-size", "manual"]);
        t.wait_for("READY$", Duration::from_secs(10));
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// Types text literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Sends key names (`Enter`, `C-c`, `Escape`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        self.wait_until(limit, &format!("{text:?} on screen"), |s| s.contains(text))
    }

    pub fn wait_until(&self, limit: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > limit {
                panic!("waited {limit:?} for {what}; the screen is:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the shell's own prompt on the last line, the console's frames gone.
    pub fn wait_for_shell(&self, limit: Duration, what: &str) -> String {
        self.wait_until(limit, what, |s| {
            !s.contains("╭")
                && s.lines().rev().map(str::trim_end).find(|l| !l.is_empty()) == Some("READY$")
        })
    }

    /// `stty -a` in the pane's shell: whether icanon and echo are on.
    pub fn sane_terminal(&self) -> String {
        self.keys(&["C-l"]);
        self.type_text("stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sort | tr '\\n' ' '; echo '<stty'");
        self.keys(&["Enter"]);
        self.wait_until(Duration::from_secs(10), "stty's answer", |s| {
            s.lines()
                .any(|l| l.ends_with("<stty") && !l.contains("grep"))
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

pub fn tmux_missing() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return false;
    }
    eprintln!(
        "SKIPPED a console end-to-end test: tmux is not installed (apt-get install tmux; CI installs it)"
    );
    true
}
