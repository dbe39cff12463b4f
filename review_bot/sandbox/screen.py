"""The screening policy: what the text of a generated test may do (issue 22).

A kept test is code that runs later *outside* the jail, in the user's own `pytest`, with
the user's environment and network. The jail cannot judge it by how it behaves inside
(a test that checks for the sandbox behaves there and acts outside), so every test is
screened by what its own text does, before it is run, kept, written, staged or posted:

- no module that spawns processes, opens sockets or URLs, loads native code, or imports
  or runs code by name (`UNSAFE_MODULES`), nor those names taken from `os`, `sys` or
  `shutil` (`os.system`, `os.environ`, `sys.modules`, `shutil.rmtree`, ...);
- no `eval`, `exec`, `compile`, `__import__`, `breakpoint`, no `getattr`/`setattr`/
  `delattr`/`vars` on a module, no dunder attribute that reaches interpreter internals
  (`__globals__`, `__subclasses__`, `__builtins__`, `__code__`, `__dict__` of a module);
- no write (`open(..., "w")`, `Path.write_text`, `unlink`, `mkdir`, ...) except under the
  temporary directories pytest gives a test (`tmp_path`, `tmp_path_factory`, `tmpdir`,
  `tmpdir_factory`) and names derived from them in the same test module.

What the code under test does is not screened: a test may call the project's own
function that runs a subprocess. The policy is about the test's text.

>>> unsafe_construct("import subprocess\\n")
'imports subprocess (line 1): generated tests may not spawn processes'
>>> unsafe_construct("def test_x(tmp_path):\\n    (tmp_path / 'a').write_text('x')\\n") is None
True
>>> unsafe_construct("def test_x():\\n    open('/etc/x', 'w')\\n")
"writes with open() outside pytest's temporary directories (line 2)"
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

__all__ = ["UNSAFE_MODULES", "unsafe_construct"]

_PROCESS = "spawn processes"
_NETWORK = "open sockets or URLs"
_NATIVE = "load native code"
_DYNAMIC = "import or run code by name"
_INTERNALS = "reach into the interpreter"

# Top-level module -> what it would let a test do (its submodules too).
UNSAFE_MODULES: dict[str, str] = {
    **dict.fromkeys(
        ("subprocess", "multiprocessing", "pty", "_posixsubprocess", "posix", "nt", "pexpect"),
        _PROCESS,
    ),
    **dict.fromkeys(
        (
            "socket",
            "_socket",
            "ssl",
            "urllib",
            "urllib3",
            "http",
            "ftplib",
            "smtplib",
            "poplib",
            "imaplib",
            "telnetlib",
            "xmlrpc",
            "socketserver",
            "webbrowser",
            "requests",
            "httpx",
            "aiohttp",
            "paramiko",
            "asyncssh",
            "websocket",
            "websockets",
        ),
        _NETWORK,
    ),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi", "mmap"), _NATIVE),
    **dict.fromkeys(
        ("importlib", "runpy", "code", "codeop", "builtins", "marshal", "zipimport"),
        _DYNAMIC,
    ),
    **dict.fromkeys(("signal", "resource", "gc", "faulthandler", "sysconfig"), _INTERNALS),
}

# Names of allowed modules that are not allowed.
_UNSAFE_ATTRIBUTES: dict[str, dict[str, str]] = {
    "os": {
        **dict.fromkeys(
            (
                "system",
                "popen",
                "fork",
                "forkpty",
                "kill",
                "killpg",
                "execl",
                "execle",
                "execlp",
                "execlpe",
                "execv",
                "execve",
                "execvp",
                "execvpe",
                "spawnl",
                "spawnle",
                "spawnlp",
                "spawnlpe",
                "spawnv",
                "spawnve",
                "spawnvp",
                "spawnvpe",
                "posix_spawn",
                "posix_spawnp",
                "startfile",
                "setsid",
                "setuid",
                "setgid",
            ),
            _PROCESS,
        ),
        **dict.fromkeys(
            ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"),
            "read or change the environment",
        ),
        **dict.fromkeys(
            (
                "remove",
                "unlink",
                "rmdir",
                "removedirs",
                "rename",
                "renames",
                "replace",
                "chmod",
                "lchmod",
                "chown",
                "lchown",
                "link",
                "symlink",
                "truncate",
                "mkfifo",
                "mknod",
                "open",
                "write",
                "chdir",
                "fchdir",
                "chroot",
                "makedirs",
                "mkdir",
                "utime",
            ),
            "change files outside pytest's temporary directories",
        ),
    },
    "sys": dict.fromkeys(
        (
            "modules",
            "settrace",
            "setprofile",
            "addaudithook",
            "_getframe",
            "meta_path",
            "path_hooks",
            "path_importer_cache",
            "setrecursionlimit",
            "exit",
        ),
        _INTERNALS,
    ),
    "shutil": dict.fromkeys(
        (
            "rmtree",
            "move",
            "copy",
            "copy2",
            "copyfile",
            "copytree",
            "copymode",
            "copystat",
            "chown",
            "make_archive",
            "unpack_archive",
        ),
        "change files outside pytest's temporary directories",
    ),
}
_BUILTINS = {
    "eval": _DYNAMIC,
    "exec": _DYNAMIC,
    "compile": _DYNAMIC,
    "__import__": _DYNAMIC,
    "breakpoint": _INTERNALS,
    "globals": _INTERNALS,
    "locals": _INTERNALS,
}
_REFLECTION = {"getattr", "setattr", "delattr", "vars"}
_DUNDERS = {
    "__globals__", "__subclasses__", "__builtins__", "__code__", "__closure__", "__dict__",
    "__import__", "__loader__", "__spec__", "__bases__", "__mro__", "__getattribute__",
    "__reduce__", "__reduce_ex__", "__func__", "__self__", "f_globals", "f_locals",
    "f_back", "gi_frame", "cr_frame", "tb_frame",
}  # fmt: skip
_TMP_FIXTURES = {"tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory"}
# Path methods that change the file system, and open() modes that write.
_PATH_WRITES = {
    "write_text", "write_bytes", "touch", "mkdir", "unlink", "rmdir", "rename", "replace",
    "symlink_to", "hardlink_to", "link_to", "chmod", "lchmod",
}  # fmt: skip
_WRITE_MODES = set("wax+")


def unsafe_construct(code: str) -> str | None:
    """The first construct of `code` (by line) the policy forbids, as one line naming it
    and its line; None when the text does nothing the policy forbids (or does not parse: the
    syntax check says why)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    # ast.walk goes breadth first: the finding the reader meets first is the one named.
    found = sorted(_findings(tree), key=_line_of)
    return found[0] if found else None


def _line_of(finding: str) -> int:
    marker = finding.find("(line ")
    digits = finding[marker + 6 :].split(")", 1)[0] if marker >= 0 else ""
    return int(digits) if digits.isdigit() else 0


def _findings(tree: ast.Module) -> Iterator[str]:
    modules = _module_aliases(tree)
    tainted = _tmp_names(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _import_findings(node, line)
        elif isinstance(node, ast.Name) and node.id in _BUILTINS:
            yield f"uses {node.id} (line {line}): generated tests may not {_BUILTINS[node.id]}"
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            yield f"uses __builtins__ (line {line}): generated tests may not {_INTERNALS}"
        elif isinstance(node, ast.Attribute):
            found = _attribute_finding(node, modules, line)
            if found:
                yield found
        elif isinstance(node, ast.Call):
            found = _call_finding(node, modules, tainted, line)
            if found:
                yield found


def _import_findings(node: ast.Import | ast.ImportFrom, line: object) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in UNSAFE_MODULES:
                yield (
                    f"imports {alias.name} (line {line}): generated tests may not "
                    f"{UNSAFE_MODULES[top]}"
                )
        return
    if node.level:
        return  # a relative import: the project's own package
    top = (node.module or "").split(".")[0]
    if top in UNSAFE_MODULES:
        yield f"imports {node.module} (line {line}): generated tests may not {UNSAFE_MODULES[top]}"
        return
    forbidden = _UNSAFE_ATTRIBUTES.get(node.module or "", {})
    for alias in node.names:
        if alias.name in forbidden:
            yield (
                f"imports {node.module}.{alias.name} (line {line}): generated tests may not "
                f"{forbidden[alias.name]}"
            )


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> module, for the modules the test imports (`import os as o`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
    return names


def _attribute_finding(node: ast.Attribute, modules: dict[str, str], line: object) -> str | None:
    if node.attr in _DUNDERS:
        return f"uses .{node.attr} (line {line}): generated tests may not {_INTERNALS}"
    if isinstance(node.value, ast.Name) and node.value.id in modules:
        module = modules[node.value.id]
        forbidden = _UNSAFE_ATTRIBUTES.get(module, {})
        if node.attr in forbidden:
            return (
                f"uses {module}.{node.attr} (line {line}): generated tests may not "
                f"{forbidden[node.attr]}"
            )
    return None


def _call_finding(
    node: ast.Call, modules: dict[str, str], tainted: set[str], line: object
) -> str | None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in _REFLECTION and node.args:
        first = node.args[0]
        if isinstance(first, ast.Name) and first.id in modules:
            return f"uses {func.id}() on a module (line {line}): generated tests may not {_DYNAMIC}"
        if func.id != "vars" and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
            return (
                f"uses {func.id}() with a computed name (line {line}): generated tests may "
                f"not {_DYNAMIC}"
            )
    if isinstance(func, ast.Name) and func.id == "open" and _writes(node):
        if not node.args or not _under_tmp(node.args[0], tainted):
            return f"writes with open() outside pytest's temporary directories (line {line})"
    if isinstance(func, ast.Attribute) and func.attr in _PATH_WRITES:
        if not _under_tmp(func.value, tainted):
            return f"calls .{func.attr}() outside pytest's temporary directories (line {line})"
    if isinstance(func, ast.Attribute) and func.attr == "open" and _writes(node, first=0):
        if not _under_tmp(func.value, tainted):
            return f"writes with .open() outside pytest's temporary directories (line {line})"
    return None


def _writes(node: ast.Call, first: int = 1) -> bool:
    """Whether a call of open() (mode as argument `first`, or `mode=`) opens for writing;
    a mode that is not a string literal counts as writing."""
    mode: ast.expr | None = node.args[first] if len(node.args) > first else None
    for keyword in node.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(_WRITE_MODES & set(mode.value))
    return True


def _tmp_names(tree: ast.Module) -> set[str]:
    """Names bound (anywhere in the module) to an expression built from a temporary
    directory fixture, followed through assignments until nothing new is found."""
    tainted = set(_TMP_FIXTURES)
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, (ast.For, ast.comprehension)):
                targets, value = [node.target], node.iter
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets, value = [node.optional_vars], node.context_expr
            if value is None or not _under_tmp(value, tainted):
                continue
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id not in tainted:
                        tainted.add(name.id)
                        changed = True
    return tainted


def _under_tmp(expr: ast.expr, tainted: set[str]) -> bool:
    """Whether `expr` is built from a temporary directory: it names one, and no absolute
    path literal is joined to it (`tmp_path / "/etc/x"` is `/etc/x`)."""
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    if not names & tainted:
        return False
    for node in ast.walk(expr):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(("/", "\\", "~")) or ".." in node.value.split("/"):
                return False
    return True
