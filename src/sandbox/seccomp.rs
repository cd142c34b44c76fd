//! The seccomp filter of the `namespaces` sandbox: system calls a Python kernel never
//! needs, answered with `EPERM` so the caller sees a `PermissionError` and carries on.
//!
//! This module owns the list of denied calls and compiles it (with seccompiler) into the
//! one BPF program bwrap loads with `--seccomp FD`. It never kills a process for a denied
//! call (the default action is allow; only a call made with a foreign architecture's
//! numbering, which no kernel process makes, is fatal), and it never touches the uid and
//! gid switch (`setuid`, `setgid`, `setgroups`) the runtime makes when mcpr runs as root.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "the sandbox's seccomp filter is only written for x86_64 and aarch64, not {0}; the kernel runs without it"
    )]
    UnsupportedArch(&'static str),
    #[error("the sandbox's seccomp filter could not be compiled: {0}")]
    Compile(String),
}

/// The namespace flags of `clone` and `unshare`.
const NAMESPACE_FLAGS: [u64; 8] = [
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWCGROUP as u64,
    // In `clone` this bit is part of the exit signal, never a valid one; harmless to deny.
    libc::CLONE_NEWTIME as u64,
];

/// `ioctl` requests that push input into, or reprogram, a terminal.
// libc's request type is c_ulong on glibc but c_int on musl, hence the casts.
#[allow(clippy::unnecessary_cast)]
const TERMINAL_IOCTLS: [u64; 2] = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

/// `personality` values a process may set: Docker's list (the default and the
/// compatibility personas), plus the query value 0xffffffff.
const ALLOWED_PERSONAS: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// x32 system calls carry this bit in their number on x86_64; the kernel never needs them.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// How a denied call is recognised.
enum When {
    Always,
    /// Argument `arg` (a 32-bit value to the kernel) has any of these bits set.
    AnyFlag(u8, &'static [u64]),
    /// Argument `arg` (32-bit) equals one of these.
    OneOf(u8, &'static [u64]),
    /// Argument `arg` (32-bit) is none of these.
    NoneOf(u8, &'static [u64]),
}

/// The denied calls: name (for `doctor` and the docs), number on this architecture, and
/// when the call is refused.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
fn denied() -> Vec<(&'static str, i64, When)> {
    use When::*;
    let mut calls = vec![
        // Namespaces: nothing may leave the sandbox's view or build a new one.
        ("unshare", libc::SYS_unshare, Always),
        ("clone", libc::SYS_clone, AnyFlag(0, &NAMESPACE_FLAGS)),
        ("setns", libc::SYS_setns, Always),
        // Mounts.
        ("mount", libc::SYS_mount, Always),
        ("umount2", libc::SYS_umount2, Always),
        ("pivot_root", libc::SYS_pivot_root, Always),
        ("chroot", libc::SYS_chroot, Always),
        ("mount_setattr", libc::SYS_mount_setattr, Always),
        ("move_mount", libc::SYS_move_mount, Always),
        ("open_tree", libc::SYS_open_tree, Always),
        ("fsopen", libc::SYS_fsopen, Always),
        ("fsconfig", libc::SYS_fsconfig, Always),
        ("fsmount", libc::SYS_fsmount, Always),
        ("fspick", libc::SYS_fspick, Always),
        // Kernel keyrings.
        ("keyctl", libc::SYS_keyctl, Always),
        ("add_key", libc::SYS_add_key, Always),
        ("request_key", libc::SYS_request_key, Always),
        // Large kernel attack surfaces a Python kernel has no use for.
        ("bpf", libc::SYS_bpf, Always),
        ("perf_event_open", libc::SYS_perf_event_open, Always),
        ("userfaultfd", libc::SYS_userfaultfd, Always),
        ("io_uring_setup", libc::SYS_io_uring_setup, Always),
        ("io_uring_enter", libc::SYS_io_uring_enter, Always),
        ("io_uring_register", libc::SYS_io_uring_register, Always),
        // Other processes' memory.
        ("ptrace", libc::SYS_ptrace, Always),
        ("process_vm_readv", libc::SYS_process_vm_readv, Always),
        ("process_vm_writev", libc::SYS_process_vm_writev, Always),
        // The machine itself.
        ("kexec_load", libc::SYS_kexec_load, Always),
        ("kexec_file_load", libc::SYS_kexec_file_load, Always),
        ("init_module", libc::SYS_init_module, Always),
        ("finit_module", libc::SYS_finit_module, Always),
        ("delete_module", libc::SYS_delete_module, Always),
        ("reboot", libc::SYS_reboot, Always),
        ("swapon", libc::SYS_swapon, Always),
        ("swapoff", libc::SYS_swapoff, Always),
        ("acct", libc::SYS_acct, Always),
        ("quotactl", libc::SYS_quotactl, Always),
        ("lookup_dcookie", libc::SYS_lookup_dcookie, Always),
        ("syslog", libc::SYS_syslog, Always),
        (
            "personality",
            libc::SYS_personality,
            NoneOf(0, &ALLOWED_PERSONAS),
        ),
        ("open_by_handle_at", libc::SYS_open_by_handle_at, Always),
        ("name_to_handle_at", libc::SYS_name_to_handle_at, Always),
        ("settimeofday", libc::SYS_settimeofday, Always),
        ("clock_settime", libc::SYS_clock_settime, Always),
        ("adjtimex", libc::SYS_adjtimex, Always),
        ("vhangup", libc::SYS_vhangup, Always),
        // Typing into, or reprogramming, a terminal the kernel might still reach.
        ("ioctl", libc::SYS_ioctl, OneOf(1, &TERMINAL_IOCTLS)),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        ("iopl", libc::SYS_iopl, Always),
        ("ioperm", libc::SYS_ioperm, Always),
    ]);
    calls
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn denied() -> Vec<(&'static str, i64, When)> {
    Vec::new()
}

/// seccompiler's architecture and the kernel's `AUDIT_ARCH_*` value for it.
#[cfg(target_arch = "x86_64")]
const ARCH: Option<(TargetArch, u32)> = Some((TargetArch::x86_64, 62 | 0x8000_0000 | 0x4000_0000));
#[cfg(target_arch = "aarch64")]
const ARCH: Option<(TargetArch, u32)> =
    Some((TargetArch::aarch64, 183 | 0x8000_0000 | 0x4000_0000));
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<(TargetArch, u32)> = None;

/// Names of the denied calls, for `doctor` and the docs (`clone` only with namespace
/// flags, `personality` only for unusual personas, `ioctl` only for TIOCSTI/TIOCLINUX).
pub fn denied_names() -> Vec<&'static str> {
    denied().into_iter().map(|(name, ..)| name).collect()
}

/// The filter as bytes of `struct sock_filter`, ready to hand to bwrap; built once.
pub fn program() -> Result<&'static [u8], SeccompError> {
    static PROGRAM: OnceLock<Result<Vec<u8>, SeccompError>> = OnceLock::new();
    match PROGRAM.get_or_init(|| build().map(|p| to_bytes(&p))) {
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(e.clone()),
    }
}

fn build() -> Result<BpfProgram, SeccompError> {
    let Some((arch, audit_arch)) = ARCH else {
        return Err(SeccompError::UnsupportedArch(std::env::consts::ARCH));
    };
    let compile = |e: &dyn std::fmt::Display| SeccompError::Compile(e.to_string());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr, when) in denied() {
        rules.insert(nr, to_rules(&when).map_err(|e| compile(&e))?);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| compile(&e))?;
    let main: BpfProgram = filter.try_into().map_err(|e| compile(&e))?;
    let mut program = prelude(audit_arch);
    program.extend(main);
    Ok(program)
}

/// seccompiler rules for one call: a rule matches (and the call is denied) when all its
/// conditions hold; any matching rule denies. Arguments the kernel reads as 32-bit
/// values are compared on their low half only, so high bits cannot dodge the check.
fn to_rules(when: &When) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
    };
    Ok(match *when {
        When::Always => Vec::new(),
        When::AnyFlag(arg, flags) => flags
            .iter()
            .map(|&f| SeccompRule::new(vec![cond(arg, SeccompCmpOp::MaskedEq(f), f)?]))
            .collect::<Result<_, _>>()?,
        When::OneOf(arg, values) => values
            .iter()
            .map(|&v| SeccompRule::new(vec![cond(arg, SeccompCmpOp::Eq, v)?]))
            .collect::<Result<_, _>>()?,
        When::NoneOf(arg, values) => vec![SeccompRule::new(
            values
                .iter()
                .map(|&v| cond(arg, SeccompCmpOp::Ne, v))
                .collect::<Result<_, _>>()?,
        )?],
    })
}

/// Instructions run before seccompiler's filter, for what it cannot say: `clone3` answers
/// `ENOSYS` (its flags live in memory a filter cannot read; glibc then falls back to
/// `clone`, whose flags the filter checks — as Docker and Chromium do), and on x86_64 the
/// x32 system calls answer `ENOSYS` too (their numbers would slip past the table). A
/// foreign architecture falls through to seccompiler's own check, which refuses it.
fn prelude(audit_arch: u32) -> BpfProgram {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // Offsets in `struct seccomp_data`.
    const NR: u32 = 0;
    const ARCH_FIELD: u32 = 4;
    let op = |code: u16, k: u32, jt: u8, jf: u8| sock_filter { code, jt, jf, k };

    // Checks of the call number, each jumping to the ENOSYS return when it matches.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut checks: Vec<(u16, u32)> = vec![(JEQ_K, libc::SYS_clone3 as u32)];
    #[cfg(target_arch = "x86_64")]
    checks.push((
        (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
        X32_SYSCALL_BIT,
    ));
    let n = checks.len() as u8;
    let mut p = vec![
        op(LD_W_ABS, ARCH_FIELD, 0, 0),
        // Another architecture: on to the main filter (past the n checks, the number's
        // load, the jump and the return).
        op(JEQ_K, audit_arch, 0, n + 3),
        op(LD_W_ABS, NR, 0, 0),
    ];
    for (i, (code, k)) in checks.into_iter().enumerate() {
        // The ENOSYS return sits after the remaining checks and the jump over it.
        let to_return = n - i as u8;
        p.push(op(code, k, to_return, 0));
    }
    p.push(op(JA, 1, 0, 0));
    p.push(op(
        RET_K,
        libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA),
        0,
        0,
    ));
    p
}

fn to_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for i in program {
        bytes.extend(i.code.to_ne_bytes());
        bytes.push(i.jt);
        bytes.push(i.jf);
        bytes.extend(i.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `call` in a forked child under the filter; returns the child's exit code: the
    /// errno the call failed with, 0 if it succeeded, or 128+signal if it died.
    fn errno_under_filter(call: impl Fn() -> libc::c_long) -> i32 {
        let program = build().unwrap();
        let raw: Vec<libc::sock_filter> = program
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let prog = libc::sock_fprog {
            len: raw.len() as u16,
            filter: raw.as_ptr() as *mut _,
        };
        // SAFETY: the child only makes raw system calls and exits; nothing it does needs
        // locks another thread of the test harness could hold.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                ) != 0
                {
                    libc::_exit(100);
                }
                let code = if call() == -1 {
                    *libc::__errno_location()
                } else {
                    0
                };
                libc::_exit(code);
            }
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            }
        }
    }

    #[test]
    fn the_program_is_whole_instructions_and_within_the_kernel_limit() {
        let bytes = program().unwrap();
        assert_eq!(bytes.len() % 8, 0);
        assert!(bytes.len() / 8 < 4096, "{} instructions", bytes.len() / 8);
        assert!(denied_names().contains(&"keyctl"));
    }

    #[test]
    fn namespaces_and_mounts_are_refused_with_eperm_and_clone3_with_enosys() {
        // SAFETY (all closures): raw system calls with constant or null arguments.
        let unshare = || unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) };
        assert_eq!(errno_under_filter(unshare), libc::EPERM);
        let high_bits = || unsafe {
            // 32-bit argument with junk in the high half: still the namespace flag.
            libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWNET as u64 | (1u64 << 40)) | libc::SIGCHLD as u64,
                0,
                0,
                0,
                0,
            )
        };
        assert_eq!(errno_under_filter(high_bits), libc::EPERM);
        let mount = || unsafe { libc::syscall(libc::SYS_mount, 0, 0, 0, 0, 0) };
        assert_eq!(errno_under_filter(mount), libc::EPERM);
        let clone3 = || unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
        assert_eq!(errno_under_filter(clone3), libc::ENOSYS);
        let keyring = || unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
        assert_eq!(errno_under_filter(keyring), libc::EPERM);
        let odd_persona = || unsafe { libc::syscall(libc::SYS_personality, 0x0040000) };
        assert_eq!(errno_under_filter(odd_persona), libc::EPERM);
        #[cfg(target_arch = "x86_64")]
        {
            let x32_getpid = || unsafe { libc::syscall(0x4000_0000 + libc::SYS_getpid) };
            assert_eq!(errno_under_filter(x32_getpid), libc::ENOSYS);
        }
    }

    #[test]
    fn ordinary_calls_pass() {
        // SAFETY (all closures): raw system calls with constant or null arguments.
        let getpid = || unsafe { libc::syscall(libc::SYS_getpid) };
        assert_eq!(errno_under_filter(getpid), 0);
        let query_persona = || unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu32) };
        assert_eq!(errno_under_filter(query_persona), 0);
        // A plain fork through clone: the child exits at once.
        let fork = || unsafe {
            let pid = libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0);
            if pid == 0 {
                libc::_exit(0);
            }
            if pid > 0 { 0 } else { -1 }
        };
        assert_eq!(errno_under_filter(fork), 0);
        // setuid to oneself stays allowed (the runtime switches uid as root).
        let setuid = || unsafe { libc::syscall(libc::SYS_setuid, libc::getuid()) };
        assert_eq!(errno_under_filter(setuid), 0);
    }
}
