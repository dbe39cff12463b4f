"""The worker process, both ends: the hook starts it, waits for it and stops it
(run_worker); in the worker, worker_main reads the request and writes the result.

A separate process, so that a model that crashes (llama.cpp aborts on a failed assertion)
or hangs cannot take the commit with it: the hook raises WorkerFailure and `on_error`
decides. Light at module level, on both ends: the worker loads the core (hook.compute)
only once its lifeline runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from review_bot.errors import FatalError
from review_bot.hook.plan import Plan

_WORKER_CODE = "from review_bot.hook.worker import worker_main; raise SystemExit(worker_main())"
_GRACE_S = 5.0


class WorkerFailure(Exception):
    """The core could not run: the model is missing, crashed or timed out."""


# -- in the hook process ---------------------------------------------------------------------


def run_worker(tmp: Path, request: dict[str, Any], timeout_s: float | None) -> Plan:
    """Run the worker on `request` (files under `tmp`); its plan, or WorkerFailure."""
    request_path = tmp / "request.json"
    result_path = tmp / "result.json"
    request["result"] = str(result_path)
    request_path.write_text(json.dumps(request), encoding="utf-8")
    # stdin is the worker's lifeline: when this process dies (even by SIGKILL) the pipe
    # closes and the worker stops instead of running the model for nobody.
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER_CODE, str(request_path)], stdin=subprocess.PIPE
    )
    try:
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop(proc)
            raise WorkerFailure(f"the model did not finish within {timeout_s:g} s") from None
    except BaseException:
        stop(proc)
        raise
    finally:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = None
    if isinstance(result, dict) and "plan" in result:
        return typing.cast(Plan, result["plan"])
    if isinstance(result, dict) and "error" in result:
        raise WorkerFailure(str(result["error"]))
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise WorkerFailure(f"the model process crashed ({name})")
    raise WorkerFailure(f"the model process exited with code {returncode} and no result")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first (the worker cleans its sandbox up), SIGKILL if it does not listen."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- in the worker process ---------------------------------------------------------------------


def _lifeline() -> None:
    # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered reader
    # makes the interpreter abort at exit ("could not acquire lock").
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    # End of file: the hook process is gone. Interrupt the work (the sandbox kills what it
    # started and removes its files), and make sure to leave even if that hangs.
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(_GRACE_S)
    os._exit(1)


def worker_main(argv: Sequence[str] | None = None, *, lifeline: bool = True) -> int:
    """Entry point of the worker process: request file in, result file out."""
    argv = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result_path = Path(request["result"])
    if lifeline:
        threading.Thread(target=_lifeline, daemon=True).start()
    from review_bot.progress import ConsoleProgress

    progress = ConsoleProgress()
    try:
        # The core, libcst and the model stack load here: after the lifeline started, and
        # inside the handlers, so that a failing import is reported as any failure is.
        from review_bot.hook.compute import compute_plan

        result: dict[str, Any] = {"plan": compute_plan(request, progress=progress)}
        code = 0
    except FatalError as exc:
        result, code = {"error": str(exc)}, 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or a library failure: reported, on_error decides
        if os.environ.get("REVIEW_BOT_DEBUG"):
            traceback.print_exc()
        result = {"error": f"internal error: {type(exc).__name__}: {exc}"}
        code = 3
    finally:
        progress.stop()
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, result_path)
    return code
