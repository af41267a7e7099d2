#!/usr/bin/env bash
# seal's main job on the bundled example, in a temporary directory:
# create a key, check (fails on plaintext), encrypt the example Secrets, check again (clean),
# decrypt them back.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seal=${SEAL_BIN:-"$root/target/release/seal"}
[ -x "$seal" ] || { echo "build seal first: cargo build --release" >&2; exit 1; }

work=$(mktemp -d -t seal-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOME="$work/home"          # keep the demo away from your real keys
mkdir -p "$HOME"
unset SOPS_AGE_KEY SOPS_AGE_KEY_FILE SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS XDG_CONFIG_HOME

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# The key lives outside the repository (seal check would flag a committed identity).
say "seal new-key -o ../keys.txt"
mkdir repo && cd repo
pub=$("$seal" new-key -o ../keys.txt)
ls -l ../keys.txt

say "cat .sops.yaml"
cat > .sops.yaml <<YAML
creation_rules:
  - path_regex: secrets/.*\.ya?ml\$
    encrypted_regex: ^(data|stringData)\$
    age: $pub
YAML
cat .sops.yaml

mkdir secrets
cp "$root"/examples/secrets/*.yaml secrets/
say "seal check    # before encrypting: the CI gate refuses plaintext Secrets (exit 1)"
if "$seal" check --color never; then echo "unexpected: check passed on plaintext" >&2; exit 1; fi
for f in secrets/*.yaml; do
  say "seal encrypt -i $f"
  "$seal" encrypt -i "$f"
done
say "cat secrets/postgres.yaml"
cat secrets/postgres.yaml

say "seal check    # after encrypting: clean (exit 0)"
"$seal" check --color never

say "seal filestatus secrets/*.yaml"
for f in secrets/*.yaml; do printf '%-24s ' "$f"; "$seal" filestatus "$f"; done

export SOPS_AGE_KEY_FILE="$work/keys.txt"
say "seal decrypt --extract '[\"stringData\"][\"POSTGRES_SUPER_PASS\"]' secrets/postgres.yaml"
"$seal" decrypt --extract '["stringData"]["POSTGRES_SUPER_PASS"]' secrets/postgres.yaml; echo

for f in secrets/*.yaml; do
  say "seal decrypt $f | diff - examples/$f"
  "$seal" decrypt "$f" | diff "$root/examples/$f" - && echo "identical to the original, byte for byte"
done
printf '\ndemo finished: key created, plaintext refused by seal check, 3 files encrypted and checked, decrypted back to the same bytes.\n'
