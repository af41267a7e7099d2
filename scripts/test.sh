#!/usr/bin/env bash
# Runs every test of seal: formatting and lints, unit/property/CLI tests, the interop tests
# against the real sops 3.11 (installed into .venv by scripts/install-peers.sh), the shared
# conformance corpus in both directions, the real-world filestatus corpus, and sops's own
# functional test suite (v3.13.2) run against seal linked as `sops`.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
shared=${SEAL_SHARED:-"$root/../shared"}

step() { printf '\n==> %s (at %ss)\n' "$*" "$SECONDS"; }

step "installing the real peers (sops 3.11, PyYAML, age) when missing"
bash scripts/install-peers.sh
export SEAL_SOPS_BIN="$root/.venv/bin/sops"
export SEAL_SHARED="$shared"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

# Suites that need ../shared record themselves here when it is missing (tests/common).
rm -rf target/shared-skipped
not_run=()

step "cargo test (unit, property, CLI, interop with sops)"
cargo test --quiet 2>&1 | tee target/test-output.txt

# The binary cargo test built (the same code as a release build; CI saves the ~3 minutes
# of an optimised build, which only the benches need).
step "conformance corpus against the real sops ($shared/conformance)"
if [ -x "$shared/conformance/run.sh" ]; then
  (cd "$shared/conformance" && SOPS_BIN="$SEAL_SOPS_BIN" PYTHON="$root/.venv/bin/python" \
    ./run.sh "$root/target/debug/seal" | tee "$root/target/conformance.txt" | grep -v '^PASS' || true)
  tail -n 1 target/conformance.txt | grep -Eq '^[0-9]+ passed, 0 failed$' \
    || { echo "conformance failed: $(tail -n 1 target/conformance.txt)" >&2; exit 1; }
  echo "conformance: $(tail -n 1 target/conformance.txt)"
elif [ "${CI:-}" = true ]; then
  echo "CI=true requires the shared conformance corpus, but $shared/conformance/run.sh is missing" >&2
  exit 1
else
  not_run+=("conformance corpus against the real sops (scripts/test.sh)")
fi

# sops's own functional suite (v3.13.2) with seal linked as ./sops; its own cargo build
# (the suite's crates) is kept in target/sops-functional-tests between runs.
step "sops's functional test suite against seal as sops ($shared/sops-functional-tests)"
if [ -x "$shared/sops-functional-tests/run.sh" ]; then
  sft_start=$SECONDS
  # --services (KMS, S3 and Vault publish on moto and OpenBao, 127.0.0.1 only: 41 tests)
  # when install-peers.sh put moto_server and bao in .venv; required with CI=true.
  sft_services=()
  if [ -x "$root/.venv/bin/moto_server" ] && [ -x "$root/.venv/bin/bao" ]; then
    sft_services=(--services)
  elif [ "${CI:-}" = true ]; then
    echo "CI=true requires the functional suite's --services run, but .venv has no moto_server/bao (run scripts/install-peers.sh)" >&2
    exit 1
  else
    not_run+=("sops's functional suite --services tests (no moto_server/bao in .venv)")
  fi
  SFT_VENV="$root/.venv" SFT_TARGET="$root/target/sops-functional-tests" timeout 900 \
    "$shared/sops-functional-tests/run.sh" "$root/target/debug/seal" ${sft_services[@]+"${sft_services[@]}"} \
    >target/sops-functional.txt 2>&1 || true
  grep -v ' \.\.\. ok$' target/sops-functional.txt | tail -n 60
  tail -n 1 target/sops-functional.txt | grep -Eq '^[0-9]+ passed, 0 failed$' \
    || { echo "sops functional tests failed: $(tail -n 1 target/sops-functional.txt)" >&2; exit 1; }
  echo "sops functional tests: $(tail -n 1 target/sops-functional.txt) ($((SECONDS - sft_start))s)"
elif [ "${CI:-}" = true ]; then
  echo "CI=true requires sops's functional test suite, but $shared/sops-functional-tests/run.sh is missing" >&2
  exit 1
else
  not_run+=("sops's functional test suite against seal as sops (scripts/test.sh)")
fi

step "summary"
if [ -d target/shared-skipped ]; then
  while IFS= read -r line; do not_run+=("$line"); done < <(cat target/shared-skipped/* | sort)
fi
if [ ${#not_run[@]} -gt 0 ]; then
  echo "NOT RUN: these suites need the shared corpora in $shared, which this checkout does not have:"
  printf '  - %s\n' "${not_run[@]}"
fi
echo "all run suites passed (elapsed ${SECONDS}s)"
