"""mcpr inside the sandbox: call into the host from running code.

    import mcpr
    mcpr.host_call("echo", {"x": 1})          # -> {"x": 1}
    await mcpr.host_call_async("sleep", {"seconds": 0.1})

Host errors are raised as `mcpr.HostCallError` (its `kind` says how the call failed).
"""

from ._kernel import HostCallError

__all__ = ["HostCallError", "host_call", "host_call_async", "ask_llm", "ask_llm_async", "ContextData"]


def _running():
    from . import _kernel

    if _kernel._kernel is None:
        raise RuntimeError("mcpr.host_call works only inside an mcpr kernel")
    return _kernel._kernel


def host_call(name, args=None, /, **kwargs):
    """Call the host handler `name` and wait for its answer. Safe from any thread."""
    return _running().host_call(name, _merge(args, kwargs))


async def host_call_async(name, args=None, /, **kwargs):
    """Like host_call, but awaitable, so many calls can run at once with asyncio.gather."""
    return await _running().host_call_async(name, _merge(args, kwargs))


def _merge(args, kwargs):
    if args is None:
        return kwargs
    if kwargs:
        if not isinstance(args, dict):
            raise TypeError("host_call takes a dict of arguments or keyword arguments, not both")
        return {**args, **kwargs}
    return args


def _llm_args(prompt, data):
    if not isinstance(prompt, str):
        raise TypeError(f"ask_llm: prompt must be a str, not {type(prompt).__name__}")
    if data is not None and not isinstance(data, str):
        import json

        try:
            data = json.dumps(data, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            data = str(data)
    return {"prompt": prompt, "data": data}


def ask_llm(prompt, data=None):
    """Ask the session's language model for judgement over `data`; returns its answer.

    Safe from several threads at once. The answer is text and is never run as code.
    """
    return host_call("ask_llm", _llm_args(prompt, data))


async def ask_llm_async(prompt, data=None):
    """Like ask_llm, awaitable: `await asyncio.gather(*(ask_llm_async(p) for p in ps))`."""
    return await host_call_async("ask_llm", _llm_args(prompt, data))


class ContextData:
    """A large input given to the run (`mcpr run --context FILE`), read lazily from disk.

    len() is its size in bytes. Read it with .text(), .read(offset, n) (bytes offset,
    decoded), .lines() or plain iteration (lazily, line by line, like a file) or .json().
    """

    def __init__(self, path, kind="text"):
        import os

        self.path = path
        self.kind = kind
        self.size = os.path.getsize(path)
        self._text = None

    def text(self):
        if self._text is None:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                self._text = f.read()
        return self._text

    def read(self, offset=0, n=65536):
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(n).decode("utf-8", errors="replace")

    def lines(self):
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\n")

    def json(self):
        import json

        with open(self.path, encoding="utf-8") as f:
            return json.load(f)

    def __iter__(self):
        # Like a file: one line at a time, without its newline.
        return self.lines()

    def __len__(self):
        return self.size

    def __str__(self):
        return self.text()

    def __repr__(self):
        return f"<CONTEXT_DATA: {self.size:,} bytes of {self.kind} at {self.path}; use .text(), .read(offset, n), .lines(), .json()>"
