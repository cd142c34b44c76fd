//! The registry of console commands — name, where it applies, default keys, help — and
//! the keymap built from it: key dispatch, the `?` help and the Ctrl+P palette all read
//! this one table. A keymap file (`~/.config/mcpr/keymap.toml`, then the project's
//! `keymap.toml`) rebinds only the commands it names. Never touches the terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Where a command applies. `Panes` is any pane but the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Global,
    Prompt,
    Panes,
    Output,
    Code,
    Variables,
    Skills,
    Timeline,
    Approval,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Prompt => "prompt",
            Context::Panes => "any pane but the prompt",
            Context::Output => "output",
            Context::Code => "code",
            Context::Variables => "variables",
            Context::Skills => "skills",
            Context::Timeline => "timeline",
            Context::Approval => "approval dialog",
        }
    }

    /// Whether a key bound in both contexts would be ambiguous.
    fn overlaps(self, other: Context) -> bool {
        use Context::*;
        if self == other {
            return true;
        }
        let pane = |c: Context| matches!(c, Output | Code | Variables | Skills | Timeline);
        match (self, other) {
            (Approval, _) | (_, Approval) => false,
            (Global, _) | (_, Global) => true,
            (Panes, c) | (c, Panes) => pane(c),
            _ => false,
        }
    }
}

macro_rules! commands {
    ($( $variant:ident, $name:literal, $ctx:ident, [$($key:literal),*], $help:literal; )*) => {
        /// Everything a key can do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Command { $($variant),* }

        /// The registry: every command with its name, context, default keys and help.
        pub const COMMANDS: &[CommandInfo] = &[
            $(CommandInfo {
                command: Command::$variant,
                name: $name,
                context: Context::$ctx,
                keys: &[$($key),*],
                help: $help,
            }),*
        ];
    };
}

#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    pub command: Command,
    /// The name a keymap file uses.
    pub name: &'static str,
    pub context: Context,
    pub keys: &'static [&'static str],
    pub help: &'static str,
}

commands! {
    Quit, "quit", Global, ["q"], "quit (asks first while a step runs)";
    Cancel, "cancel", Global, ["ctrl+c"], "cancel the running step or cell; twice within a second quits";
    Suspend, "suspend", Global, ["ctrl+z"], "suspend to the shell (fg resumes)";
    Help, "help", Global, ["?", "f1"], "show this help";
    Palette, "palette", Global, ["ctrl+p"], "command palette";
    FocusNext, "focus_next", Global, ["tab"], "focus the next pane";
    FocusPrev, "focus_prev", Global, ["shift+tab"], "focus the previous pane";
    FocusPrompt, "focus_prompt", Global, ["1", "alt+1", "i"], "focus the prompt";
    FocusOutput, "focus_output", Global, ["2", "alt+2"], "focus the output";
    FocusCode, "focus_code", Global, ["3", "alt+3"], "focus the code";
    FocusVariables, "focus_variables", Global, ["4", "alt+4"], "focus the variables";
    FocusSkills, "focus_skills", Global, ["6", "alt+6"], "focus the skills";
    Zoom, "zoom", Global, ["z", "alt+z"], "zoom the focused pane to full screen and back";
    ToggleMode, "toggle_mode", Global, ["ctrl+t"], "switch the prompt between task and code mode";
    ToggleMouse, "toggle_mouse", Global, ["alt+m"], "mouse capture on/off (off: the terminal selects text)";
    Redraw, "redraw", Global, ["ctrl+l"], "redraw the screen";
    Submit, "submit", Prompt, ["enter"], "run the task or cell (or answer the model's turn)";
    Newline, "newline", Prompt, ["shift+enter", "alt+enter", "ctrl+j"], "insert a new line";
    HistoryPrev, "history_prev", Prompt, ["up"], "previous entry of the history (on the first line)";
    HistoryNext, "history_next", Prompt, ["down"], "next entry of the history (on the last line)";
    HistorySearch, "history_search", Prompt, ["ctrl+r"], "search the history";
    LeavePrompt, "leave_prompt", Prompt, ["esc"], "leave the prompt (focus the output)";
    ScrollUp, "scroll_up", Panes, ["up", "k"], "move up a line";
    ScrollDown, "scroll_down", Panes, ["down", "j"], "move down a line";
    PageUp, "page_up", Panes, ["pageup", "ctrl+b"], "move up a page";
    PageDown, "page_down", Panes, ["pagedown", "ctrl+f", "space"], "move down a page";
    Top, "top", Panes, ["home", "g"], "go to the top";
    Bottom, "bottom", Panes, ["end", "G"], "go to the end (output: follow it)";
    Copy, "copy", Panes, ["y"], "copy the focused block (code, output block, tool result, traceback) to the clipboard";
    Search, "search", Output, ["/"], "search the output";
    SearchNext, "search_next", Output, ["n"], "next match";
    SearchPrev, "search_prev", Output, ["N"], "previous match";
    ToggleWrap, "toggle_wrap", Output, ["w"], "wrap long lines on/off";
    Expand, "expand", Output, ["enter"], "expand a tool call to its arguments and result, or open an offloaded result";
    PrevAttempt, "prev_attempt", Code, ["left", "h", "["], "previous attempt";
    NextAttempt, "next_attempt", Code, ["right", "l", "]"], "next attempt";
    ToggleDiff, "toggle_diff", Code, ["d"], "show the attempt as a diff against the previous one";
    EditCode, "edit_code", Code, ["e"], "put the code in the prompt (code mode) to edit and run";
    EditExternal, "edit_external", Code, ["E"], "edit the code in $EDITOR, then run it as a cell";
    RefreshVariables, "refresh_variables", Variables, ["r"], "refresh the variables";
    ShowVariable, "show_variable", Variables, ["enter"], "show a longer repr of the variable";
    SkillShow, "skill_show", Skills, ["enter"], "show the skill: code, signature, provenance, stats";
    SkillsBack, "skills_back", Skills, ["esc"], "back to the table (clears the filter there)";
    SkillsSort, "skills_sort", Skills, ["s"], "sort by the next column (name, uses, ok, failed, last used)";
    SkillsOrder, "skills_order", Skills, ["S"], "reverse the sort order";
    SkillsFilter, "skills_filter", Skills, ["/"], "filter the skills: names, descriptions and code";
    SkillTest, "skill_test", Skills, ["t"], "test the skill in a fresh kernel (the library's own test)";
    SkillDelete, "skill_delete", Skills, ["d", "delete"], "move the skill to the trash (asks first)";
    SkillsTrash, "skills_trash", Skills, ["T"], "show the trash (and back)";
    SkillRestore, "skill_restore", Skills, ["r"], "restore the selected skill from the trash";
    SkillsPrune, "skills_prune", Skills, ["p"], "prune: choose a policy, see what would go and why, confirm";
    SkillJump, "skill_jump", Skills, ["o"], "go to the step that made the skill";
    SkillsRefresh, "skills_refresh", Skills, ["R"], "read the library again";
    AllowOnce, "allow_once", Approval, ["y", "1"], "allow this call once";
    AllowSession, "allow_session", Approval, ["s", "2"], "allow this tool for the session";
    Deny, "deny", Approval, ["n", "3", "esc"], "deny the call";
    FocusTimeline, "focus_timeline", Global, ["5", "alt+5"], "focus the timeline (up/down move the focus step; every pane shows the session as of it)";
    Sessions, "sessions", Global, ["ctrl+o"], "recorded sessions: open one's timeline (type to search tasks and code)";
    TimelineBack, "step_back", Timeline, ["left", "h"], "the step before on this branch";
    TimelineForward, "step_forward", Timeline, ["right", "l"], "the step after on this branch";
    NextError, "next_error", Timeline, ["n"], "the next failed step";
    PrevError, "prev_error", Timeline, ["N"], "the previous failed step";
    ParentBranch, "parent_branch", Timeline, ["["], "the step this branch left its parent branch at";
    ChildBranch, "child_branch", Timeline, ["]"], "the first step of the next branch leaving this one";
    Play, "play", Timeline, ["p"], "play/pause: step through the branch on its own";
    Faster, "faster", Timeline, ["+", "="], "play faster";
    Slower, "slower", Timeline, ["-"], "play slower";
    Live, "live", Timeline, ["L"], "follow the live session (its newest step) again";
    Mark, "mark", Timeline, ["m"], "mark the focus step (then d compares it with another)";
    Diff, "diff", Timeline, ["d"], "compare the marked step with the focus, side by side (b: the two branches step by step)";
    Rewind, "rewind", Timeline, ["r"], "rewind here: rebuild this step's state (nothing external called) and continue from it";
    Fork, "fork", Timeline, ["f"], "fork here: a new session branching off at this step, and switch to it";
    EditFork, "edit_fork", Timeline, ["e"], "edit and fork: this step's code in the prompt; running it forks at the step before and runs it there";
}

impl Command {
    pub fn info(self) -> &'static CommandInfo {
        // Every variant has exactly one row (the macro builds both from one list).
        &COMMANDS[self as usize]
    }

    pub fn by_name(name: &str) -> Option<Command> {
        COMMANDS.iter().find(|c| c.name == name).map(|c| c.command)
    }
}

/// One key with its modifiers, normalised: a character carries its case, not SHIFT;
/// Shift+Tab is `BackTab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeKey,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

/// The key codes a binding can name (crossterm's `KeyCode` is not `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeKey {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

impl Key {
    /// The binding a key event matches, if it is a key bindings can name.
    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let m = e.modifiers;
        let mut shift = m.contains(KeyModifiers::SHIFT);
        let code = match e.code {
            KeyCode::Char(c) => {
                // The character already says whether Shift was held.
                shift = false;
                let c = if m.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                KeyCodeKey::Char(c)
            }
            KeyCode::F(n) => KeyCodeKey::F(n),
            KeyCode::Enter => KeyCodeKey::Enter,
            KeyCode::Esc => KeyCodeKey::Esc,
            KeyCode::Tab if shift => {
                shift = false;
                KeyCodeKey::BackTab
            }
            KeyCode::Tab => KeyCodeKey::Tab,
            KeyCode::BackTab => {
                shift = false;
                KeyCodeKey::BackTab
            }
            KeyCode::Backspace => KeyCodeKey::Backspace,
            KeyCode::Delete => KeyCodeKey::Delete,
            KeyCode::Insert => KeyCodeKey::Insert,
            KeyCode::Up => KeyCodeKey::Up,
            KeyCode::Down => KeyCodeKey::Down,
            KeyCode::Left => KeyCodeKey::Left,
            KeyCode::Right => KeyCodeKey::Right,
            KeyCode::Home => KeyCodeKey::Home,
            KeyCode::End => KeyCodeKey::End,
            KeyCode::PageUp => KeyCodeKey::PageUp,
            KeyCode::PageDown => KeyCodeKey::PageDown,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: m.contains(KeyModifiers::CONTROL),
            alt: m.contains(KeyModifiers::ALT),
            shift,
        })
    }

    /// A key with no Ctrl or Alt that types a character: in the prompt it is text.
    pub fn is_plain_char(&self) -> bool {
        matches!(self.code, KeyCodeKey::Char(_)) && !self.ctrl && !self.alt
    }

    /// Parses `ctrl+c`, `shift+enter`, `alt+1`, `G`, `?`, `space`, `f1`, `pageup`.
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut key = Key {
            code: KeyCodeKey::Esc,
            ctrl: false,
            alt: false,
            shift: false,
        };
        let parts: Vec<&str> = if text == "+" {
            vec!["+"]
        } else {
            text.split('+').collect()
        };
        let Some((last, mods)) = parts.split_last() else {
            return Err(format!("{text:?} is not a key"));
        };
        for m in mods {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => key.ctrl = true,
                "alt" | "meta" | "option" => key.alt = true,
                "shift" => key.shift = true,
                other => {
                    return Err(format!(
                        "{text:?}: unknown modifier {other:?} (use ctrl, alt, shift)"
                    ));
                }
            }
        }
        let lower = last.to_ascii_lowercase();
        key.code = match lower.as_str() {
            "enter" | "return" => KeyCodeKey::Enter,
            "esc" | "escape" => KeyCodeKey::Esc,
            "tab" if key.shift => {
                key.shift = false;
                KeyCodeKey::BackTab
            }
            "tab" => KeyCodeKey::Tab,
            "backtab" => KeyCodeKey::BackTab,
            "backspace" => KeyCodeKey::Backspace,
            "delete" | "del" => KeyCodeKey::Delete,
            "insert" | "ins" => KeyCodeKey::Insert,
            "up" => KeyCodeKey::Up,
            "down" => KeyCodeKey::Down,
            "left" => KeyCodeKey::Left,
            "right" => KeyCodeKey::Right,
            "home" => KeyCodeKey::Home,
            "end" => KeyCodeKey::End,
            "pageup" | "pgup" => KeyCodeKey::PageUp,
            "pagedown" | "pgdn" => KeyCodeKey::PageDown,
            "space" => KeyCodeKey::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeKey::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = last.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        if key.shift && c.is_ascii_alphabetic() {
                            key.shift = false;
                            KeyCodeKey::Char(c.to_ascii_uppercase())
                        } else if key.ctrl {
                            KeyCodeKey::Char(c.to_ascii_lowercase())
                        } else {
                            KeyCodeKey::Char(c)
                        }
                    }
                    _ => return Err(format!("{text:?} is not a key name")),
                }
            }
        };
        if let KeyCodeKey::Char(_) = key.code {
            key.shift = false;
        }
        Ok(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl+")?;
        }
        if self.alt {
            f.write_str("alt+")?;
        }
        if self.shift {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCodeKey::Char(' ') => f.write_str("space"),
            KeyCodeKey::Char(c) => write!(f, "{c}"),
            KeyCodeKey::F(n) => write!(f, "f{n}"),
            KeyCodeKey::Enter => f.write_str("enter"),
            KeyCodeKey::Esc => f.write_str("esc"),
            KeyCodeKey::Tab => f.write_str("tab"),
            KeyCodeKey::BackTab => f.write_str("shift+tab"),
            KeyCodeKey::Backspace => f.write_str("backspace"),
            KeyCodeKey::Delete => f.write_str("delete"),
            KeyCodeKey::Insert => f.write_str("insert"),
            KeyCodeKey::Up => f.write_str("up"),
            KeyCodeKey::Down => f.write_str("down"),
            KeyCodeKey::Left => f.write_str("left"),
            KeyCodeKey::Right => f.write_str("right"),
            KeyCodeKey::Home => f.write_str("home"),
            KeyCodeKey::End => f.write_str("end"),
            KeyCodeKey::PageUp => f.write_str("pageup"),
            KeyCodeKey::PageDown => f.write_str("pagedown"),
        }
    }
}

/// The effective bindings: keys per command.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    keys: BTreeMap<Command, Vec<Key>>,
}

/// A keymap file that cannot be used, naming the file, line and key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("keymap {file}: {message}")]
pub struct KeymapError {
    pub file: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Keys {
    One(String),
    Many(Vec<String>),
}

impl Default for Keymap {
    fn default() -> Self {
        let keys = COMMANDS
            .iter()
            .map(|c| {
                // The defaults are tested to parse.
                let keys = c.keys.iter().filter_map(|k| Key::parse(k).ok()).collect();
                (c.command, keys)
            })
            .collect();
        Keymap { keys }
    }
}

impl Keymap {
    pub fn keys(&self, command: Command) -> &[Key] {
        self.keys.get(&command).map_or(&[], Vec::as_slice)
    }

    /// The command `key` runs in `context` (its own bindings, then `Panes` for a pane,
    /// then global ones). In the prompt, plain characters are text, never global commands.
    pub fn lookup(&self, context: Context, key: &Key) -> Option<Command> {
        let chain: &[Context] = match context {
            Context::Prompt => &[Context::Prompt, Context::Global],
            Context::Output
            | Context::Code
            | Context::Variables
            | Context::Skills
            | Context::Timeline => &[context, Context::Panes, Context::Global],
            Context::Approval => &[Context::Approval],
            Context::Global | Context::Panes => &[context, Context::Global],
        };
        for ctx in chain {
            if context == Context::Prompt && *ctx == Context::Global && key.is_plain_char() {
                continue;
            }
            let found = COMMANDS
                .iter()
                .filter(|c| c.context == *ctx)
                .find(|c| self.keys(c.command).contains(key));
            if let Some(c) = found {
                return Some(c.command);
            }
        }
        None
    }

    /// The keys shown for a command, e.g. `ctrl+c` or `up, k`.
    pub fn describe(&self, command: Command) -> String {
        let keys = self.keys(command);
        if keys.is_empty() {
            return "(unbound)".into();
        }
        keys.iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// This keymap with the bindings a keymap file sets (`name = "key"` or a list;
    /// `[]` unbinds). Any problem rejects the whole file.
    pub fn patched(&self, text: &str, file: &str) -> Result<Keymap, KeymapError> {
        let err = |message: String| KeymapError {
            file: file.to_string(),
            message,
        };
        let table: BTreeMap<String, Keys> =
            toml::from_str(text).map_err(|e| err(super::theme::one_line(&e.to_string())))?;
        let mut out = self.clone();
        for (name, keys) in &table {
            let line = super::theme::line_of(text, name);
            let Some(command) = Command::by_name(name) else {
                return Err(err(format!(
                    "line {line}: unknown action {name:?} (`mcpr tui --print-keymap` lists them)"
                )));
            };
            let list = match keys {
                Keys::One(k) => vec![k.clone()],
                Keys::Many(ks) => ks.clone(),
            };
            let parsed = list
                .iter()
                .map(|k| Key::parse(k).map_err(|e| err(format!("line {line}: {name}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            out.keys.insert(command, parsed);
        }
        // A key two overlapping commands share is ambiguous; name the one this file set.
        for a in COMMANDS {
            for b in COMMANDS {
                if a.command >= b.command || !a.context.overlaps(b.context) {
                    continue;
                }
                for key in out.keys(a.command) {
                    if out.keys(b.command).contains(key) {
                        let named = if table.contains_key(a.name) { a } else { b };
                        let other = if named.name == a.name { b } else { a };
                        return Err(err(format!(
                            "line {}: key {key:?} for {} is also bound to {} ({}); unbind it there or pick another key",
                            super::theme::line_of(text, named.name),
                            named.name,
                            other.name,
                            other.context.title()
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Patches from a file when it exists.
    pub fn patched_from(&self, path: &Path) -> Result<Option<Keymap>, KeymapError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.patched(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeymapError {
                file: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// The effective map as a keymap file (what `--print-keymap` prints).
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# The console's effective keymap. Copy what you want to change into\n# ~/.config/mcpr/keymap.toml or the project's keymap.toml; a file sets only\n# the actions it names (`action = \"key\"`, a list, or [] to unbind).\n",
        );
        let mut last = None;
        for c in COMMANDS {
            if last != Some(c.context) {
                out.push_str(&format!("\n# {}\n", c.context.title()));
                last = Some(c.context);
            }
            let keys = self
                .keys(c.command)
                .iter()
                .map(|k| format!("{:?}", k.to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!("{} = [{keys}]  # {}\n", c.name, c.help));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_indexed_by_command() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(c.command as usize, i);
            assert_eq!(Command::by_name(c.name), Some(c.command));
        }
    }

    #[test]
    fn default_keys_parse_and_do_not_conflict() {
        for c in COMMANDS {
            for k in c.keys {
                Key::parse(k).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            }
        }
        Keymap::default()
            .patched("", "defaults")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn keys_round_trip_through_their_names() {
        for text in [
            "ctrl+c",
            "shift+tab",
            "alt+enter",
            "G",
            "?",
            "space",
            "f1",
            "pageup",
        ] {
            let key = Key::parse(text).unwrap();
            assert_eq!(key.to_string(), text);
            assert_eq!(Key::parse(&key.to_string()).unwrap(), key);
        }
        assert_eq!(Key::parse("shift+g").unwrap(), Key::parse("G").unwrap());
    }

    #[test]
    fn events_match_their_bindings() {
        let ev = |code, mods| Key::from_event(&KeyEvent::new(code, mods)).unwrap();
        assert_eq!(
            ev(KeyCode::Char('N'), KeyModifiers::SHIFT),
            Key::parse("N").unwrap()
        );
        assert_eq!(
            ev(KeyCode::BackTab, KeyModifiers::SHIFT),
            Key::parse("shift+tab").unwrap()
        );
        assert_eq!(
            ev(KeyCode::Enter, KeyModifiers::SHIFT),
            Key::parse("shift+enter").unwrap()
        );
        assert_eq!(
            ev(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Key::parse("ctrl+c").unwrap()
        );
    }

    #[test]
    fn lookup_follows_the_context_chain() {
        let map = Keymap::default();
        let key = |t| Key::parse(t).unwrap();
        assert_eq!(
            map.lookup(Context::Output, &key("j")),
            Some(Command::ScrollDown)
        );
        assert_eq!(map.lookup(Context::Output, &key("q")), Some(Command::Quit));
        // In the prompt, `q` is text and Ctrl+C still cancels.
        assert_eq!(map.lookup(Context::Prompt, &key("q")), None);
        assert_eq!(
            map.lookup(Context::Prompt, &key("ctrl+c")),
            Some(Command::Cancel)
        );
        assert_eq!(
            map.lookup(Context::Prompt, &key("up")),
            Some(Command::HistoryPrev)
        );
        assert_eq!(
            map.lookup(Context::Code, &key("up")),
            Some(Command::ScrollUp)
        );
    }

    #[test]
    fn a_keymap_file_rebinds_only_what_it_names() {
        let map = Keymap::default()
            .patched("zoom = \"alt+f\"\nquit = [\"q\", \"ctrl+q\"]\n", "k.toml")
            .unwrap();
        assert_eq!(map.describe(Command::Zoom), "alt+f");
        assert_eq!(map.describe(Command::Quit), "q, ctrl+q");
        assert_eq!(map.describe(Command::Help), "?, f1");
        let unbound = Keymap::default().patched("zoom = []\n", "k").unwrap();
        assert_eq!(unbound.keys(Command::Zoom), &[]);
    }

    #[test]
    fn bad_keymap_files_name_the_file_line_and_key() {
        let e = Keymap::default()
            .patched("quit = \"q\"\n\nzap = \"x\"\n", "k.toml")
            .unwrap_err();
        assert_eq!(e.file, "k.toml");
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("zap"), "{}", e.message);
        let e = Keymap::default()
            .patched("\nzoom = \"j\"\n", "k.toml")
            .unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(e.message.contains("scroll_down"), "{}", e.message);
        let e = Keymap::default()
            .patched("zoom = \"hyper+x\"\n", "k.toml")
            .unwrap_err();
        assert!(
            e.message.contains("line 1") && e.message.contains("hyper"),
            "{}",
            e.message
        );
        let e = Keymap::default()
            .patched("zoom = 3\n", "k.toml")
            .unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn the_printed_keymap_reads_back_as_the_same_map() {
        let map = Keymap::default();
        assert_eq!(map.patched(&map.to_toml(), "printed").unwrap(), map);
    }
}
