#!/usr/bin/env bash
# Set up (once) and activate the course's Python environment. Source it: `source scripts/env.sh`.
#
# Why a cache outside the clone: torch alone is several GB. The environment lives in
# $BIOBERT_NER_CACHE (default ~/.cache/biobert-ner), in a folder named after a hash of the
# dependency inputs (requirements.lock, pinned from pyproject.toml, and this script). Same inputs -> the same environment is
# reused in seconds; changed inputs -> a new one is built, with downloads served from uv's cache.
# A half-built environment is never used: it is marked ready only after every install succeeded.

_bn_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_bn_cache="${BIOBERT_NER_CACHE:-$HOME/.cache/biobert-ner}"
_bn_uv_version="0.13.8"
_bn_python="${BIOBERT_NER_PYTHON:-python3}"

_bn_fail() { echo "setup: $*" >&2; return 1; }

# Keep the three most recently used environments (each is several GB); remove older ones.
_bn_prune() {
    local old
    for old in $(ls -1dt "$_bn_cache"/venv-*/ 2>/dev/null | tail -n +4); do
        [ "${old%/}" != "$1" ] && rm -rf "${old%/}" "${old%/}.lock"
    done
    return 0
}

_bn_setup() {
    local start key venv uv
    start=$(date +%s)
    command -v "$_bn_python" >/dev/null || _bn_fail "no $_bn_python on PATH (Python >= 3.10 needed)" || return 1
    mkdir -p "$_bn_cache"
    export UV_CACHE_DIR="$_bn_cache/uv-cache"  # same file system as the environments: uv hard-links, no copies

    # 1. uv, the fast installer, in a small bootstrap venv of its own.
    uv="$_bn_cache/bootstrap-$_bn_uv_version/bin/uv"
    if [ ! -x "$uv" ]; then
        rm -rf "$_bn_cache/bootstrap-$_bn_uv_version"
        "$_bn_python" -m venv "$_bn_cache/bootstrap-$_bn_uv_version" &&
            "$_bn_cache/bootstrap-$_bn_uv_version/bin/pip" install -q "uv==$_bn_uv_version" ||
            _bn_fail "could not install uv" || return 1
    fi

    # 2. The environment, keyed by the dependency inputs.
    key=$(cat "$_bn_root/requirements.lock" "$_bn_root/scripts/env.sh" | sha256sum | cut -c1-16)
    venv="$_bn_cache/venv-$key"
    if [ ! -f "$venv/.ready" ]; then
        # One builder at a time: a second shell waits here, then finds the environment ready.
        exec 9>"$venv.lock"
        command -v flock >/dev/null && flock 9
        if [ ! -f "$venv/.ready" ]; then
            echo "setup: building the Python environment in $venv (first run: a few minutes, torch is large)"
            rm -rf "$venv"
            "$uv" venv -q --python "$_bn_python" "$venv" || _bn_fail "could not create $venv" || return 1
            # --compile-bytecode: write every package's .pyc now. uv does not by default, and where
            # PYTHONDONTWRITEBYTECODE is set (many containers) Python never caches them either, so each
            # process (a CLI call, a notebook kernel) would compile torch and transformers from source
            # again: about 15 s per process on 2 cores.
            "$uv" pip install -q --compile-bytecode --python "$venv/bin/python" -r "$_bn_root/requirements.lock" ||
                _bn_fail "installing requirements.lock failed" || return 1
            touch "$venv/.ready"
        fi
        exec 9>&-
    fi
    touch "$venv/.ready"  # its time stamp says when the environment was last used
    _bn_prune "$venv"

    # 3. This clone, editable (cheap; re-pointed at every call so any clone can share the environment).
    "$uv" pip install -q --python "$venv/bin/python" --no-deps -e "$_bn_root" ||
        _bn_fail "installing biobert_ner from $_bn_root failed" || return 1

    # shellcheck disable=SC1091
    source "$venv/bin/activate"
    export BIOBERT_NER_ROOT="$_bn_root"
    # The editable install points at whichever clone sourced this script last; clones that share one
    # environment (a fork beside the course, a worktree) would import each other's code. This shell
    # and every process it starts import this clone's biobert_ner.
    export PYTHONPATH="$_bn_root${PYTHONPATH:+:$PYTHONPATH}"
    export MPLBACKEND="${MPLBACKEND:-Agg}"
    export TOKENIZERS_PARALLELISM=false
    echo "setup: environment ready in $(( $(date +%s) - start )) s: $venv"
}

_bn_setup
