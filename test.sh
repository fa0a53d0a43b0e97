#!/usr/bin/env bash
# Set everything up and run every test: unit tests, end-to-end training and CLI, notebooks
# (papermill + nbval), exercises and autograder, the Java appendix (Maven), JupyterLab in Chromium.
#   ./test.sh                 # everything (what CI runs)
#   ./test.sh -m "not slow"   # extra arguments go to pytest: here, the unit tests only
#   ./test.sh -m java         # one family of slow tests: notebook, grading, java, browser or e2e
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
bash scripts/system-deps.sh
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: a run that tests nothing is a failure" >&2
    exit 1
fi
exit "$status"
