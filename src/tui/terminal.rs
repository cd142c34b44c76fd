//! The terminal guard: the console owns the screen (alternate screen, raw mode, mouse
//! capture, bracketed paste, keyboard enhancement where the terminal has it) and gives
//! it back on every way out — quit, error, panic (a hook chained before the existing
//! one), a signal, Ctrl+Z (and takes it again on resume). Restoring twice is harmless.

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{self, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// The screen is the console's (so a restore has something to undo).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Keyboard enhancement was pushed and must be popped.
static ENHANCED: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);
/// The terminal answered that it has keyboard enhancement (asked once: asking again on
/// resume would race the input reader for the answer).
static SUPPORTED: Once = Once::new();
static HAS_ENHANCEMENT: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

pub struct Guard;

impl Guard {
    /// Takes the screen. A panic from now on restores it before its message prints.
    pub fn enter(mouse: bool) -> io::Result<Guard> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        take(mouse)?;
        Ok(Guard)
    }

    /// Gives the screen back for a while (Ctrl+Z, `$EDITOR`).
    pub fn suspend(&mut self) {
        restore();
    }

    /// Takes the screen again after `suspend`.
    pub fn resume(&mut self) -> io::Result<()> {
        take(MOUSE.load(Ordering::SeqCst))
    }

    pub fn set_mouse(&mut self, on: bool) -> io::Result<()> {
        MOUSE.store(on, Ordering::SeqCst);
        let mut out = io::stdout();
        if on {
            execute!(out, EnableMouseCapture)
        } else {
            execute!(out, DisableMouseCapture)
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn take(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
    MOUSE.store(mouse, Ordering::SeqCst);
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    // Shift+Enter and friends are told apart only with the kitty keyboard protocol.
    SUPPORTED.call_once(|| {
        let has = crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false);
        HAS_ENHANCEMENT.store(has, Ordering::SeqCst);
    });
    if HAS_ENHANCEMENT.load(Ordering::SeqCst) {
        execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
        ENHANCED.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Puts the terminal back as the shell had it; does nothing when it already is.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Stops the process as the shell's Ctrl+Z would (the terminal already given back);
/// returns when it is continued.
pub fn stop_process() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP);
}
