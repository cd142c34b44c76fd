//! The hardening of a kernel container, checked from inside it: code for a trial kernel
//! to run, and the verdict on what it reported. `mcpr doctor` uses both, so what it says
//! is in force is what a kernel actually saw, not what mcpr asked the engine for.

use serde_json::Value;

use super::settings::DockerSettings;
use crate::sandbox::Limits;

/// Run in a trial kernel; its value is the report [`verdicts`] reads.
pub const PROBE: &str = r#"import os, socket
_st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
def _writable(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        os.remove(path)
        return True
    except OSError:
        return False
def _first(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()
_tmp = os.statvfs('/tmp')
{
    'interfaces': [n for _, n in socket.if_nameindex()],
    'uid': os.getuid(),
    'caps': sorted({_st[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb') if k in _st}),
    'no_new_privs': _st.get('NoNewPrivs', '?').strip(),
    'seccomp': _st.get('Seccomp', '?').strip(),
    'root_writable': [p for p in ['/w', '/etc/w', '/usr/w', '/var/tmp/w'] if _writable(p)],
    'workspace_writable': _writable('/workspace/.mcpr-doctor'),
    'sockets': [p for p in ['/var/run/docker.sock', '/run/docker.sock'] if os.path.exists(p)],
    'tmp_mib': _tmp.f_blocks * _tmp.f_frsize // (1 << 20),
    'memory': _first('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'),
    'pids': _first('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max'),
}"#;

/// One hardening item: its name, whether it is in force, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    pub in_force: bool,
    pub seen: String,
}

/// Each item of the hardening judged from the probe's report.
pub fn verdicts(report: &Value, settings: &DockerSettings, limits: &Limits) -> Vec<Item> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let item = |name, in_force, seen: String| Item {
        name,
        in_force,
        seen,
    };
    let memory = (limits.memory_mb << 20).to_string();
    vec![
        item(
            "no network",
            report["interfaces"] == serde_json::json!(["lo"]),
            format!("interfaces {}", report["interfaces"]),
        ),
        item(
            "read-only root",
            report["root_writable"] == serde_json::json!([]),
            format!(
                "writable outside /workspace and /tmp: {}",
                report["root_writable"]
            ),
        ),
        item(
            "workspace writable",
            report["workspace_writable"] == Value::Bool(true),
            format!("/workspace writable: {}", report["workspace_writable"]),
        ),
        item(
            "private /tmp",
            report["tmp_mib"].as_u64() == Some(settings.tmp_mb),
            format!("/tmp holds {} MiB", text(&report["tmp_mib"])),
        ),
        item(
            "no capabilities",
            report["caps"] == serde_json::json!(["0000000000000000"]),
            format!("capability sets {}", report["caps"]),
        ),
        item(
            "no-new-privileges",
            report["no_new_privs"] == "1",
            format!("NoNewPrivs {}", text(&report["no_new_privs"])),
        ),
        item(
            "seccomp",
            report["seccomp"] == "2",
            format!("Seccomp mode {} (2 = filter)", text(&report["seccomp"])),
        ),
        item(
            "non-root uid",
            report["uid"].as_u64().is_some_and(|u| u != 0),
            format!("uid {}", text(&report["uid"])),
        ),
        item(
            "engine socket absent",
            report["sockets"] == serde_json::json!([]),
            format!("sockets inside {}", report["sockets"]),
        ),
        item(
            "memory limit",
            report["memory"] == memory.as_str(),
            format!("cgroup memory limit {}", text(&report["memory"])),
        ),
        item(
            "process limit",
            report["pids"] == limits.processes.to_string().as_str(),
            format!("cgroup pids limit {}", text(&report["pids"])),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_weak_container_is_called_out_item_by_item() {
        let weak = json!({
            "interfaces": ["lo", "eth0"], "uid": 0, "caps": ["00000000a80425fb"],
            "no_new_privs": "0", "seccomp": "0", "root_writable": ["/w"],
            "workspace_writable": true, "sockets": ["/var/run/docker.sock"], "tmp_mib": 3000,
            "memory": "9223372036854771712", "pids": "max",
        });
        let items = verdicts(&weak, &DockerSettings::default(), &Limits::default());
        let failing: Vec<&str> = items
            .iter()
            .filter(|i| !i.in_force)
            .map(|i| i.name)
            .collect();
        assert_eq!(items.len() - failing.len(), 1, "{failing:?}");
        assert!(!failing.contains(&"workspace writable"));
        let strong = json!({
            "interfaces": ["lo"], "uid": 3100000, "caps": ["0000000000000000"],
            "no_new_privs": "1", "seccomp": "2", "root_writable": [],
            "workspace_writable": true, "sockets": [], "tmp_mib": 64,
            "memory": "536870912", "pids": "64",
        });
        let items = verdicts(&strong, &DockerSettings::default(), &Limits::default());
        assert!(items.iter().all(|i| i.in_force), "{items:?}");
    }
}
