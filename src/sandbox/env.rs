//! The kernel's environment: cleared, then rebuilt from an allowlist.
//!
//! Nothing from the host environment reaches the sandbox unless named here or in
//! `kernel.env_passthrough`; API keys and tokens therefore never do.

use std::ffi::OsString;
use std::path::Path;

/// Host variables copied through when set (locale and time zone only).
const PASSTHROUGH: &[&str] = &["LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// Builds the kernel environment. `home` is the workspace as the kernel sees it.
pub fn kernel_env(
    python_bin_dir: Option<&Path>,
    home: &Path,
    tmp: &Path,
    extra_passthrough: &[String],
) -> Vec<(OsString, OsString)> {
    let mut path = String::new();
    if let Some(dir) = python_bin_dir {
        path.push_str(&dir.to_string_lossy());
        path.push(':');
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path.into()),
        ("HOME".into(), home.into()),
        ("TMPDIR".into(), tmp.into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONIOENCODING".into(), "utf-8".into()),
        ("TERM".into(), "dumb".into()),
        ("MPLBACKEND".into(), "Agg".into()),
    ];
    if std::env::var_os("LANG").is_none() && std::env::var_os("LC_ALL").is_none() {
        env.push(("LANG".into(), "C.UTF-8".into()));
    }
    for name in PASSTHROUGH
        .iter()
        .copied()
        .chain(extra_passthrough.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name) {
            env.retain(|(k, _)| k != name);
            env.push((name.into(), value));
        }
    }
    env
}
