"""mcpr's skill analyser: reads Python source with the `ast` module and never runs it.

Run by the host as `python -I -c <this file>`; one JSON request on stdin, one JSON answer
on stdout. Operations:

  scan     files [{path, source}] -> per file: docstring, run() signature, normalised
           AST hash, the tools it calls, or why it is not a skill
  imports  codes [str] -> per code: the skills it imports (`skills.<name>`)
  extract  code, task -> whether the code is worth keeping and, if so, the module source
           of a side-effect-free skill with a `run(...)` entry point; if not, why (one line)

No input makes it fail: code it cannot read or turn into a skill gets a reason, and a
fault of the analyser itself is reported as a one-line reason too (`extract`) or a
one-line message on stderr with exit status 3 (other operations).

The flat-script transformation is deterministic: imports stay at the top (tool imports
move into the functions that use them, so importing a skill never starts a server);
function and class definitions stay as helpers; every other top-level statement moves
into `run`. Literals of the task become parameters with those defaults: a top-level
`name = <literal>` (not an empty/zero accumulator, not rebound later), and any literal in
the script whose text appears in the task as a word. A final `print(x)` or bare expression
becomes `return x`.
"""

import ast
import builtins
import copy
import hashlib
import json
import keyword
import math
import re
import sys
import threading

AGENT_BUILTINS = {"ask_llm", "ask_llm_async", "CONTEXT_DATA"}
STOPWORDS = set(
    """a an the and or of in on at to for from by with into onto over under about as is are
    was were be been being it its this that these those then than there here what which who
    whom whose how why when where me my i you your we our us they them their he she his her
    do does did done doing please can could would should will shall may might must get give
    show tell find compute calculate print return using use via each every all any some much
    many also just only now today current currently s t""".split()
)
MAX_NAME = 40
# Tags people put before a task ("[demo] ...", "task: ..."): not part of its meaning.
TAG = re.compile(
    r"^\s*(?:\[[\w.#/ -]{1,30}\]|\([\w.#/ -]{1,30}\)|"
    r"(?:task|todo|fixme|note|question|q|prompt|request|query|goal|instructions?|user|demo|test|example|step|job)\s*:)\s*",
    re.IGNORECASE,
)
# A number as written in a task (the sign is the code's business: `-5` is `-` and 5).
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")
TYPING_NAMES = ("Any", "Optional", "Sequence")
# Nodes whose presence makes code more than a one-off command.
COMPOUND = tuple(
    getattr(ast, n)
    for n in ("For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar", "If", "Match",
              "ListComp", "DictComp", "SetComp", "GeneratorExp")
    if hasattr(ast, n)
)


# ---------------------------------------------------------------------------- scan


def normalised_hash(tree):
    """sha256 of the AST without docstrings, positions, or run()'s default values: two
    skills that differ only in the task's literals are the same skill."""
    tree = copy.deepcopy(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    entry = find_run(tree)
    if isinstance(entry, (ast.FunctionDef, ast.AsyncFunctionDef)):
        entry.args.defaults = [ast.Constant(value=...) for _ in entry.args.defaults]
        entry.args.kw_defaults = [None if d is None else ast.Constant(value=...) for d in entry.args.kw_defaults]
        # Mutable defaults are filled in at the top of run; drop those fills too.
        entry.body = [s for s in entry.body if not is_default_fill(s)] or [ast.Pass()]
    dump = ast.dump(tree, annotate_fields=True, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:32]


def is_default_fill(stmt):
    """`if x is None: x = <literal>`, the fill of a mutable default."""
    if not (isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1):
        return False
    test, fill = stmt.test, stmt.body[0]
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and isinstance(test.ops[0], ast.Is)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
        and isinstance(fill, ast.Assign)
        and isinstance(fill.targets[0], ast.Name)
        and fill.targets[0].id == test.left.id
        and literal_value(fill.value)[1]
    )


def find_run(tree):
    """The entry point: `def run` / `async def run`, or `run = <top-level function>`."""
    defs = {}
    entry = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = node
            if node.name == "run":
                entry = node
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "run"
            and isinstance(node.value, ast.Name)
            and node.value.id in defs
        ):
            entry = defs[node.value.id]
    return entry


def render_signature(fn):
    a = fn.args
    parts = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        parts.append(render_param(arg, default))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg:
        parts.append("*" + render_param(a.vararg, None))
    elif a.kwonlyargs:
        parts.append("*")
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        parts.append(render_param(arg, default))
    if a.kwarg:
        parts.append("**" + render_param(a.kwarg, None))
    prefix = "async run" if isinstance(fn, ast.AsyncFunctionDef) else "run"
    sig = f"{prefix}({', '.join(parts)})"
    if fn.returns is not None:
        sig += f" -> {ast.unparse(fn.returns)}"
    return sig


def render_param(arg, default):
    text = arg.arg
    if arg.annotation is not None:
        text += f": {ast.unparse(arg.annotation)}"
        if default is not None:
            text += f" = {ast.unparse(default)}"
    elif default is not None:
        text += f"={ast.unparse(default)}"
    return text


def skills_imported(tree):
    names = []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Import):
            found = [a.name.split(".")[1] for a in node.names if a.name.startswith("skills.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("skills."):
                found = [node.module.split(".")[1]]
            elif node.module == "skills":
                found = [a.name for a in node.names if a.name != "*"]
        for n in found:
            if n not in names:
                names.append(n)
    return names


def tools_used(tree):
    """The MCP tools the code refers to, as `server.tool`, sorted: names imported from
    `tools.<server>`, and attributes of an imported `tools.<server>` module (a module
    imported but never used that way counts as `server`)."""
    found = set()
    modules = {}  # a name bound to a tools.<server> module -> the server
    dotted = set()  # servers imported as `import tools.<server>` (used as tools.<server>.x)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "tools":
                continue
            for a in node.names:
                if len(parts) == 2 and a.name != "*" and not a.name.startswith("_"):
                    found.add(f"{parts[1]}.{a.name}")
                elif len(parts) == 1 and not a.name.startswith("_"):
                    modules[a.asname or a.name] = a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "tools" and len(parts) == 2:
                    if a.asname:
                        modules[a.asname] = parts[1]
                    else:
                        dotted.add(parts[1])
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in modules:
            server = modules[base.id]
        elif (
            isinstance(base, ast.Attribute)
            and isinstance(base.value, ast.Name)
            and base.value.id == "tools"
            and base.attr in dotted
        ):
            server = base.attr
        else:
            continue
        if not node.attr.startswith("_"):
            found.add(f"{server}.{node.attr}")
            used.add(server)
    found.update(s for s in set(modules.values()) | dotted if s not in used)
    return sorted(found)


def one_line(text, limit=240):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fault(e):
    """A fault of the analyser itself, in one line."""
    return f"{type(e).__name__}: {one_line(e) or 'no message'}"


def parse_failure(e):
    """Why source could not be parsed, in one line."""
    if isinstance(e, SyntaxError):
        return f"{one_line(e.msg)} (line {e.lineno}, column {e.offset})"
    if isinstance(e, (RecursionError, MemoryError)):
        return "it is nested too deeply for Python's parser"
    return one_line(e)  # e.g. ValueError for null bytes


def op_scan(req):
    out = []
    for f in req["files"]:
        try:
            out.append(scan_one(f))
        except RecursionError:
            out.append({"ok": False, "error": "it is nested too deeply for the skill analyser to read"})
        except Exception as e:  # a fault of the analyser must not hide the other files
            out.append({"ok": False, "error": f"the skill analyser failed on it ({fault(e)}); this is a bug in mcpr"})
    return out


def scan_one(f):
    try:
        tree = ast.parse(f["source"], filename=f["path"])
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return {"ok": False, "error": parse_failure(e)}
    entry = find_run(tree)
    if entry is None:
        return {"ok": False, "error": "defines no run() function; a skill's entry point is `def run(...)`"}
    return {
        "ok": True,
        "doc": ast.get_docstring(tree, clean=True) or "",
        "signature": render_signature(entry),
        "params": [a.arg for a in entry.args.posonlyargs + entry.args.args + entry.args.kwonlyargs],
        "hash": normalised_hash(tree),
        "skills": skills_imported(tree),
        "tools": tools_used(tree),
    }


def op_imports(req):
    out = []
    for code in req["codes"]:
        try:
            out.append(skills_imported(ast.parse(code)))
        except Exception:  # code that does not parse (or cannot be read) imports nothing
            out.append([])
    return out


# ---------------------------------------------------------------------------- extract


class Refuse(Exception):
    pass


def is_docstring(stmt):
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def is_main_guard(stmt):
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
        and not stmt.orelse
    )


def is_print(stmt):
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "print"
    )


def bound_names(tree):
    """Every name the module binds anywhere (scopes ignored: an over-approximation)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif hasattr(ast, "MatchAs") and isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif hasattr(ast, "MatchMapping") and isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def loaded_names(nodes):
    out = set()
    for n in nodes:
        for node in ast.walk(n):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                out.add(node.id)
    return out


def literal_value(node):
    """The value of a literal expression (str/number/bool and containers of them) that
    JSON can carry unchanged: it becomes a parameter's default and the step's argument."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False
    if not json_safe(value):
        return None, False
    return value, True


def json_safe(value):
    """Whether `value` survives JSON: no None, bytes, complex, inf or nan, lone
    surrogates, or dict keys other than strings."""
    if isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_safe(k) and json_safe(v) for k, v in value.items())
    return False


def type_of(value):
    if isinstance(value, bool):
        return "bool"
    for t in (int, float, str):
        if isinstance(value, t):
            return t.__name__
    if isinstance(value, (list, tuple, set, frozenset)):
        inner = sorted({type_of(v) for v in value})
        return "Sequence[" + inner[0] + "]" if len(inner) == 1 else "Sequence"
    if isinstance(value, dict):
        keys = sorted({type_of(k) for k in value})
        vals = sorted({type_of(v) for v in value.values()})
        if len(keys) == 1 and len(vals) == 1:
            return f"dict[{keys[0]}, {vals[0]}]"
        return "dict"
    return "Any"


def word_in_task(text, task):
    """Whether `text` appears in the task as a whole word."""
    text = text.strip()
    if len(text) < 2 or len(text) > 200:
        return False
    return re.search(r"(?<!\w)" + re.escape(text) + r"(?!\w)", task, re.IGNORECASE) is not None


def number_in_task(value, task):
    """Whether the task states the number `value`, however it is written: 100.0 is
    found in "100 degrees", 2 is not found in "2.5"."""
    for m in NUMBER.finditer(task):
        try:
            if float(m.group()) == value:
                return True
        except (ValueError, OverflowError):
            continue
    return False


def param_name_for(value):
    if isinstance(value, str):
        if "/" in value or re.search(r"\.[A-Za-z0-9]{1,5}$", value):
            return "path"
        return "text"
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, int):
        return "count"
    return "value"


class Params:
    """Parameters of run in order: name, value, annotation."""

    def __init__(self, taken):
        self.items = []
        self.by_value = {}
        self.taken = set(taken)

    def add(self, wanted, value, from_assign=False, annotation=None):
        key = (type(value).__name__, repr(value))
        if not from_assign and key in self.by_value:
            return self.by_value[key]
        name = wanted
        if name in self.taken or keyword.iskeyword(name) or name == "run":
            i = 2
            while f"{wanted}_{i}" in self.taken:
                i += 1
            name = f"{wanted}_{i}"
        self.taken.add(name)
        self.items.append((name, value, annotation or type_of(value)))
        self.by_value.setdefault(key, name)
        return name


def fitting_annotation(wanted, value):
    """The annotation of the code's own parameter that a literal fills, when the literal
    fits it (an int fits float); else None and the literal's type is used."""
    if wanted == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return "float"
    if wanted in ("int", "str", "bool") and wanted == type_of(value):
        return wanted
    return None


def own_signatures(helpers):
    """Positional parameters (name, annotation) of the code's own functions and of its
    classes' constructors (`__init__`, else a dataclass's fields), by name."""
    out = {}

    def params(fn, skip_self):
        args = fn.args.posonlyargs + fn.args.args
        if skip_self:
            args = args[1:]
        return [(a.arg, ast.unparse(a.annotation) if a.annotation is not None else None) for a in args]

    for h in helpers:
        if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[h.name] = params(h, False)
        elif isinstance(h, ast.ClassDef):
            init = next((m for m in h.body if isinstance(m, ast.FunctionDef) and m.name == "__init__"), None)
            if init is not None:
                out[h.name] = params(init, True)
            elif any("dataclass" in ast.unparse(d) for d in h.decorator_list):
                out[h.name] = [
                    (m.target.id, ast.unparse(m.annotation))
                    for m in h.body
                    if isinstance(m, ast.AnnAssign) and isinstance(m.target, ast.Name)
                ]
    return out


class LiteralsToParams(ast.NodeTransformer):
    """Replaces literals whose text appears in the task with parameters.

    Method names here are `visit_<node class>` for ast's dispatch; helpers must not be
    named like that (a `visit_arg` helper would also be the visitor of `ast.arg`, the
    parameter of every lambda, and recurse forever)."""

    def __init__(self, task, params, signatures=None):
        self.task = task
        self.params = params
        # Positional parameters (name, annotation) of the code's own functions: a literal
        # passed to one is named after the parameter it fills.
        self.signatures = signatures or {}

    def visit_JoinedStr(self, node):
        return node  # parts of an f-string are formatting, not data

    def visit_Subscript(self, node):
        node.value = self.visit(node.value)
        return node  # keys and indexes are structure

    def visit_Dict(self, node):
        node.values = [self.visit(v) if v is not None else None for v in node.values]
        return node

    def visit_match_case(self, node):
        # Patterns are structure (and a name in a pattern would capture, not compare).
        if node.guard is not None:
            node.guard = self.visit(node.guard)
        node.body = [self.visit(s) for s in node.body]
        return node

    def visit_Call(self, node):
        node.func = self.visit(node.func)
        names = self.signatures.get(node.func.id, []) if isinstance(node.func, ast.Name) else []
        # The key of d.get("k") / d.pop("k") / d.setdefault("k", ...) is structure.
        keyed = isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault")
        args = []
        for i, a in enumerate(node.args):
            if keyed and i == 0:
                args.append(a)
                continue
            wanted = names[i] if i < len(names) and not isinstance(a, ast.Starred) else (None, None)
            args.append(self.literal_or_visit(a, *wanted))
        node.args = args
        for kw in node.keywords:
            if kw.arg in ("sep", "end", "encoding", "errors", "mode"):
                continue
            kw.value = self.literal_or_visit(kw.value, kw.arg)
        return node

    def literal_or_visit(self, node, name=None, annotation=None):
        if isinstance(node, ast.Constant):
            return self.maybe_param(node, name, annotation)
        return self.visit(node)

    def visit_Constant(self, node):
        return self.maybe_param(node, None, None)

    def maybe_param(self, node, name, annotation):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not json_safe(value):
            return node
        if isinstance(value, str):
            if not word_in_task(value, self.task):
                return node
        elif value in (0, 1, -1) or not number_in_task(value, self.task):
            return node
        pname = self.params.add(
            name if name and name.isidentifier() else param_name_for(value),
            value,
            annotation=fitting_annotation(annotation, value),
        )
        return ast.copy_location(ast.Name(id=pname, ctx=ast.Load()), node)


def own_returns(helpers):
    """What calling the code's own functions and classes gives, by name: (annotation
    text, whether it must be awaited to give that). Unannotated functions are left out."""
    out = {}
    for h in helpers:
        if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)) and h.returns is not None:
            out[h.name] = (ast.unparse(h.returns), isinstance(h, ast.AsyncFunctionDef))
        elif isinstance(h, ast.ClassDef):
            out[h.name] = (h.name, False)
    return out


def infer_return(expr, assigned, own=None):
    """The type of `expr` where the code says it: a literal, a known builtin, or the
    return annotation of the code's own function (`None` when the code does not say)."""
    own = own or {}
    awaited = isinstance(expr, ast.Await)
    if awaited:
        expr = expr.value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in own:
        annotation, needs_await = own[expr.func.id]
        return annotation if needs_await == awaited else "Any"
    if awaited:
        return "Any"
    if isinstance(expr, ast.JoinedStr) or (isinstance(expr, ast.Constant) and isinstance(expr.value, str)):
        return "str"
    if isinstance(expr, ast.Constant) and type(expr.value) in (int, float, bool):
        return type(expr.value).__name__
    if isinstance(expr, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(expr, (ast.Dict, ast.DictComp)):
        return "dict"
    if isinstance(expr, (ast.Set, ast.SetComp)):
        return "set"
    if isinstance(expr, ast.Tuple):
        return "tuple"
    if isinstance(expr, (ast.Compare, ast.BoolOp)) or (isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not)):
        return "bool"
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        known = {"len": "int", "int": "int", "str": "str", "repr": "str", "float": "float", "bool": "bool", "sorted": "list", "list": "list", "dict": "dict", "set": "set", "tuple": "tuple"}
        if expr.func.id in known:
            return known[expr.func.id]
        if expr.func.id == "round":
            return "float" if len(expr.args) == 2 else "int"
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr in ("join", "upper", "lower", "strip", "format", "replace", "title"):
            return "str"
    if isinstance(expr, ast.Name) and expr.id in assigned:
        return infer_return(assigned.pop(expr.id), assigned, own)
    return "Any"


def strip_tags(task):
    """The task without tags before it ("[demo] ...", "(wip) ...", "task: ..."); a task
    that is nothing but tags stays as it is."""
    text = task
    while True:
        m = TAG.match(text)
        if not m or not text[m.end():].strip():
            break
        text = text[m.end():]
    return text.strip() or task.strip()


def name_words(task, params):
    drop = set()
    for _, value, _ in params:
        drop.update(w.lower() for w in re.findall(r"[A-Za-z0-9]+", str(value)))
    words = []
    for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", task):
        w = w.lower()
        if w in STOPWORDS or w in drop or len(w) < 2 or w in words:
            continue
        words.append(w)
    return words


def make_name(task, params, helpers, entry_helper=False):
    """A name from the task's content words (tags before the task and the literals that
    became parameters left out), or from the function the code defined when that
    function is the entry."""
    public = [h.name for h in helpers if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)) and not h.name.startswith("_") and h.name != "run"]
    if entry_helper and len(public) == 1 and len(public[0]) >= 3:
        return public[0].lower()[:MAX_NAME]
    words = name_words(strip_tags(task), params)
    name = ""
    for w in words[:4]:
        if len(name) + len(w) + 1 > MAX_NAME:
            break
        name = f"{name}_{w}" if name else w
    if not name:
        name = public[0].lower() if public else "skill"
    if keyword.iskeyword(name) or not name.isidentifier():
        name = "skill_" + re.sub(r"\W", "_", name)
    return name


def describe(task, params):
    """The task (without tags) with the parameters' values replaced by `<name>`: a
    listed value ("Paris and Oslo" for a list parameter) as a whole."""
    text = " ".join(strip_tags(task).split())
    for name, value, _ in params:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            if isinstance(value, str):
                pattern = r"(?<!\w)" + re.escape(value) + r"(?!\w)"
            else:
                pattern = r"(?<![\w.])(?:" + "|".join(re.escape(m) for m in number_texts(value, text)) + r")(?!\w|\.\d)"
            text = re.sub(pattern, f"<{name}>", text, flags=re.IGNORECASE)
        elif isinstance(value, (list, tuple, set, frozenset)) and len(value) >= 2:
            items = [str(v) for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
            if len(items) == len(value):
                one = "(?:" + "|".join(re.escape(i) for i in sorted(items, key=len, reverse=True)) + ")"
                sep = r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s*&\s*|\s*/\s*)"
                pattern = r"(?<!\w)" + one + "(?:" + sep + one + ")+" + r"(?!\w)"
                text = re.sub(pattern, f"<{name}>", text, flags=re.IGNORECASE)
    if len(text) > 100:
        text = text[:99].rstrip() + "…"
    return text


def number_texts(value, task):
    """How the task writes the number `value` (e.g. "100" for 100.0)."""
    texts = [m.group() for m in NUMBER.finditer(task) if float(m.group()) == value]
    return texts or [str(value)]


def worth_keeping(tree, imports, helpers, flat):
    """Why the code is not reusable logic (one line, saying what it found), or None when
    it is: a def or class, a compound statement or comprehension, a tool call, a library
    used with another statement, or three statements besides prints."""
    if not helpers and not [s for s in flat if not isinstance(s, ast.Pass) and not is_docstring(s)]:
        return "the code has no statements (only a docstring, imports or pass)"
    if helpers:
        return None
    if any(isinstance(n, COMPOUND) for s in flat for n in ast.walk(s)):
        return None
    libraries, tools, skill_bound = set(), set(), set()
    for node in imports:
        mod = node.module if isinstance(node, ast.ImportFrom) else None
        for a in node.names:
            bound = a.asname or a.name.split(".")[0]
            full = mod or a.name
            if full == "skills" or full.startswith("skills."):
                skill_bound.add(bound)
            elif is_tool_import(node):
                tools.add(bound)
            else:
                libraries.add(bound)
    loaded = loaded_names(flat)
    if loaded & tools:
        return None
    used_libraries = sorted(loaded & libraries)
    if used_libraries and len(flat) >= 2:
        return None
    called = set()
    for s in flat:
        for n in ast.walk(s):
            if isinstance(n, ast.Call):
                f = n.func
                while isinstance(f, ast.Attribute):
                    f = f.value
                if isinstance(f, ast.Name):
                    called.add(f.id)
    if called & skill_bound:
        return "the code only calls existing skills (" + ", ".join(skills_imported(tree)) + ")"
    statements = [s for s in flat if not is_print(s)]
    if len(statements) >= 3:
        return None
    size = f"{len(flat)} statement" + ("" if len(flat) == 1 else "s")
    if len(flat) >= 3:
        size += f", {len(flat) - len(statements)} of them prints"
    if used_libraries:
        size += f", using {', '.join(used_libraries)} in only one"
    return (
        f"the code is too small to be worth a skill: {size}; no def or class, loop, with, try, if, "
        "match or comprehension, and no tool call"
    )


def op_extract(req):
    try:
        answer = extract(req["code"], req.get("task", ""))
    except Refuse as e:
        return {"keep": False, "why": one_line(e, 280)}
    except RecursionError:
        return {"keep": False, "why": "the code is nested too deeply for the skill analyser to read"}
    except Exception as e:  # a fault of the analyser: the step goes on, the reason says so
        return {
            "keep": False,
            "why": f"the skill analyser failed on this code ({fault(e)}); this is a bug in mcpr, please report it with the code",
        }
    return answer


def extract(code, task):
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise Refuse(f"the code does not parse: {parse_failure(e)}")
    try:
        # Compiling (never running) finds what parses but is no valid cell, like a
        # `return` outside a function; top-level await is valid in a cell.
        compile(code, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise Refuse(f"the code does not compile: {parse_failure(e)}")
    body = list(tree.body)
    if body and is_docstring(body[0]):
        body = body[1:]
    imports, helpers, flat = [], [], []
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imports.append(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            helpers.append(stmt)
        elif is_main_guard(stmt):
            flat.extend(stmt.body)
        else:
            flat.append(stmt)
    why = worth_keeping(tree, imports, helpers, flat)
    if why:
        raise Refuse(why)

    star = [i for i in imports if isinstance(i, ast.ImportFrom) and any(a.name == "*" for a in i.names)]
    if any(is_tool_import(i) for i in star):
        raise Refuse("the code imports tools with `*`; a skill imports each tool by name (`from tools.<server> import <tool>`)")
    bound = bound_names(tree)
    free = loaded_names([tree]) - bound - set(dir(builtins)) - AGENT_BUILTINS - {"__name__", "__file__"}
    if free and not star:  # with `from m import *` a name may come from m
        raise Refuse("the code uses names from earlier steps: " + ", ".join(sorted(free)))

    user_run = next((h for h in helpers if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)) and h.name == "run"), None)
    tool_imports = [i for i in imports if is_tool_import(i)]
    top_imports = [i for i in imports if not is_tool_import(i)]
    typing_needed = set()
    args = {}
    params = []

    entry_is_flat = user_run is None and bool(flat)
    if user_run is None and not flat:
        public = [h for h in helpers if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)) and not h.name.startswith("_")]
        if not public:
            raise Refuse("the code defines no public function to call (only classes or _private functions)")
        entry_fn = public[-1]
        annotate_from_defaults(entry_fn, typing_needed)
        entry_nodes = [ast.Assign(targets=[ast.Name(id="run", ctx=ast.Store())], value=ast.Name(id=entry_fn.name, ctx=ast.Load()), lineno=0)]
    elif user_run is not None:
        entry_fn = user_run
        annotate_from_defaults(entry_fn, typing_needed)
        args = call_args(flat, entry_fn)
        entry_nodes = []
    else:
        rename_run(tree)
        helper_loads = loaded_names(helpers)
        # A name a helper declares global is the module's, like one it reads.
        helper_loads |= {n for h in helpers for g in ast.walk(h) if isinstance(g, ast.Global) for n in g.names}
        flat_assigned = {n.id for s in flat for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        flat_globals = {n for s in flat for g in walk_same_scope(s) if isinstance(g, ast.Global) for n in g.names}
        # run's parameters must not clash with what its body (the flat code) uses or with
        # module-level names; the helpers' own locals are another scope.
        flat_names = {n.id for st in flat for n in ast.walk(st) if isinstance(n, ast.Name)}
        flat_names |= {n.arg for st in flat for n in ast.walk(st) if isinstance(n, ast.arg)}
        flat_names |= flat_globals
        top_names = set()
        for st in tree.body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top_names.add(st.name)
            elif isinstance(st, (ast.Import, ast.ImportFrom)):
                top_names.update(a.asname or a.name.split(".")[0] for a in st.names)
        p = Params(flat_names | top_names | {"run"})
        constants = []
        rebinds = count_bindings(flat)
        new_flat = []
        for stmt in flat:
            target, value_node = simple_assign(stmt)
            if target is not None and target not in flat_globals:
                value, ok = literal_value(value_node)
                if ok and value and rebinds.get(target, 0) == 1:
                    if target in helper_loads:
                        constants.append(stmt)
                        continue
                    p.taken.discard(target)
                    name = p.add(target, value, from_assign=True)
                    if name != target:
                        new_flat.append(ast.Assign(targets=[ast.Name(id=target, ctx=ast.Store())], value=ast.Name(id=name, ctx=ast.Load()), lineno=0))
                    continue
            new_flat.append(stmt)
        flat = [LiteralsToParams(task, p, own_signatures(helpers)).visit(s) for s in new_flat]
        params = p.items
        # The result: a final print(x) or expression becomes the return value.
        own = own_returns(helpers)
        returns = "None"
        assigned = {}
        for s in flat:
            t, v = simple_assign(s)
            if t is not None:
                assigned[t] = v
        if flat and is_print(flat[-1]) and not flat[-1].value.keywords and flat[-1].value.args:
            a = flat[-1].value.args
            single = len(a) == 1 and not isinstance(a[0], ast.Starred)
            value = a[0] if single else ast.Tuple(elts=a, ctx=ast.Load())
            flat[-1] = ast.Return(value=value)
            returns = infer_return(value, assigned, own) if single else "tuple"
        elif flat and isinstance(flat[-1], ast.Expr) and not is_print(flat[-1]):
            flat[-1] = ast.Return(value=flat[-1].value)
            returns = infer_return(flat[-1].value, assigned, own)
        if returns not in {r for r, _ in own.values()}:
            typing_needed.update(typing_names(returns))
        globals_needed = sorted(flat_assigned & helper_loads)
        fn_args = []
        defaults = []
        prelude = []
        for name, value, ann in params:
            if isinstance(value, (set, frozenset)):
                value = sorted(value, key=repr)  # one order, whatever the hash seed
            args[name] = list(value) if isinstance(value, tuple) else value
            if ann.startswith("Sequence"):
                default = ast.Tuple(elts=[ast.Constant(value=v) for v in value], ctx=ast.Load())
                prelude.append(ast.parse(f"{name} = list({name})").body[0])
            elif ann.startswith("dict"):
                ann = f"Optional[{ann}]"
                default = ast.Constant(value=None)
                fill = ast.parse(f"if {name} is None:\n    {name} = {value!r}").body[0]
                prelude.append(fill)
            else:
                default = ast.Constant(value=value)
            typing_needed.update(typing_names(ann))
            fn_args.append(ast.arg(arg=name, annotation=ast.parse(ann, mode="eval").body))
            defaults.append(default)
        fn_body = []
        if globals_needed:
            fn_body.append(ast.Global(names=globals_needed))
        fn_body += prelude + flat
        is_async = any(
            isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith)) or (isinstance(n, ast.comprehension) and n.is_async)
            for s in flat
            for n in walk_same_scope(s)
        )
        cls = ast.AsyncFunctionDef if is_async else ast.FunctionDef
        fn = cls(
            name="run",
            args=ast.arguments(posonlyargs=[], args=fn_args, vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=defaults),
            body=fn_body or [ast.Pass()],
            decorator_list=[],
            returns=ast.parse(returns, mode="eval").body,
            type_comment=None,
            lineno=0,
        )
        if sys.version_info >= (3, 12):
            fn.type_params = []
        entry_nodes = [fn]
        helpers = constants + helpers

    # Tool imports run only when a function that needs them is called.
    if tool_imports:
        functions = [n for n in helpers + entry_nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        functions += [
            m
            for n in helpers
            if isinstance(n, ast.ClassDef)
            for m in n.body
            if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        for fn in functions:
            needed = [i for i in tool_imports if binds(i) & loaded_names([fn])]
            at = 1 if fn.body and is_docstring(fn.body[0]) else 0
            fn.body[at:at] = [copy.deepcopy(i) for i in needed]

    head = []
    if typing_needed:
        head.append(ast.ImportFrom(module="typing", names=[ast.alias(name=n) for n in sorted(typing_needed)], level=0))
    future = [i for i in top_imports if isinstance(i, ast.ImportFrom) and i.module == "__future__"]
    rest = [i for i in top_imports if i not in future]
    module = ast.Module(body=future + head + rest + helpers + entry_nodes, type_ignores=[])
    ast.fix_missing_locations(module)
    source = ast.unparse(module) + "\n"
    compile(source, "<skill>", "exec", dont_inherit=True)
    check = ast.parse(source)
    entry = find_run(check)
    return {
        "keep": True,
        "source": source,
        "name": make_name(task, params, helpers, entry_helper=not entry_is_flat),
        "description": describe(task, params),
        "signature": render_signature(entry),
        "params": [{"name": n, "annotation": a, "default": v} for n, v, a in params],
        "args": args,
        "hash": normalised_hash(check),
        "skills": skills_imported(check),
        "tools": tools_used(check),
    }


def typing_names(annotation):
    """The `typing` names an annotation the analyser wrote uses."""
    return {n for n in re.findall(r"[A-Za-z_]\w*", annotation) if n in TYPING_NAMES}


def walk_same_scope(node):
    """Nodes of `node` outside nested function and class bodies."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                todo.append(child)


def is_tool_import(node):
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and bool(node.module) and (node.module == "tools" or node.module.startswith("tools."))
    return any(a.name == "tools" or a.name.startswith("tools.") for a in node.names)


def binds(node):
    return {a.asname or a.name.split(".")[0] for a in node.names}


def simple_assign(stmt):
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id, stmt.value
    return None, None


def count_bindings(flat):
    counts = {}
    for s in flat:
        for n in ast.walk(s):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                counts[n.id] = counts.get(n.id, 0) + 1
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                counts[n.target.id] = counts.get(n.target.id, 0) + 1
    return counts


def rename_run(tree):
    """Frees the name `run` for the entry point (e.g. `from skills.x import run`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "run":
            node.id = "run_"
        elif isinstance(node, ast.ClassDef) and node.name == "run":
            node.name = "run_"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if (a.asname or a.name) == "run":
                    a.asname = "run_"


def annotate_from_defaults(fn, typing_needed):
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, d in list(zip(positional, defaults)) + list(zip(a.kwonlyargs, a.kw_defaults)):
        if arg.annotation is None and d is not None:
            value, ok = literal_value(d)
            if ok and not isinstance(value, (list, dict, set, tuple)):
                arg.annotation = ast.Name(id=type_of(value), ctx=ast.Load())
    if fn.returns is None:
        typing_needed.add("Any")
        fn.returns = ast.Name(id="Any", ctx=ast.Load())


def call_args(flat, fn):
    """Keyword arguments of the script's first call to run(...), when all are literals."""
    names = [x.arg for x in fn.args.posonlyargs + fn.args.args]
    for s in flat:
        for n in ast.walk(s):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "run":
                out = {}
                for i, a in enumerate(n.args):
                    value, ok = literal_value(a)
                    if not ok or i >= len(names):
                        return {}
                    out[names[i]] = value
                for kw in n.keywords:
                    value, ok = literal_value(kw.value)
                    if not ok or kw.arg is None:
                        return {}
                    out[kw.arg] = value
                return out
    return {}


OPS = {"scan": op_scan, "imports": op_imports, "extract": op_extract}


def main():
    try:
        req = json.load(sys.stdin)
    except ValueError as e:
        sys.stderr.write(f"the skill analyser got a request that is not JSON: {one_line(e)}\n")
        return 2
    op = OPS.get(req.get("op")) if isinstance(req, dict) else None
    if op is None:
        sys.stderr.write(f"the skill analyser has no operation {req.get('op') if isinstance(req, dict) else req!r}\n")
        return 2
    try:
        text = json.dumps(op(req), ensure_ascii=False, default=repr, allow_nan=False)
    except Exception as e:
        sys.stderr.write(f"the skill analyser failed on {req.get('op')}: {fault(e)}\n")
        return 3
    sys.stdout.write(text)
    return 0


def main_with_room():
    """main() with room for deep syntax trees (long elif chains, long expressions): the
    AST walks here recurse once or twice per level."""
    status = []
    try:
        threading.stack_size(256 * 1024 * 1024)
        worker = threading.Thread(target=lambda: status.append(main()))
        sys.setrecursionlimit(20000)
        worker.start()
    except (RuntimeError, ValueError, MemoryError):  # no room for such a thread here
        sys.setrecursionlimit(1000)
        return main()
    worker.join()
    return status[0] if status else 3


if __name__ == "__main__":
    sys.exit(main_with_room())
