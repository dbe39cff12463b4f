"""The trust boundary: everything that runs untrusted code, or decides what may run later.

A reviewer of the threat model (docs/sandbox.md) reads this folder:

- workspace.py: `Sandbox` and `Workspace`, the only place that executes generated code
  (a scrubbed environment, rlimits, its own process group, a private copy of the project);
- jail.py: the jail around every sandboxed process (bubblewrap, sandbox-exec);
- guard.py: the network guard every sandboxed interpreter starts with;
- warm.py and warm_server.py: the warm interpreter that forks per run, in the same jail;
- interpreter.py: which Python runs the project's tests (a repository's interpreter runs
  only inside the jail, its version probe too);
- cases_driver.py, oracle_driver.py, doctest_driver.py: the scripts that run inside the
  jail for the cases strategy, the oracle and docstring examples (standard library and
  pytest only; copied into a workspace, never imported by review-bot);
- screen.py: the screening policy, what a kept test's own text may do, because it runs
  again later outside the jail.

The names below are the room's API; the modules stay importable for the rest.
"""

from __future__ import annotations

from pathlib import Path

from review_bot.sandbox.guard import NETWORK_ERROR, network_isolation
from review_bot.sandbox.workspace import (
    IGNORED_NAMES,
    MAX_FILE_BYTES,
    OUTPUT_LIMIT,
    Limits,
    RunResult,
    Sandbox,
    Workspace,
    is_ignored,
)

__all__ = [
    "CASES_DRIVER",
    "DOCTEST_DRIVER",
    "IGNORED_NAMES",
    "MAX_FILE_BYTES",
    "NETWORK_ERROR",
    "ORACLE_DRIVER",
    "OUTPUT_LIMIT",
    "Limits",
    "RunResult",
    "Sandbox",
    "Workspace",
    "is_ignored",
    "network_isolation",
]

_HERE = Path(__file__).parent
CASES_DRIVER = _HERE / "cases_driver.py"
ORACLE_DRIVER = _HERE / "oracle_driver.py"
DOCTEST_DRIVER = _HERE / "doctest_driver.py"
