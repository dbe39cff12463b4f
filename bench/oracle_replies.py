"""Capture real chat replies of a model and measure oracle repair on them.

    .venv/bin/python bench/oracle_replies.py OUT.json [--model NAME]

Runs the `chat` strategy (one reply per function, no model repair) on
examples/demo/textutils.py and tests/data/oracle/strutils.py, in a temporary copy, with
the real sandbox and pytest. Every reply the model wrote is saved to OUT.json with what
became of it; the counts are printed: replies, kept as written, kept after oracle repair.
tests/test_oracle.py replays the saved replies with a scripted backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review_bot.config import Settings  # noqa: E402
from review_bot.core.backends import llamacpp_factory  # noqa: E402
from review_bot.llm import Backend, Completion  # noqa: E402
from review_bot.suggest import suggest  # noqa: E402

SOURCES = (ROOT / "examples/demo/textutils.py", ROOT / "tests/data/oracle/strutils.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    args = parser.parse_args(argv)
    replies: list[str] = []

    def factory(path: Path, bundled: bool, settings: Settings) -> Backend:
        backend = llamacpp_factory(path, bundled, settings)
        complete = backend.complete

        def recording(prompt: str, **kwargs: Any) -> Completion:
            result = complete(prompt, **kwargs)
            replies.append(result.text)
            return result

        backend.complete = recording  # type: ignore[method-assign]
        return backend

    captured: list[dict[str, Any]] = []
    counts = {"replies": 0, "kept": 0, "kept_as_written": 0, "oracle_kept": 0}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "proj"
        project.mkdir()
        (project / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
        for source in SOURCES:
            shutil.copy(source, project / source.name)
        settings = Settings(
            model=Path(args.model),
            strategy="chat",
            repair_attempts=0,
            docstrings=False,
            cache=False,
            runs=3,
        )
        for source in SOURCES:
            report = suggest(project / source.name, settings, backend_factory=factory)
            for result in report.results:
                reply = replies.pop(0) if replies else ""
                test = result.test
                oracle = any("oracle-repaired" in line for line in test.attempts)
                counts["replies"] += 1
                counts["kept"] += test.status == "kept"
                counts["kept_as_written"] += test.status == "kept" and not oracle
                counts["oracle_kept"] += test.status == "kept" and oracle
                captured.append(
                    {
                        "module": source.name,
                        "function": result.target.qualname,
                        "reply": reply,
                        "status": test.status,
                        "attempts": list(test.attempts),
                        "disagreements": [d._asdict() for d in test.disagreements],
                    }
                )
    args.out.write_text(json.dumps({"model": args.model, "replies": captured}, indent=1) + "\n")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
