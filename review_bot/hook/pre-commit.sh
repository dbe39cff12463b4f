#!/bin/sh
# review-bot: plain git pre-commit hook
# For repositories that do not use the pre-commit framework. `review-bot install` puts it
# in place (and fills in INSTALL_PYTHON); `review-bot uninstall` removes it and restores the
# hook it replaced. On every commit it runs `review-bot hook`: verified tests for the
# changed functions are written and staged with the commit, missing docstrings are inserted
# into the working tree. Unstaged changes are never touched.
# Skip it with SKIP=llm-tests (everything) or SKIP=llm-docstrings (docstrings), or with
# `git commit --no-verify`.
INSTALL_PYTHON=''
if [ -n "$INSTALL_PYTHON" ] && [ -x "$INSTALL_PYTHON" ]; then
    exec "$INSTALL_PYTHON" -m review_bot hook
fi
if command -v review-bot >/dev/null 2>&1; then
    exec review-bot hook
fi
echo "review-bot: not found; the pre-commit hook did nothing (review-bot uninstall removes it)" >&2
exit 0
