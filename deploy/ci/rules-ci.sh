#!/usr/bin/env sh
# The CI job for a repository of rules (docs/audit.md, "Rules in CI"): what the
# GitHub Actions and GitLab CI recipes run, step for step. make test runs it too.
#
#   RULES=Rules FIXTURES=fixtures REPORTS=reports deploy/ci/rules-ci.sh
#
# RULES     the rules directory (datasets.yaml, the rule files, tests/ with the cases)
# FIXTURES  snapshot directories to audit (each a subdirectory), optional
# REPORTS   where the JUnit files go (the CI publishes them)
set -eu
RULES=${RULES:-Rules}
FIXTURES=${FIXTURES:-}
REPORTS=${REPORTS:-reports}
CONCORD=${CONCORD:-concord}
mkdir -p "$REPORTS"
# 1. The rules load: every problem as file:line:col (exit 2).
"$CONCORD" rules check "$RULES"
# 2. The cases: what each rule must find and must not (exit 1 on a failure, 2 on a broken case).
"$CONCORD" rules test "$RULES" --junit "$REPORTS/rules-cases.xml"
# 3. Each fixture snapshot audited with the rules: a finding at or above --fail-on fails the job.
if [ -n "$FIXTURES" ]; then
    for snap in "$FIXTURES"/*/; do
        [ -f "$snap/manifest.json" ] || continue
        name=$(basename "$snap")
        "$CONCORD" audit --snapshot "$snap" --rules "$RULES" --format junit,json --output-dir "$REPORTS/$name" --fail-on error
    done
fi
