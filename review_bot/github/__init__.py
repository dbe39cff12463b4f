"""Pull request reviews: the core on a PR's changed functions, posted through GitHub's REST API.

Two halves, joined by a plain JSON document (the *plan*):

- `plan.build_plan` runs the core on the functions a pull request changed and turns what
  was kept into suggestions: a ```` ```suggestion ```` block for a docstring, a comment
  with the test for a test. It needs the checkout and the model, and no token.
- `publish.publish` posts a plan: one review with the new inline comments, one summary
  comment edited in place, stale comments of ours removed. It needs the token, and
  neither the checkout nor the model, so the fork-safe workflow can post a plan made by
  an unprivileged job without running any of the pull request's code.

The modules, one job each:

- `records`: the plan's records, and the markers and limits the others share;
- `env`: the pull request, the token and the job summary from the Actions environment;
- `plan`: `build_plan` and the suggestions it makes;
- `plan_json`: the plan as JSON (`--dry-run` writes it, `--post-from` reads it back);
- `markdown`: the summary comment and the job log's lines;
- `annotations`: workflow commands, for a token that cannot write;
- `client`: the REST client and its typed errors;
- `publish`: posting a plan;
- `post`: what `review-bot review` posts, and where: a new plan, or one read back
  (`--post-from`), checked against the pull request first.
"""
