# Runs inside the sandbox, never in review-bot's process: runs the doctests of one function's
# docstring, in the namespace of its module, and records how many ran and failed.
# Standard library only.
from __future__ import annotations

import doctest
import importlib
import json
import sys
from typing import Any


def main() -> None:
    module_name, qualname, out_path = sys.argv[1:4]
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(obj.__doc__ or "", dict(vars(module)), qualname, module.__file__, 0)
    runner = doctest.DocTestRunner(verbose=False, optionflags=0)
    output: list[str] = []
    result = runner.run(test, out=output.append)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(
            {"attempted": result.attempted, "failed": result.failed, "output": "".join(output)},
            handle,
        )


if __name__ == "__main__":
    main()
