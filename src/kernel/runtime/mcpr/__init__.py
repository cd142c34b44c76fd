"""mcpr inside the sandbox: call into the host from running code.

    import mcpr
    mcpr.host_call("echo", {"x": 1})          # -> {"x": 1}
    await mcpr.host_call_async("sleep", {"seconds": 0.1})

Host errors are raised as `mcpr.HostCallError` (its `kind` says how the call failed).
"""

from ._kernel import HostCallError

__all__ = ["HostCallError", "host_call", "host_call_async"]


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
