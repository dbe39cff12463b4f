"""The only place that talks to git: `from review_bot import git`, then `git.run(...)`,
`git.find_repo(...)`, `git.three_dot_diff(...)`.

- plumbing.py: the one subprocess helper, `run()`, whose errors show command, return code,
  stdout and stderr; the repository and its index; the cheap calls the hook makes at every
  commit; GitPython only for installing the plain hook (`hooks_dir`).
- pr.py: the pull request review's calls: its commits, the three-dot diff, stored
  credentials, the head's tree.
"""

from __future__ import annotations

from review_bot.git.plumbing import (
    EMPTY_BLOB_MODE,
    OUTPUT_LIMIT,
    Change,
    GitError,
    IndexEntry,
    Repo,
    Result,
    blob,
    copy_ignored_sources,
    export_index,
    find_repo,
    hash_object,
    head,
    hooks_dir,
    index_entry,
    is_ignored,
    merge_heads,
    open_repo,
    partial_commit_index,
    run,
    stage_blob,
    staged_changes,
    staged_diff,
    tree_with,
    unmerged_paths,
    write_tree,
)
from review_bot.git.pr import (
    at_head,
    head_tree,
    persisted_credentials,
    resolve_commit,
    three_dot_diff,
)

__all__ = [
    "EMPTY_BLOB_MODE",
    "OUTPUT_LIMIT",
    "Change",
    "GitError",
    "IndexEntry",
    "Repo",
    "Result",
    "at_head",
    "blob",
    "copy_ignored_sources",
    "export_index",
    "find_repo",
    "hash_object",
    "head",
    "head_tree",
    "hooks_dir",
    "index_entry",
    "is_ignored",
    "merge_heads",
    "open_repo",
    "partial_commit_index",
    "persisted_credentials",
    "resolve_commit",
    "run",
    "stage_blob",
    "staged_changes",
    "staged_diff",
    "three_dot_diff",
    "tree_with",
    "unmerged_paths",
    "write_tree",
]
