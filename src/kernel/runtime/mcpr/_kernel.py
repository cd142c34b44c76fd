"""The mcpr kernel: runs cells for the mcpr host in one persistent namespace.

Owns the process's original stdin/stdout as the framed protocol channel (a 4-byte
big-endian length, then a UTF-8 JSON object). User-visible fds 1 and 2 are pipes this
runtime drains itself, so nothing user code prints, writes to fd 1/2, or closes can reach
or corrupt the channel. Never imported by user code directly: `mcpr` re-exports the API.
"""

import ast
import asyncio
import builtins
import codecs
import faulthandler
import inspect
import itertools
import json
import linecache
import os
import queue
import select
import signal
import struct
import sys
import threading
import time
import traceback
import types

PROTOCOL_VERSION = 1
RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HEADER = struct.Struct(">I")
_CHUNK_CHARS = 32 * 1024
_REPR_LIMIT = 64 * 1024
_JSON_VALUE_LIMIT = 1024 * 1024

_kernel = None  # the running Kernel; set by main()


class HostCallError(Exception):
    """A host call failed on the host side; `kind` says how (e.g. 'unknown', 'failed')."""

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.kind = kind


class FrameTooLarge(ValueError):
    pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BrokenPipeError:
            # The host is gone: nobody is left to report to.
            os._exit(70)
        view = view[n:]


class Channel:
    """Framed JSON messages over two fds; send is safe from any thread."""

    def __init__(self, rfd, wfd, max_frame):
        self._rfd = rfd
        self._wfd = wfd
        self._lock = threading.Lock()
        self.max_frame = max_frame
        self.owner_pid = os.getpid()
        self._rbuf = bytearray()
        self._poll = select.poll()
        self._poll.register(rfd, select.POLLIN)
        self._main_ident = threading.main_thread().ident
        # Sends in progress on the main thread, and an interrupt that arrived meanwhile:
        # KeyboardInterrupt raised mid-write would cut a frame short and corrupt the
        # channel, so it waits until the frame is whole.
        self.main_sending = 0
        self.deferred_interrupt = False
        # Handed to a woken live checkpoint: this process never writes to it again.
        self.closed = False

    def encode(self, msg):
        data = json.dumps(msg, ensure_ascii=False, separators=(",", ":"), default=repr)
        data = data.encode("utf-8", "replace")
        if len(data) > self.max_frame:
            raise FrameTooLarge(
                f"message of {len(data)} bytes exceeds the {self.max_frame}-byte frame limit"
            )
        return _HEADER.pack(len(data)) + data

    def send(self, msg):
        if self.closed:
            return
        if os.getpid() != self.owner_pid:
            # A process forked by user code shares this fd; only the kernel may frame.
            if msg.get("t") == "out":
                os.write(2 if msg.get("stream") == "stderr" else 1, msg["text"].encode("utf-8", "replace"))
            return
        frame = self.encode(msg)
        entered = self.hold_interrupts()
        try:
            with self._lock:
                _write_all(self._wfd, frame)
        finally:
            self.release_interrupts(entered)

    def hold_interrupts(self):
        """On the main thread, holds back KeyboardInterrupt until `release_interrupts`.

        Raised inside a `with lock:` block, the interrupt can land between the acquire and
        the block's protection and leave the lock held for good (the next flush then
        deadlocks the kernel), or cut a frame short; it waits until the section is done."""
        if threading.get_ident() != self._main_ident:
            return False
        self.main_sending += 1
        return True

    def release_interrupts(self, entered):
        if entered:
            self.main_sending -= 1
            if self.main_sending == 0 and self.deferred_interrupt:
                self.deferred_interrupt = False
                raise KeyboardInterrupt

    def read_some(self):
        """One read from the host into the buffer; False at end of input.

        Only the holder of the kernel's read lock may call this (or pop_frame)."""
        while True:
            try:
                data = os.read(self._rfd, 1 << 16)
            except InterruptedError:
                continue
            if not data:
                return False
            self._rbuf += data
            return True

    def pop_frame(self):
        """The next complete message in the buffer, or None."""
        buf = self._rbuf
        if len(buf) < 4:
            return None
        (n,) = _HEADER.unpack_from(buf)
        if n > self.max_frame:
            raise FrameTooLarge(f"host sent a {n}-byte frame; limit {self.max_frame}")
        if len(buf) < 4 + n:
            return None
        body = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        return json.loads(body)

    def readable(self, timeout_ms):
        """Wait until the host has sent something (or the timeout passes)."""
        if self._rbuf:
            return True
        return bool(self._poll.poll(timeout_ms))


class _BinaryOut:
    """`sys.stdout.buffer`: bytes written here are decoded and sent like text."""

    def __init__(self, text):
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data):
        self._text.write(self._decoder.decode(bytes(data)))
        return len(data)

    def flush(self):
        self._text.flush()

    def writable(self):
        return True

    def fileno(self):
        return self._text.fileno()


class StreamOut:
    """A text stream that sends what is written to the host as output chunks.

    write() only buffers; a flusher thread sends promptly, so a print in a sleeping loop
    arrives live while a tight print loop coalesces into few frames.
    """

    encoding = "utf-8"
    errors = "replace"
    newlines = None
    line_buffering = False

    def __init__(self, kernel, name, fd):
        self._kernel = kernel
        self.name = name
        self._fd = fd
        self._parts = []
        self._size = 0
        self._lock = threading.Lock()
        self.buffer = _BinaryOut(self)

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if not s:
            return 0
        channel = self._kernel.channel
        entered = channel.hold_interrupts()
        try:
            with self._lock:
                wake = not self._parts
                self._parts.append(s)
                self._size += len(s)
                big = self._size >= _CHUNK_CHARS
            if big:
                self.flush()
            elif wake:
                self._kernel.wake_flusher()
        finally:
            channel.release_interrupts(entered)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        # Sending under the lock keeps chunks of one stream in order across threads.
        channel = self._kernel.channel
        entered = channel.hold_interrupts()
        try:
            with self._lock:
                if not self._parts:
                    return
                text = "".join(self._parts)
                self._parts = []
                self._size = 0
                self._kernel.send_output(self.name, text)
        finally:
            channel.release_interrupts(entered)

    def close(self):
        # Closing the capture would silence the rest of the session; flush instead.
        self.flush()

    @property
    def closed(self):
        return False

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False


class _Waiter:
    __slots__ = ("lock", "reply")

    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.reply = None

    def resolve(self, reply):
        self.reply = reply
        self.lock.release()

    def wait(self, timeout):
        if self.lock.acquire(timeout=timeout):
            self.lock.release()


class _AsyncWaiter:
    __slots__ = ("loop", "future")

    def __init__(self, loop):
        self.loop = loop
        self.future = loop.create_future()

    def resolve(self, reply):
        def _set():
            if not self.future.done():
                self.future.set_result(reply)

        self.loop.call_soon_threadsafe(_set)


def _reply_value(reply):
    if reply.get("ok"):
        return reply.get("value")
    err = reply.get("error") or {}
    raise HostCallError(err.get("message", "host call failed"), err.get("kind", "failed"))


class FdCapture:
    """Points fd 1 and 2 at pipes and forwards what arrives there as output chunks."""

    def __init__(self, kernel):
        self._kernel = kernel
        self._lock = threading.Lock()
        self._pipes = {}  # fd -> (read_fd, spare_write_fd, stream name, decoder)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.dup2(w, fd)
            self._pipes[fd] = (r, w, name, codecs.getincrementaldecoder("utf-8")("replace"))
        self._poll = select.poll()
        for r, _, _, _ in self._pipes.values():
            self._poll.register(r, select.POLLIN)
        self._by_read = {p[0]: p for p in self._pipes.values()}

    def restore(self):
        """Re-point fd 1/2 at the capture pipes if user code closed or replaced them."""
        for fd, (_, w, _, _) in self._pipes.items():
            try:
                same = os.path.samestat(os.fstat(fd), os.fstat(w))
            except OSError:
                same = False
            if not same:
                os.dup2(w, fd)

    def _drain(self, r):
        _, _, name, decoder = self._by_read[r]
        while True:
            try:
                data = os.read(r, 65536)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            text = decoder.decode(data)
            if text:
                # What Python printed before this reached the fd must be sent first.
                self._kernel.flush_streams()
                self._kernel.send_output(name, text)

    def drain_now(self):
        with self._lock:
            for r in self._by_read:
                self._drain(r)

    def run(self):
        while True:
            try:
                events = self._poll.poll()
            except InterruptedError:
                continue
            with self._lock:
                for r, _ in events:
                    self._drain(r)


class Kernel:
    def __init__(self, channel):
        self.channel = channel
        self.cell = 0
        self._ids = itertools.count(1)
        self._pending = {}
        self._pending_lock = threading.Lock()
        self._inbox = queue.SimpleQueue()
        self._read_lock = threading.Lock()
        self._callers_reading = 0
        self._last_caller_read = 0.0
        self._state_lock = threading.Lock()
        self._running = None  # cell id currently executing user code
        self._in_user_code = False
        # The SIGINT handler acted on an interrupt of the running cell.
        self._interrupted = False
        self._flush_event = threading.Event()
        # The channel is being handed to a live checkpoint: the reader thread stays off it.
        self._handover = False
        self.main_ident = threading.get_ident()
        self.main_module = types.ModuleType("__main__")
        self.main_module.__dict__["__builtins__"] = builtins
        self.ns = self.main_module.__dict__
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.fds = None
        self.stdout = None
        self.stderr = None

    # -- output ------------------------------------------------------------------------
    def send_output(self, stream, text):
        for start in range(0, len(text), _CHUNK_CHARS):
            self.channel.send(
                {"t": "out", "cell": self.cell, "stream": stream, "text": text[start : start + _CHUNK_CHARS]}
            )

    def wake_flusher(self):
        self._flush_event.set()

    def _flusher(self):
        while True:
            self._flush_event.wait()
            self._flush_event.clear()
            self.stdout.flush()
            self.stderr.flush()

    def flush_streams(self):
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except Exception:
                pass

    def flush_all(self):
        self.flush_streams()
        self.fds.drain_now()

    # -- host calls --------------------------------------------------------------------
    def host_call(self, name, args):
        call_id = next(self._ids)
        waiter = _Waiter()
        with self._pending_lock:
            self._pending[call_id] = waiter
        try:
            self.channel.send({"t": "call", "id": call_id, "cell": self.cell, "name": name, "args": args})
            # Read the reply ourselves when nobody else is reading: handing it over from
            # another thread costs a GIL hand-off per call. Otherwise whoever is reading
            # (the reader thread, another caller) resolves the waiter.
            while waiter.reply is None:
                if self._read_lock.acquire(blocking=False):
                    self._callers_reading += 1
                    try:
                        while waiter.reply is None:
                            if not self._pump():
                                raise HostCallError("the host closed the channel", "closed")
                    finally:
                        self._callers_reading -= 1
                        self._last_caller_read = time.monotonic()
                        self._read_lock.release()
                else:
                    waiter.wait(0.002)
        finally:
            with self._pending_lock:
                self._pending.pop(call_id, None)
        return _reply_value(waiter.reply)

    async def host_call_async(self, name, args):
        call_id = next(self._ids)
        waiter = _AsyncWaiter(asyncio.get_running_loop())
        with self._pending_lock:
            self._pending[call_id] = waiter
        try:
            self.channel.send({"t": "call", "id": call_id, "cell": self.cell, "name": name, "args": args})
            reply = await waiter.future
        finally:
            with self._pending_lock:
                self._pending.pop(call_id, None)
        return _reply_value(reply)

    # -- reader thread -----------------------------------------------------------------
    def _pump(self):
        """Read once and dispatch every complete message. Caller holds the read lock."""
        if not self.channel.read_some():
            self._inbox.put({"t": "shutdown"})
            return False
        while True:
            try:
                msg = self.channel.pop_frame()
            except (FrameTooLarge, ValueError) as exc:
                self._inbox.put({"t": "fatal", "message": str(exc)})
                return False
            if msg is None:
                return True
            self._dispatch(msg)

    def _dispatch(self, msg):
        kind = msg.get("t")
        if kind == "reply":
            with self._pending_lock:
                waiter = self._pending.get(msg.get("id"))
            if waiter is not None:
                waiter.resolve(msg)
        elif kind == "interrupt":
            # The host repeats an interrupt until the cell ends: a signal that lands just
            # before a blocking call (time.sleep) is only handled when the call returns,
            # so one more is sent until the handler has acted on one.
            with self._state_lock:
                if (
                    self._running is not None
                    and msg.get("cell") in (None, self._running)
                    and not self._interrupted
                ):
                    signal.pthread_kill(self.main_ident, signal.SIGINT)
        else:
            self._inbox.put(msg)

    def _reader(self):
        """Reads whenever no host caller is reading: exec, interrupts, async replies."""
        while True:
            if self._handover:
                time.sleep(0.01)
                continue
            # Callers in a tight loop keep the channel; stepping aside for a moment
            # avoids contending with them for every reply.
            if self._callers_reading or time.monotonic() - self._last_caller_read < 0.005:
                time.sleep(0.002)
                continue
            if not self.channel.readable(50):
                continue
            if not self._read_lock.acquire(blocking=False):
                continue
            try:
                if self._handover:
                    continue
                if self.channel.readable(0) and not self._pump():
                    return
            finally:
                self._read_lock.release()

    def _after_fork_in_child(self):
        # No reader or flusher thread survives fork: the child writes to fd 1/2 directly.
        sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
        sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")

    def _leave_if_forked_child(self, code):
        """User code forked and the child fell back into the runtime: end it there."""
        if os.getpid() != self.channel.owner_pid:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _on_sigint(self, signum, frame):
        # An interrupt that lands after its cell finished must not hit the runtime.
        if self._in_user_code:
            self._interrupted = True
            if self.channel.main_sending:
                # Mid-frame: raised once the frame is whole (see Channel.send).
                self.channel.deferred_interrupt = True
                return
            raise KeyboardInterrupt

    # -- cells -------------------------------------------------------------------------
    def _run_code(self, code):
        if code.co_flags & inspect.CO_COROUTINE:
            task = self.loop.create_task(eval(code, self.ns))
            try:
                return self.loop.run_until_complete(task)
            except BaseException:
                if not task.done():
                    task.cancel()
                    try:
                        self.loop.run_until_complete(task)
                    except BaseException:
                        pass
                raise
        return eval(code, self.ns)

    def _report_value(self, value):
        if value is None:
            return
        self.ns["_"] = value
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}: {exc}>"
        if len(text) > _REPR_LIMIT:
            text = text[:_REPR_LIMIT] + f"... [{len(text) - _REPR_LIMIT} more characters]"
        msg = {"t": "value", "cell": self.cell, "repr": text}
        if isinstance(value, (dict, list, tuple, str, int, float, bool)):
            try:
                encoded = json.dumps(value, allow_nan=False)
                if len(encoded) <= _JSON_VALUE_LIMIT:
                    msg["json"] = value
            except (TypeError, ValueError, RecursionError):
                pass
        self.channel.send(msg)

    def _report_error(self, exc, filename):
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        _hide_runtime_frames(te)
        line = None
        column = None
        if isinstance(exc, SyntaxError) and exc.filename == filename:
            line, column = exc.lineno, exc.offset
        else:
            for frame in te.stack:
                if frame.filename == filename:
                    line = frame.lineno
        self.channel.send(
            {
                "t": "error",
                "cell": self.cell,
                "ename": type(exc).__name__,
                "evalue": str(exc) if not isinstance(exc, SyntaxError) else (exc.msg or ""),
                "traceback": "".join(te.format()),
                "line": line,
                "column": column,
            }
        )

    def run_cell(self, msg):
        self.cell = msg["cell"]
        code = msg.get("code", "")
        filename = f"<cell-{self.cell}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        self.fds.restore()
        sys.stdout, sys.stderr = self.stdout, self.stderr
        status = "ok"
        try:
            flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | flags)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            body = compile(tree, filename, "exec", flags)
            last_code = compile(last, filename, "eval", flags) if last is not None else None
            with self._state_lock:
                self._running = self.cell
                self._interrupted = False
            self._in_user_code = True
            try:
                self._run_code(body)
                value = self._run_code(last_code) if last_code is not None else None
            finally:
                self._in_user_code = False
                with self._state_lock:
                    self._running = None
            self._report_value(value)
        except KeyboardInterrupt as exc:
            self._leave_if_forked_child(130)
            status = "interrupted"
            self._report_error(exc, filename)
        except BaseException as exc:  # SystemExit too: a cell must not end the kernel
            if os.getpid() != self.channel.owner_pid:
                exit_code = 1
                if isinstance(exc, SystemExit):
                    exit_code = exc.code if isinstance(exc.code, int) else 0
                else:
                    print(f"[forked child {os.getpid()}] {type(exc).__name__}: {exc}", file=sys.stderr)
                self._leave_if_forked_child(exit_code)
            status = "error"
            self._report_error(exc, filename)
        finally:
            self._leave_if_forked_child(0)
            self.flush_all()
            self.channel.send({"t": "done", "cell": self.cell, "status": status})

    def start_threads(self):
        threading.Thread(target=self._reader, name="mcpr-reader", daemon=True).start()
        threading.Thread(target=self._flusher, name="mcpr-flusher", daemon=True).start()
        threading.Thread(target=self.fds.run, name="mcpr-fd-capture", daemon=True).start()

    # -- live checkpoints (see mcpr._live) ---------------------------------------------
    def stop_reading(self):
        """Keeps every reader off the channel (before handing it over)."""
        self._handover = True
        if not self._read_lock.acquire(timeout=5):
            self._handover = False
            raise OSError(0, "a background thread is waiting for a host call")

    def resume_reading(self):
        self._handover = False
        self._read_lock.release()

    def revive(self, rfd, wfd):
        """In a woken copy (one thread, locks copied in whatever state): the channel,
        the locks, the output capture and the threads, set up again."""
        self.channel = Channel(rfd, wfd, self.channel.max_frame)
        self._pending = {}
        self._pending_lock = threading.Lock()
        self._inbox = queue.SimpleQueue()
        self._read_lock = threading.Lock()
        self._callers_reading = 0
        self._state_lock = threading.Lock()
        self._running = None
        self._in_user_code = False
        self._interrupted = False
        self._flush_event = threading.Event()
        self._handover = False
        self.main_ident = threading.get_ident()
        for r, w, _, _ in self.fds._pipes.values():
            for fd in (r, w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fds = FdCapture(self)
        for stream in (self.stdout, self.stderr):
            stream._lock = threading.Lock()
            stream._parts = []
            stream._size = 0
        sys.stdout, sys.stderr = self.stdout, self.stderr
        # An event loop's selector is not fork-safe: a fresh one.
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.start_threads()

    def _freeze(self, msg):
        from mcpr import _live

        step = msg.get("step", 0)
        try:
            pid = _live.freeze(self, step)
        except Exception as exc:
            self.channel.send({"t": "frozen", "step": step, "error": f"{type(exc).__name__}: {exc}"})
            return
        if pid is None:
            return  # a woken copy: it has greeted the host already
        # Measured after the fork: the new copy's share is counted with the others'.
        pss = [_live.pss_bytes(p) for p in msg.get("measure", []) + [pid]]
        self.channel.send({"t": "frozen", "step": step, "pid": pid, "pss": pss})

    def _thaw(self, msg):
        from mcpr import _live

        step = msg.get("step", 0)
        try:
            why = _live.thaw(self, step)
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
        self.channel.send({"t": "thawed", "step": step, "error": why})

    def _drop(self, msg):
        from mcpr import _live

        steps = msg.get("steps", [])
        _live.drop(steps)
        pss = [_live.pss_bytes(p) for p in msg.get("measure", [])]
        self.channel.send({"t": "dropped", "steps": steps, "pss": pss})

    def serve(self):
        self.start_threads()
        while True:
            try:
                msg = self._inbox.get()
            except KeyboardInterrupt:
                continue
            kind = msg.get("t")
            if kind == "exec":
                self.run_cell(msg)
            elif kind == "freeze":
                self._freeze(msg)
            elif kind == "thaw":
                self._thaw(msg)
            elif kind == "drop":
                self._drop(msg)
            elif kind == "shutdown":
                self.flush_all()
                if "mcpr._live" in sys.modules:
                    sys.modules["mcpr._live"].shutdown_all()
                return 0
            elif kind == "fatal":
                os.write(2, f"mcpr kernel: {msg['message']}\n".encode())
                return 71


def _hide_runtime_frames(te):
    seen = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list(
            [f for f in te.stack if not f.filename.startswith(RUNTIME_DIR)]
        )
        for nested in (te.__cause__, te.__context__):
            if nested is not None:
                _hide_runtime_frames(nested)
        te = None


def _drop_privileges(uid, gid):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="mcpr-kernel")
    parser.add_argument("--max-frame", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    opts = parser.parse_args(argv)
    if opts.uid is not None:
        _drop_privileges(opts.uid, opts.gid if opts.gid is not None else opts.uid)

    # Take the protocol channel off fds 0/1 before anything can write there.
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    diag = os.dup(2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    faulthandler.enable(file=os.fdopen(diag, "w", closefd=False))

    global _kernel
    kernel = Kernel(Channel(proto_in, proto_out, opts.max_frame))
    _kernel = kernel
    kernel.fds = FdCapture(kernel)
    kernel.stdout = StreamOut(kernel, "stdout", 1)
    kernel.stderr = StreamOut(kernel, "stderr", 2)
    sys.stdout, sys.stderr = kernel.stdout, kernel.stderr
    sys.stdin = open(os.devnull)
    sys.argv = [""]
    sys.modules["__main__"] = kernel.main_module
    if "" not in sys.path:
        sys.path.insert(0, "")
    signal.signal(signal.SIGINT, kernel._on_sigint)
    os.register_at_fork(after_in_child=kernel._after_fork_in_child)

    kernel.channel.send(
        {
            "t": "hello",
            "version": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "python": ".".join(map(str, sys.version_info[:3])),
            "uid": os.getuid(),
        }
    )
    return kernel.serve()
