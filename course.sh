#!/usr/bin/env bash
# Set everything up and open the course in JupyterLab.
#   ./course.sh                # opens JupyterLab on notebooks/
#   ./course.sh --headless     # executes every notebook with papermill into build/notebooks/ instead
#   ./course.sh --headless 00  # only notebook 00; extra arguments go to the runner, e.g. --profile full
# Extra arguments without --headless go to JupyterLab, e.g. ./course.sh --no-browser --port 8889
# (--notebook-dir=DIR serves DIR instead of notebooks/)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
if [ "${1:-}" = "--headless" ]; then
    shift
    exec python -m biobert_ner run-notebooks "$@"
fi
jupyter_flags=(--notebook-dir=notebooks)
for argument in "$@"; do
    case "$argument" in
        --notebook-dir|--notebook-dir=*|--ServerApp.root_dir|--ServerApp.root_dir=*)
            jupyter_flags=()  # the caller names the folder to serve (Jupyter takes only one)
            ;;
    esac
done
if [ "$(id -u)" = 0 ]; then
    # Containers and many cloud notebooks run as root; Jupyter refuses that unless told it is meant.
    echo "course.sh: running as root, so JupyterLab is started with --allow-root" >&2
    jupyter_flags+=(--allow-root)
fi
exec jupyter lab "${jupyter_flags[@]}" "$@"
