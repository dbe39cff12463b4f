"""Docstrings: one room (issue 25). The core calls `write_docstring` (and `add_examples`
for a kept one); `CHECKS_VERSION` names the checks in cache keys.

- `strategy.py`: writing one docstring: ask the model, render, check; tries and reasons.
- `documents.py`: what a function's docstring documents, read from its code (parameters,
  return or yield, raises and their guard clauses).
- `render.py`: the JSON schema the model fills, reading its reply, rendering in a
  convention.
- `check.py`: whether a rendered docstring is kept: insertion, prose, agreement with the
  code, pydocstyle; the one verdict.
- `quality.py`: the prose checks (placeholders, filler, cut-off sentences).
- `truth.py`: agreement with the code (pydoclint; names, raises and returns that exist).
- `observe.py`: the recorded calls a docstring is grounded in (the test generation's, or
  probes made without a model), and which of them the prompt shows.
- `claims.py`: the claims a call can contradict (kind of value returned, Raises
  conditions, a returned number beside a parameter, an exclusive bound): `contradicted`.
- `examples.py`: an `Examples:` section of doctests run in the sandbox.
"""

from review_bot.generate.docstrings.check import CHECKS_VERSION
from review_bot.generate.docstrings.examples import add_examples
from review_bot.generate.docstrings.strategy import write_docstring

__all__ = ["CHECKS_VERSION", "add_examples", "write_docstring"]
