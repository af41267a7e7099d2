#!/usr/bin/env bash
# seal's whole workflow on the bundled example (examples/secrets/), in a private temporary
# directory that is removed at the end: new keys, `seal check` refusing plaintext, encrypt,
# check clean, a cluster recipient with updatekeys, rotate, decrypt back to the original
# bytes, an ExternalSecret from the encrypted Secret. The steps live in `seal demo`
# (src/commands/demo.rs), which runs this binary with a temporary HOME: your own keys,
# keyring and configuration are never read or touched.
# Usage: scripts/demo.sh [--verbose|--quiet]   (SEAL_BIN=path/to/seal to use another build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seal=${SEAL_BIN:-"$root/target/release/seal"}
[ -x "$seal" ] || { echo "build seal first: cargo build --release" >&2; exit 1; }
exec "$seal" "$@" demo
