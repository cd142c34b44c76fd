//! The sandbox's `/etc`: the few host entries the interpreter and its libraries read,
//! and generated account and name-service files, instead of the host's whole `/etc`.
//!
//! This module decides what appears in the sandbox's `/etc` and produces the generated
//! contents. It never exposes a host entry missing from [`FROM_HOST`] (so `shadow`,
//! `ssh/`, `ssl/private/`, pip's and git's configuration stay out) and never writes
//! anything on the host: generated files reach bwrap through file descriptors.

use std::path::{Path, PathBuf};

use super::bwrap::HOSTNAME;

/// Host entries of `/etc` a kernel may see, when present, and what reads them.
pub const FROM_HOST: &[(&str, &str)] = &[
    ("ld.so.cache", "the dynamic loader's library cache"),
    (
        "ld.so.conf",
        "the dynamic loader's configuration (ctypes.util)",
    ),
    ("ld.so.conf.d", "the dynamic loader's configuration"),
    ("ssl/certs", "CA certificates, OpenSSL's default store"),
    ("ssl/cert.pem", "a CA bundle (Alpine, macOS-style layouts)"),
    ("ssl/openssl.cnf", "OpenSSL's configuration"),
    ("pki/tls/certs", "CA certificates (Fedora, RHEL)"),
    ("pki/tls/cert.pem", "a CA bundle (Fedora, RHEL)"),
    (
        "pki/tls/openssl.cnf",
        "OpenSSL's configuration (Fedora, RHEL)",
    ),
    (
        "pki/ca-trust/extracted",
        "the CA bundles pki/tls links to (Fedora, RHEL)",
    ),
    (
        "ca-certificates.conf",
        "the list of enabled CA certificates",
    ),
    ("localtime", "the host's time zone (time.localtime)"),
    ("timezone", "the time zone's name (Debian)"),
    ("mime.types", "file types (mimetypes)"),
    ("protocols", "protocol names (socket.getprotobyname)"),
    ("services", "port names (socket.getservbyname)"),
    (
        "alternatives",
        "targets of /usr/bin links such as awk and editor (Debian)",
    ),
];

/// The uid and gid the kernel runs as, which `passwd` and `group` must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// Where an entry of the sandbox's `/etc` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcSource {
    /// The host's file or folder, bound read-only (a link bound as what it points to).
    Host(PathBuf),
    /// A symbolic link with this target, which the sandbox can follow.
    Symlink(PathBuf),
    /// Generated here; handed to bwrap on a file descriptor.
    Generated(Vec<u8>),
}

/// One entry of the sandbox's `/etc`; `name` is relative to `/etc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcEntry {
    pub name: &'static str,
    pub source: EtcSource,
}

impl EtcEntry {
    /// The entry's path inside the sandbox.
    pub fn path(&self) -> PathBuf {
        Path::new("/etc").join(self.name)
    }
}

/// The sandbox's `/etc`. `visible` says whether a host path is visible inside the
/// sandbox at the same place, so a host link pointing there can stay a link.
pub fn entries(account: Account, visible: &dyn Fn(&Path) -> bool) -> Vec<EtcEntry> {
    let mut entries: Vec<EtcEntry> = FROM_HOST
        .iter()
        .filter_map(|&(name, _)| {
            host_source(&Path::new("/etc").join(name), visible)
                .map(|source| EtcEntry { name, source })
        })
        .collect();
    let generated = [
        ("passwd", passwd(account)),
        ("group", group(account)),
        ("hosts", hosts()),
        ("nsswitch.conf", NSSWITCH.to_string()),
    ];
    entries.extend(generated.into_iter().map(|(name, text)| EtcEntry {
        name,
        source: EtcSource::Generated(text.into_bytes()),
    }));
    // Tools reading the mount table (df, mount, psutil) look here.
    entries.push(EtcEntry {
        name: "mtab",
        source: EtcSource::Symlink(PathBuf::from("../proc/self/mounts")),
    });
    entries
}

/// How the host entry at `path` reaches the sandbox, or None if the host has none.
fn host_source(path: &Path, visible: &dyn Fn(&Path) -> bool) -> Option<EtcSource> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return Some(EtcSource::Host(path.to_path_buf()));
    }
    // A dangling link is as good as absent.
    let resolved = std::fs::canonicalize(path).ok()?;
    if visible(&resolved) {
        // Kept a link: some readers want the target's name (tzlocal reads localtime's).
        std::fs::read_link(path).ok().map(EtcSource::Symlink)
    } else {
        Some(EtcSource::Host(path.to_path_buf()))
    }
}

/// Accounts: root, nobody, and the kernel's own uid (named `mcpr`, home the workspace).
fn passwd(account: Account) -> String {
    let mut text = String::from(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    );
    if account.uid != 0 && account.uid != 65534 {
        text.push_str(&format!(
            "mcpr:x:{}:{}:mcpr kernel:{}:/bin/sh\n",
            account.uid,
            account.gid,
            super::INSIDE_WORKSPACE
        ));
    }
    text
}

fn group(account: Account) -> String {
    let mut text = String::from("root:x:0:\nnogroup:x:65534:\n");
    if account.gid != 0 && account.gid != 65534 {
        text.push_str(&format!("mcpr:x:{}:\n", account.gid));
    }
    text
}

/// Loopback names and the sandbox's host name; the host's own table stays private.
fn hosts() -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
}

/// Files only: the sandbox has no network and no daemons (systemd, sssd, LDAP) to ask.
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nprotocols: files\nservices: files\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn generated<'a>(entries: &'a [EtcEntry], name: &str) -> &'a str {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        match &entry.source {
            EtcSource::Generated(bytes) => std::str::from_utf8(bytes).unwrap(),
            other => panic!("{name} is not generated: {other:?}"),
        }
    }

    #[test]
    fn accounts_name_only_root_nobody_and_the_kernel() {
        let entries = entries(
            Account {
                uid: 3_100_007,
                gid: 3_100_007,
            },
            &|_| true,
        );
        let passwd = generated(&entries, "passwd");
        let uids: Vec<&str> = passwd
            .lines()
            .map(|l| l.split(':').nth(2).unwrap())
            .collect();
        assert_eq!(uids, ["0", "65534", "3100007"], "{passwd}");
        assert!(passwd.contains(":/workspace:"), "{passwd}");
        let group = generated(&entries, "group");
        assert_eq!(group.lines().count(), 3, "{group}");
        assert!(generated(&entries, "hosts").contains(HOSTNAME));
    }

    #[test]
    fn never_exposes_secrets_of_the_host() {
        let entries = entries(
            Account {
                uid: 1000,
                gid: 1000,
            },
            &|_| true,
        );
        for e in &entries {
            for secret in ["shadow", "gshadow", "ssh", "private", "sudoers", "pip.conf"] {
                assert!(!e.name.contains(secret), "{e:?}");
            }
            if let EtcSource::Host(path) = &e.source {
                assert!(path.starts_with("/etc/") && path != Path::new("/etc/"));
            }
        }
    }

    #[test]
    fn a_link_the_sandbox_cannot_follow_is_bound_as_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("zone");
        std::fs::write(&target, "TZif").unwrap();
        let link = dir.path().join("localtime");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            host_source(&link, &|_| false),
            Some(EtcSource::Host(link.clone()))
        );
        assert_eq!(
            host_source(&link, &|_| true),
            Some(EtcSource::Symlink(target.clone()))
        );
        std::fs::remove_file(&target).unwrap();
        assert_eq!(host_source(&link, &|_| true), None);
    }
}
