"""The only package that writes the user's files.

- `files`: atomic writes (all or nothing, mode kept, symlink followed).
- `docstrings`: inserting a docstring into a function with libcst, no other byte changed.
- `tests`: the generated test files: merging kept tests, one rule for clashing names.
"""
