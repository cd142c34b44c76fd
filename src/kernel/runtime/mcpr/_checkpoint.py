"""Saved checkpoints: the session's globals as pickles the host keeps in its record.

At a step boundary the host runs `save(step)` quietly: each global is pickled on its own
(so an unchanged value is the same object in the record and costs nothing), hashed, and
only the pickles the host does not hold yet are sent, in parts, over host calls. Modules
are saved by name and imported again; names bound to the same object are saved once.
What cannot be pickled, or refers to code defined in the session (a function, a class,
an instance of one), is listed as unsaved with the step that last bound it: the host
re-creates it by re-running that step. Nothing here ever reads or writes a file.
"""

import base64
import hashlib
import importlib
import json
import pickle
import sys
import types

FORMAT = 1
PROTOCOL = 4
# Raw bytes per host call: base64 makes a third more, well under the frame limit.
_PART = 6 * 1024 * 1024
_MARK = "\n\x00mcpr-checkpoint "
# Values that cannot change in place: an unchanged binding need not be pickled again.
_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None))

_seen = {}  # name -> id of its value at the last step boundary
_defined = {}  # name -> the step whose cells last bound it
_cache = {}  # name -> (id, hash) for immutable values
_loaded = {}  # name -> (id, hash) as restored by load()


def _kernel():
    from mcpr import _kernel as k

    return k._kernel


def _names(ns):
    return sorted(n for n in ns if not (n.startswith("__") and n.endswith("__")) and n != "_")


def _report(obj):
    sys.stdout.write(_MARK + json.dumps(obj) + "\n")


def _pickle(name, value):
    """(bytes, None) or (None, why it cannot be saved)."""
    try:
        data = pickle.dumps(value, protocol=PROTOCOL)
    except BaseException as exc:  # pickling runs user __reduce__ code: anything goes
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, f"cannot be pickled ({type(exc).__name__}: {exc})"[:300]
    if b"__main__" in data:
        return None, "refers to a function or class defined in the session"
    return data, None


def _send(digest, data):
    parts = max(1, -(-len(data) // _PART))
    for i in range(parts):
        chunk = data[i * _PART : (i + 1) * _PART]
        _kernel().host_call(
            "checkpoint.put",
            {"hash": digest, "part": i, "parts": parts, "data": base64.b64encode(chunk).decode("ascii")},
        )


def save(step):
    """Sends the globals' pickles the host lacks; prints the checkpoint's manifest."""
    global _seen
    ns = _kernel().ns
    names = _names(ns)
    for n in names:
        if _seen.get(n) != id(ns[n]):
            _defined[n] = step
    for gone in set(_defined) - set(names):
        del _defined[gone]
    _seen = {n: id(ns[n]) for n in names}
    saved, modules, aliases, unsaved, blobs = {}, {}, {}, {}, {}
    first = {}
    for n in names:
        value = ns[n]
        if isinstance(value, types.ModuleType):
            modules[n] = value.__name__
            continue
        owner = first.setdefault(id(value), n)
        if owner != n:
            if owner in unsaved:
                unsaved[n] = f"the same object as {owner}, which cannot be saved"
            else:
                aliases[n] = owner
            continue
        cached = _cache.get(n)
        if cached is not None and cached[0] == id(value) and isinstance(value, _IMMUTABLE):
            saved[n] = cached[1]
            continue
        data, why = _pickle(n, value)
        if data is None:
            unsaved[n] = why
            continue
        digest = hashlib.sha256(data).hexdigest()
        saved[n] = digest
        blobs[digest] = data
        if isinstance(value, _IMMUTABLE):
            _cache[n] = (id(value), digest)
    for n in list(_cache):
        if n not in saved:
            del _cache[n]
    missing = _kernel().host_call("checkpoint.missing", {"hashes": sorted(blobs)}) if blobs else []
    sent = 0
    for digest in missing:
        data = blobs.get(digest)
        if data is not None:
            _send(digest, data)
            sent += len(data)
    _report(
        {
            "format": FORMAT,
            "python": ".".join(map(str, sys.version_info[:3])),
            "saved": saved,
            "modules": modules,
            "aliases": aliases,
            "unsaved": unsaved,
            "defined": {n: _defined[n] for n in names},
            "sent": sent,
        }
    )


def _fetch(digest):
    parts, data, i = 1, bytearray(), 0
    while i < parts:
        reply = _kernel().host_call("checkpoint.get", {"hash": digest, "part": i, "part_size": _PART})
        parts = reply["parts"]
        data += base64.b64decode(reply["data"])
        i += 1
    data = bytes(data)
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("its content does not match its hash")
    return data


def _restore(names, manifest, failed, damaged):
    ns = _kernel().ns
    for n in names:
        try:
            data = _fetch(manifest["saved"][n])
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            damaged[n] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        try:
            value = pickle.loads(data)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failed[n] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        failed.pop(n, None)
        ns[n] = value
        _loaded[n] = (id(value), manifest["saved"][n])


def load(manifest):
    """Puts the checkpoint's names into the namespace; prints what came back and what is
    missing (unsaved names, and saved ones that failed, e.g. for want of a class that a
    re-run step defines)."""
    global _seen
    ns = _kernel().ns
    failed, damaged = {}, {}
    for n, module in manifest["modules"].items():
        try:
            ns[n] = importlib.import_module(module)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failed[n] = f"{type(exc).__name__}: {exc}"[:300]
    _restore(sorted(manifest["saved"]), manifest, failed, damaged)
    _alias(manifest, failed)
    _defined.clear()
    _defined.update(manifest["defined"])
    wanted = set(manifest["unsaved"]) | set(failed)
    _report(
        {
            "restored": sorted(n for n in _names(ns) if n not in wanted),
            "missing": sorted(n for n in wanted if n not in ns),
            "failed": failed,
            "damaged": damaged,
        }
    )


def _alias(manifest, failed):
    ns = _kernel().ns
    for n, owner in manifest["aliases"].items():
        if owner in ns and owner not in failed:
            ns[n] = ns[owner]
        else:
            failed[n] = f"the same object as {owner}, which did not come back"


def reapply(manifest):
    """After re-run steps: saved names they rebound (or that failed before) are restored
    from the checkpoint again, so the state is the saved one, not a re-computed one."""
    global _seen
    ns = _kernel().ns
    failed, damaged = {}, {}
    again = []
    for n, digest in manifest["saved"].items():
        had = _loaded.get(n)
        if had is None or n not in ns or id(ns[n]) != had[0]:
            again.append(n)
    _restore(sorted(again), manifest, failed, damaged)
    _alias(manifest, failed)
    _loaded.clear()
    _seen = {n: id(ns[n]) for n in _names(ns)}
    missing = sorted(n for n in set(manifest["unsaved"]) | set(failed) if n not in ns)
    _report({"restored": sorted(again), "missing": missing, "failed": failed, "damaged": damaged})
