//! `mcpr bench tui`: the console's speed. In this process: render time per frame at
//! 200×60 over a million output lines at random positions, key press to frame, the line
//! store's memory. The real binary in a pseudo-terminal: time to the first frame, resident
//! memory and CPU time while idle. Measurements, never assertions.

use clap::Args;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::CliError;
use super::bench::{fail, row, stats};
use crate::tui::action::Action;
use crate::tui::keymap::Keymap;
use crate::tui::layout::Pane;
use crate::tui::output::LineKind;
use crate::tui::state::{Opening, State};
use crate::tui::theme::Theme;

#[derive(Debug, Args)]
pub struct TuiBenchArgs {
    /// Lines in the output pane
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
    /// Frames to time (at random positions, and after keys)
    #[arg(long, default_value_t = 2000)]
    frames: usize,
    /// Seconds to watch an idle console's CPU time
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
}

/// A small xorshift generator: positions spread over the store, reproducible.
struct Positions(u64);

impl Positions {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Resident memory of process `pid` (or this one), in MiB.
fn rss_mib(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz.max(1)))
}

fn filled_state(lines: usize) -> State {
    let mut s = State::new(
        Theme::default_theme(),
        Keymap::default(),
        Rect::new(0, 0, 200, 60),
        Instant::now(),
    );
    s.opening = Opening::Open;
    for i in 0..lines {
        let (kind, text) = match i % 50 {
            0 => (
                LineKind::Stderr,
                format!("warning {i}: something on stderr\n"),
            ),
            25 => (
                LineKind::Stdout,
                format!(
                    "{i}: a long line that wraps at 200 columns {}\n",
                    "lorem ipsum dolor sit amet ".repeat(10)
                ),
            ),
            _ => (
                LineKind::Stdout,
                format!("{i}: value={} status=ok\n", i * 7),
            ),
        };
        s.output.store.push_stream(kind, &text);
    }
    s
}

fn in_process(args: &TuiBenchArgs) -> Result<(), CliError> {
    let before = rss_mib(None);
    let t = Instant::now();
    let mut s = filled_state(args.lines);
    let fill_ms = t.elapsed().as_secs_f64() * 1000.0;
    let after = rss_mib(None);
    let mut terminal = Terminal::with_options(
        ratatui::backend::CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 200, 60)),
        },
    )
    .map_err(fail)?;
    crate::tui::update::focus(&mut s, Pane::Output);
    let mut draw = |s: &State| -> Result<f64, CliError> {
        let t = Instant::now();
        terminal
            .draw(|f| crate::tui::render::render(s, f))
            .map_err(fail)?;
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let mut positions = Positions(0x9E37_79B9_7F4A_7C15);
    let mut render = Vec::with_capacity(args.frames);
    for _ in 0..args.frames {
        let at = positions.next(args.lines);
        s.output.follow = false;
        s.output.top = at;
        s.output.cursor = at;
        render.push(draw(&s)?);
    }
    // Key to frame: the update for the key, then the frame that shows it.
    let keys = [
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('j'),
        )),
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::PageUp,
        )),
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('k'),
        )),
    ];
    let mut key_to_frame = Vec::with_capacity(args.frames);
    for i in 0..args.frames {
        let t = Instant::now();
        s.now = t;
        crate::tui::update::update(&mut s, keys[i % keys.len()].clone());
        draw(&s)?;
        key_to_frame.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    outln!("| measurement | median | p99 | n | target |");
    outln!("|---|---|---|---|---|");
    row(
        &format!("frame at 200×60, {} lines, random positions", args.lines),
        "ms",
        &stats(render),
        "p99 ≤ 4 ms",
    );
    row(
        "key press → frame (update and draw, in process)",
        "ms",
        &stats(key_to_frame),
        "—",
    );
    if let (Some(b), Some(a)) = (before, after) {
        outln!(
            "| memory of {} lines in the output store | {:.1} MiB | | 1 | — |",
            args.lines,
            a - b
        );
    }
    outln!(
        "| appending {} lines to the store | {fill_ms:.0} ms | | 1 | — |",
        args.lines
    );
    Ok(())
}

/// Reads the pseudo-terminal on a thread; chunks come back on a channel.
fn reader(mut master: std::fs::File) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn binary(args: &TuiBenchArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(fail)?;
    let dir = std::env::temp_dir().join(format!("mcpr-bench-tui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    std::fs::write(dir.join("mcpr.toml"), "").map_err(fail)?;
    let result = binary_in(args, &exe, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn binary_in(
    args: &TuiBenchArgs,
    exe: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(), CliError> {
    let size = nix::pty::Winsize {
        ws_row: 60,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&size, None).map_err(fail)?;
    let slave = std::fs::File::from(pty.slave);
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().map_err(fail)?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["tui", "--no-skills"])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .stdin(slave.try_clone().map_err(fail)?)
        .stdout(slave.try_clone().map_err(fail)?)
        .stderr(slave)
        .spawn()
        .map_err(fail)?;
    let pid = child.id();
    let chunks = reader(master);
    let mut seen = Vec::new();
    let mut answered = false;
    let first_frame = loop {
        let chunk = chunks
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| fail("no first frame within 30 s"))?;
        seen.extend_from_slice(&chunk);
        // crossterm asks whether the terminal has keyboard enhancement; answer as a
        // terminal without it does (primary device attributes only).
        if !answered && contains(&seen, b"\x1b[c") {
            let _ = writer.write_all(b"\x1b[?62;22c");
            answered = true;
        }
        if contains(&seen, "▸".as_bytes()) {
            break started.elapsed();
        }
    };
    // Let the session open (kernel, tools), then watch it idle.
    let open_by = Instant::now() + Duration::from_secs(60);
    while !contains(&seen, b"idle") && Instant::now() < open_by {
        if let Ok(chunk) = chunks.recv_timeout(Duration::from_millis(200)) {
            seen.extend_from_slice(&chunk);
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    while chunks.try_recv().is_ok() {}
    let rss = rss_mib(Some(pid));
    let cpu0 = cpu_time(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.idle_seconds));
    let cpu1 = cpu_time(pid);
    let wall = t0.elapsed();
    // Ctrl+C twice quits an idle console.
    let _ = writer.write_all(b"\x03\x03");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().map_err(fail)?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    outln!(
        "| start → first frame (the binary in a 200×60 pseudo-terminal) | {:.1} ms | | 1 | ≤ 100 ms |",
        first_frame.as_secs_f64() * 1000.0
    );
    if let Some(rss) = rss {
        outln!("| resident memory, idle (session open) | {rss:.1} MiB | | 1 | ≤ 50 MB |");
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let used = b.saturating_sub(a);
        outln!(
            "| CPU while idle over {:.0} s | {:.2} % ({} ms) | | 1 | ~0 |",
            wall.as_secs_f64(),
            used.as_secs_f64() / wall.as_secs_f64() * 100.0,
            used.as_millis()
        );
    }
    Ok(())
}

/// Runs `exe ARGS` in `dir` in a 200×60 pseudo-terminal: milliseconds to the first
/// output holding `markers[0]`, and to the first holding every marker; then quits it.
pub fn time_frames(
    exe: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
    markers: &[&[u8]],
) -> Result<(f64, f64), CliError> {
    let size = nix::pty::Winsize {
        ws_row: 60,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&size, None).map_err(fail)?;
    let slave = std::fs::File::from(pty.slave);
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().map_err(fail)?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .stdin(slave.try_clone().map_err(fail)?)
        .stdout(slave.try_clone().map_err(fail)?)
        .stderr(slave)
        .spawn()
        .map_err(fail)?;
    let chunks = reader(master);
    let mut seen = Vec::new();
    let mut answered = false;
    let mut first = None;
    let all = loop {
        let Ok(chunk) = chunks.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            let tail =
                String::from_utf8_lossy(&seen[seen.len().saturating_sub(600)..]).into_owned();
            return Err(fail(format!(
                "`mcpr {}` showed nothing more for 30 s; its last output: {tail:?}",
                args.join(" ")
            )));
        };
        seen.extend_from_slice(&chunk);
        // As in `binary_in`: answer crossterm's question as a plain terminal does.
        if !answered && contains(&seen, b"\x1b[c") {
            let _ = writer.write_all(b"\x1b[?62;22c");
            answered = true;
        }
        if first.is_none() && markers.first().is_some_and(|m| contains(&seen, m)) {
            first = Some(started.elapsed());
        }
        if markers.iter().all(|m| contains(&seen, m)) {
            break started.elapsed();
        }
    };
    let _ = writer.write_all(b"q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().map_err(fail)?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(first.unwrap_or(all)), ms(all)))
}

pub async fn run(args: TuiBenchArgs) -> Result<ExitCode, CliError> {
    in_process(&args)?;
    let args = std::sync::Arc::new(args);
    let a = args.clone();
    tokio::task::spawn_blocking(move || binary(&a))
        .await
        .map_err(fail)??;
    let exe = std::env::current_exe().map_err(fail)?;
    super::bench_timeline::run(&exe).await?;
    Ok(ExitCode::SUCCESS)
}
