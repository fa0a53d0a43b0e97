#!/usr/bin/env bash
# System packages the tests need beyond Python 3.10+, Java 17 and Maven: Debian's chromium for the
# browser check. Installed only when missing and only where we may (root with apt-get).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
    echo "system-deps: chromium is missing and cannot be installed here (need root + apt-get); the browser test will fail" >&2
fi
