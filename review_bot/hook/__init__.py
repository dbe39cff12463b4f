"""`review-bot hook`: the commit-time front end of the core.

One direction, as everywhere in review-bot::

    index ──► changed functions ──► the core, in a worker process ──► a plan ──► apply
    (git diff --cached)   (diff)            (core.run)          (JSON)  (write, stage)

- The hook process does everything that touches the repository: it reads the staged diff,
  exports the index into a private temporary directory, starts the worker and applies the
  plan the worker returns. Kept tests are written atomically and staged (the exact bytes
  written, in one index update); kept docstrings are inserted into the working tree and
  never staged, as a formatter's fixes are.
- The worker is a separate process, so a model that crashes (llama.cpp aborts on a failed
  assertion) or hangs cannot take the commit with it: `on_error` decides. It runs the core
  on the exported index alone; it never reads or writes the working tree.
- A plan depends only on the staged tree, the diff base, the settings and the model file,
  so it is memoised under them: a second run on unchanged staged code neither starts the
  worker nor imports the model stack.

Never losing a byte: unstaged changes are never stashed, checked out or rewritten, so no
moment exists at which they live only in a patch file (pre-commit's `staged_files_only`
has one; a kill -9 there strands the user's work). The hook reads only the index, writes a
generated test file only where the working-tree copy equals the staged one (or is absent),
and inserts a docstring only into a function whose working-tree text equals the staged
text, leaving every other byte of the file as it was.

The modules, hook process first (kept light: a commit without a Python change must not
load the model stack, libcst or GitPython):

- `run`: run_hook, the entry point; makes the plan (memo or worker) and applies it.
- `select`: which staged files may hold targets, where generated tests go, SKIP.
- `memo`: plans kept under the staged tree, the settings and the model file.
- `worker`: the worker process, both ends: started, waited for and stopped by the hook;
  worker_main, its entry point, with its lifeline.
- `apply`: the plan written to the working tree and the index.
- `stash`: the paths pre-commit set aside before the hook ran.
- `summary`: the lines the hook prints.
- `install`: the plain git hook (`pre-commit.sh`), installed and removed.
- `plan`: what the two processes share: the plan's JSON schema, settings as JSON, the
  core's seam.

In the worker process only (these import the core, libcst and the model stack at module
level):

- `compute`: compute_plan: the staged files and changed lines -> core.run -> a plan.
- `check`: check mode's analysis (what lacks a test or a docstring), no model call.
"""
