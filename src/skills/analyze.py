"""mcpr's skill analyser: reads Python source with the `ast` module and never runs it.

Run by the host as `python -I -c <this file>`; one JSON request on stdin, one JSON answer
on stdout. Operations:

  scan     files [{path, source}] -> per file: docstring, run() signature, normalised
           AST hash, or the parse error
  imports  codes [str] -> per code: the skills it imports (`skills.<name>`)
  extract  code, task -> whether the code is worth keeping and, if so, the module source
           of a side-effect-free skill with a `run(...)` entry point

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
import re
import sys

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


def op_scan(req):
    out = []
    for f in req["files"]:
        try:
            tree = ast.parse(f["source"], filename=f["path"])
        except SyntaxError as e:
            out.append({"ok": False, "error": f"{e.msg} (line {e.lineno}, column {e.offset})"})
            continue
        except ValueError as e:  # e.g. null bytes
            out.append({"ok": False, "error": str(e)})
            continue
        entry = find_run(tree)
        if entry is None:
            out.append({"ok": False, "error": "defines no run() function; a skill's entry point is `def run(...)`"})
            continue
        out.append(
            {
                "ok": True,
                "doc": ast.get_docstring(tree, clean=True) or "",
                "signature": render_signature(entry),
                "params": [a.arg for a in entry.args.posonlyargs + entry.args.args + entry.args.kwonlyargs],
                "hash": normalised_hash(tree),
                "skills": skills_imported(tree),
            }
        )
    return out


def op_imports(req):
    out = []
    for code in req["codes"]:
        try:
            out.append(skills_imported(ast.parse(code)))
        except (SyntaxError, ValueError):
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
        elif hasattr(ast, "MatchAs") and isinstance(node, ast.MatchAs) and node.name:
            names.add(node.name)
    return names


def loaded_names(nodes):
    out = set()
    for n in nodes:
        for node in ast.walk(n):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                out.add(node.id)
    return out


def literal_value(node):
    """The value of a literal expression (str/number/bool and containers of them)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False
    if isinstance(node, ast.Constant) and node.value is None:
        return None, False
    if isinstance(value, (bytes, complex)) or value is Ellipsis:
        return None, False
    return value, True


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


def word_in_task(text, task, number=False):
    """Whether `text` appears in the task as a whole word (a number: not as part of a
    longer number, so 2 is not found in "2.5")."""
    text = text.strip()
    if len(text) < (1 if number else 2) or len(text) > 200:
        return False
    before, after = (r"(?<![\w.])", r"(?!\.?\w)") if number else (r"(?<!\w)", r"(?!\w)")
    return re.search(before + re.escape(text) + after, task, re.IGNORECASE) is not None


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

    def add(self, wanted, value, from_assign=False):
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
        self.items.append((name, value, type_of(value)))
        self.by_value.setdefault(key, name)
        return name


class LiteralsToParams(ast.NodeTransformer):
    """Replaces literals whose text appears in the task with parameters."""

    def __init__(self, task, params, signatures=None):
        self.task = task
        self.params = params
        # Positional parameter names of the code's own functions: a literal passed to
        # one is named after the parameter it fills.
        self.signatures = signatures or {}

    def visit_JoinedStr(self, node):
        return node  # parts of an f-string are formatting, not data

    def visit_Subscript(self, node):
        node.value = self.visit(node.value)
        return node  # keys and indexes are structure

    def visit_Dict(self, node):
        node.values = [self.visit(v) for v in node.values]
        return node

    def visit_Call(self, node):
        node.func = self.visit(node.func)
        names = self.signatures.get(node.func.id, []) if isinstance(node.func, ast.Name) else []
        node.args = [
            self.visit_arg(a, names[i] if i < len(names) and not isinstance(a, ast.Starred) else None)
            for i, a in enumerate(node.args)
        ]
        for kw in node.keywords:
            if kw.arg in ("sep", "end", "encoding", "errors", "mode"):
                continue
            kw.value = self.visit_arg(kw.value, kw.arg)
        return node

    def visit_arg(self, node, name=None):
        if isinstance(node, ast.Constant):
            return self.maybe_param(node, name)
        return self.visit(node)

    def visit_Constant(self, node):
        return self.maybe_param(node, None)

    def maybe_param(self, node, name):
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, (bytes, complex)) or value is Ellipsis:
            return node
        if isinstance(value, (int, float)) and value in (0, 1, -1):
            return node
        if not word_in_task(str(value), self.task, number=not isinstance(value, str)):
            return node
        pname = self.params.add(name if name and name.isidentifier() else param_name_for(value), value)
        return ast.copy_location(ast.Name(id=pname, ctx=ast.Load()), node)


def infer_return(expr, assigned):
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
        return infer_return(assigned.pop(expr.id), assigned)
    return "Any"


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
    """A name from the task's content words (the literals that became parameters left
    out), or from the function the code defined when that function is the entry."""
    public = [h.name for h in helpers if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef)) and not h.name.startswith("_") and h.name != "run"]
    if entry_helper and len(public) == 1 and len(public[0]) >= 3:
        return public[0].lower()[:MAX_NAME]
    words = name_words(task, params)
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
    text = " ".join(task.split())
    for name, value, _ in params:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = re.sub(r"(?<!\w)" + re.escape(str(value)) + r"(?!\w)", f"<{name}>", text, flags=re.IGNORECASE)
    if len(text) > 100:
        text = text[:99].rstrip() + "…"
    return text


def worth_keeping(tree, imports, helpers, flat, skill_names):
    """Why the code is not reusable logic, or None when it is."""
    if not helpers and not flat:
        return "the code only imports modules"
    if helpers:
        return None
    compound = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.If)
    if any(isinstance(n, compound) for s in flat for n in ast.walk(s)):
        return None
    imported = set()
    skill_bound = set()
    for node in imports:
        for a in node.names:
            bound = a.asname or a.name.split(".")[0]
            mod = node.module if isinstance(node, ast.ImportFrom) else a.name
            if mod and (mod == "skills" or mod.startswith("skills.")):
                skill_bound.add(bound)
            else:
                imported.add(bound)
    statements = [s for s in flat if not is_print(s)]
    called = set()
    for s in flat:
        for n in ast.walk(s):
            if isinstance(n, ast.Call):
                f = n.func
                while isinstance(f, ast.Attribute):
                    f = f.value
                if isinstance(f, ast.Name):
                    called.add(f.id)
    if loaded_names(flat) & imported and len(flat) >= 2:
        return None
    if called & skill_bound:
        return "the code only calls existing skills"
    if len(statements) >= 3:
        return None
    return "the code is too small to be worth a skill (no function, loop, or use of a library or tool)"


def op_extract(req):
    try:
        return extract(req["code"], req.get("task", ""))
    except Refuse as e:
        return {"keep": False, "why": str(e)}


def extract(code, task):
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise Refuse(f"the code does not parse: {e.msg} (line {e.lineno})")
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
    why = worth_keeping(tree, imports, helpers, flat, None)
    if why:
        raise Refuse(why)

    bound = bound_names(tree)
    free = loaded_names([tree]) - bound - set(dir(builtins)) - AGENT_BUILTINS - {"__name__", "__file__"}
    if free:
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
            raise Refuse("the code defines no function to call")
        entry_fn = public[-1]
        annotate_from_defaults(entry_fn, typing_needed)
        entry_nodes = [ast.Assign(targets=[ast.Name(id="run", ctx=ast.Store())], value=ast.Name(id=entry_fn.name, ctx=ast.Load()), lineno=0)]
        entry_sig_fn = entry_fn
    elif user_run is not None:
        entry_fn = user_run
        annotate_from_defaults(entry_fn, typing_needed)
        args = call_args(flat, entry_fn)
        entry_nodes = []
        entry_sig_fn = entry_fn
    else:
        rename_run(tree)
        bound = bound_names(tree)
        helper_loads = loaded_names(helpers)
        flat_assigned = {n.id for s in flat for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        # run's parameters must not clash with what its body (the flat code) uses or with
        # module-level names; the helpers' own locals are another scope.
        flat_names = {n.id for st in flat for n in ast.walk(st) if isinstance(n, ast.Name)}
        flat_names |= {n.arg for st in flat for n in ast.walk(st) if isinstance(n, ast.arg)}
        top_names = set()
        for st in tree.body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top_names.add(st.name)
            elif isinstance(st, (ast.Import, ast.ImportFrom)):
                top_names.update(a.asname or a.name.split(".")[0] for a in st.names)
        p = Params(flat_names | top_names | {"run"})
        signatures = {
            h.name: [a.arg for a in h.args.posonlyargs + h.args.args]
            for h in helpers
            if isinstance(h, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        constants = []
        rebinds = count_bindings(flat)
        new_flat = []
        for stmt in flat:
            target, value_node = simple_assign(stmt)
            if target is not None:
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
        flat = [LiteralsToParams(task, p, signatures).visit(s) for s in new_flat]
        params = p.items
        # The result: a final print(x) or expression becomes the return value.
        returns = "None"
        assigned = {}
        for s in flat:
            t, v = simple_assign(s)
            if t is not None:
                assigned[t] = v
        if flat and is_print(flat[-1]) and not flat[-1].value.keywords and flat[-1].value.args:
            a = flat[-1].value.args
            value = a[0] if len(a) == 1 else ast.Tuple(elts=a, ctx=ast.Load())
            flat[-1] = ast.Return(value=value)
            returns = infer_return(value, assigned) if len(a) == 1 else "tuple"
        elif flat and isinstance(flat[-1], ast.Expr) and not is_print(flat[-1]):
            flat[-1] = ast.Return(value=flat[-1].value)
            returns = infer_return(flat[-1].value, assigned)
        if returns == "Any":
            typing_needed.add("Any")
        globals_needed = sorted(flat_assigned & helper_loads)
        fn_args = []
        defaults = []
        prelude = []
        for name, value, ann in params:
            args[name] = list(value) if isinstance(value, (tuple, set, frozenset)) else value
            if ann.startswith("Sequence"):
                typing_needed.add("Sequence")
                default = ast.Tuple(elts=[ast.Constant(value=v) for v in value], ctx=ast.Load())
                prelude.append(ast.parse(f"{name} = list({name})").body[0])
            elif ann.startswith("dict"):
                typing_needed.add("Optional")
                ann = f"Optional[{ann}]"
                default = ast.Constant(value=None)
                fill = ast.parse(f"if {name} is None:\n    {name} = {value!r}").body[0]
                prelude.append(fill)
            else:
                default = ast.Constant(value=value)
            fn_args.append(ast.arg(arg=name, annotation=ast.parse(ann, mode="eval").body))
            defaults.append(default)
        fn_body = []
        if globals_needed:
            fn_body.append(ast.Global(names=globals_needed))
        fn_body += prelude + flat
        is_async = any(isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for s in flat for n in walk_same_scope(s))
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
        entry_sig_fn = fn
        helpers = constants + helpers

    # Tool imports run only when a function that needs them is called.
    if tool_imports:
        for node in helpers + entry_nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                needed = [i for i in tool_imports if binds(i) & loaded_names([node])]
                if needed:
                    node.body = [copy.deepcopy(i) for i in needed] + node.body
            elif isinstance(node, ast.ClassDef):
                for m in node.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        needed = [i for i in tool_imports if binds(i) & loaded_names([m])]
                        m.body = [copy.deepcopy(i) for i in needed] + m.body

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
    }


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
    req = json.load(sys.stdin)
    op = OPS.get(req.get("op"))
    if op is None:
        json.dump({"error": f"unknown op {req.get('op')!r}"}, sys.stdout)
        return 2
    json.dump(op(req), sys.stdout, ensure_ascii=False, default=repr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
