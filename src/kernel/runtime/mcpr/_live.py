"""Live checkpoints: frozen copies of the kernel at step boundaries, woken by a rewind.

`freeze(step)` forks the kernel between cells. The copy closes the protocol channel (so
the host still sees the channel close when the active kernel dies), ignores interrupts
and waits on an abstract unix socket named after the kernel and the step. It shares
memory with the kernel copy-on-write, in the same sandbox and under the same limits.

`thaw(step)` hands the protocol channel to that copy: the active kernel stops reading,
passes the channel's two fds over the socket (SCM_RIGHTS), and leaves. The copy forks a
fresh child that takes the fds, sets up its threads, output capture and locks again and
greets the host with `thawed`; the copy itself stays frozen, so the same step can be
woken again. The original process is the sandbox's anchor (its exit is the kernel's exit
for the host): when it hands over it clears its namespace and only reaps its children
(it is their subreaper), exiting when none is left. Only processes of the same uid may
talk to a frozen copy.
"""

import ctypes
import gc
import os
import signal
import socket
import struct

_token = None  # shared by every copy of one kernel
_anchor = None  # pid of the original process
_own = {}  # step -> pid of the frozen copies this process forked (to reap them)
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36


def _name(step):
    return f"\0mcpr-live-{_token}-{step}"


def _setup():
    global _token, _anchor
    if _token is None:
        _token = os.urandom(8).hex()
        _anchor = os.getpid()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            # A kernel that dropped root is not dumpable, so its /proc files (the copies'
            # memory use) would be root's; ptrace stays forbidden by the sandbox.
            libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def pss_bytes(pid):
    """The process's proportional share of memory (PSS: its private pages, plus each
    page it shares divided by the number of processes sharing it), so that the copies'
    sum never leaves out pages they share only among themselves. None when the process
    is gone or has exited (a zombie has no memory left); 0 when it cannot be read."""
    if not os.path.exists(f"/proc/{pid}"):
        return None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return None


def freeze(kernel, step):
    """Forks a frozen copy for `step`. Returns its pid in the kernel; in a copy woken
    later, returns None (the caller must then say nothing: the copy greets by itself)."""
    _setup()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_name(step))
    listener.listen(8)
    kernel.flush_all()
    # Between cells no user code runs; the runtime's locks are made anew on waking.
    pid = os.fork()
    if pid == 0:
        woken = _frozen(kernel, listener, step)
        _wake(kernel, woken, step)
        return None
    listener.close()
    _own[step] = pid
    return pid


def _frozen(kernel, listener, step):
    """The frozen copy's life: wait; exit when dropped; fork a woken kernel when asked.
    Returns (in the woken child only) the channel fds."""
    try:
        os.close(kernel.channel._rfd)
        os.close(kernel.channel._wfd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Woken kernels that hand over are reaped at once.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        while True:
            conn, _ = listener.accept()
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            if uid != os.getuid():
                conn.close()
                continue
            msg, fds, _, _ = socket.recv_fds(conn, 64, 2)
            if msg == b"exit":
                os._exit(0)
            if msg != b"wake" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            child = os.fork()
            if child == 0:
                listener.close()
                conn.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                return fds
            for fd in fds:
                os.close(fd)
            try:
                conn.sendall(b"ok")
            finally:
                conn.close()
    except BaseException:
        os._exit(1)


def _wake(kernel, fds, step):
    """Makes this process the session's kernel on the channel `fds`."""
    _own.clear()
    signal.signal(signal.SIGINT, kernel._on_sigint)
    kernel.revive(fds[0], fds[1])
    kernel.channel.send({"t": "thawed", "step": step, "pid": os.getpid()})


def thaw(kernel, step):
    """Hands the channel to the copy frozen at `step`; returns only on failure (why)."""
    if _token is None:
        return f"no live checkpoint of step {step} exists in this kernel"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(_name(step))
    except OSError as exc:
        return f"the live checkpoint of step {step} is gone ({exc.strerror})"
    kernel.flush_all()
    # Nothing may read the channel any more: the woken kernel owns what the host sends.
    kernel.stop_reading()
    try:
        socket.send_fds(sock, [b"wake"], [kernel.channel._rfd, kernel.channel._wfd])
        answer = sock.recv(2)
    except OSError as exc:
        answer = b""
        why = exc.strerror
    else:
        why = "it did not answer"
    sock.close()
    if answer != b"ok":
        kernel.resume_reading()
        return f"the live checkpoint of step {step} could not be woken ({why})"
    kernel.channel.closed = True
    if os.getpid() != _anchor:
        os._exit(0)
    _become_anchor(kernel)


def drop(steps):
    """Ends the frozen copies of `steps` (those already gone are skipped) and waits for
    the ones this process forked, so that a measure taken next no longer counts them."""
    if _token is None:
        return
    for step in steps:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(_name(step))
            socket.send_fds(sock, [b"exit"], [])
        except OSError:
            pass
        finally:
            sock.close()
        pid = _own.pop(step, None)
        if pid is not None:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _become_anchor(kernel):
    """The original process after handing over: it keeps the sandbox alive and reaps."""
    for fd in (kernel.channel._rfd, kernel.channel._wfd):
        try:
            os.close(fd)
        except OSError:
            pass
    kernel.ns.clear()
    gc.collect()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue


def shutdown_all():
    """On shutdown: every process of this kernel ends with it (frozen copies, the
    anchor), so none outlives the session whatever the isolation."""
    if _token is None:
        return
    if os.getpgid(0) == _anchor:
        # The anchor leads the process group (the host started it in a session of its
        # own): the group is exactly this kernel's processes.
        os.killpg(0, signal.SIGKILL)
    elif os.getpid() != _anchor:
        # In a PID namespace the anchor's end ends every process in it.
        os.kill(_anchor, signal.SIGKILL)
    else:
        for pid in _own.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
