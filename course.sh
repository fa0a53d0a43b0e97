#!/usr/bin/env bash
# Set everything up and open the course in JupyterLab.
#   ./course.sh             # opens JupyterLab on notebooks/
#   ./course.sh --headless  # executes every notebook with papermill into build/notebooks/ instead
# Extra arguments after --headless go to the runner, e.g. ./course.sh --headless --profile full
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
if [ "${1:-}" = "--headless" ]; then
    shift
    exec python -m biobert_ner.cli run-notebooks "$@"
fi
exec jupyter lab --notebook-dir=notebooks "$@"
