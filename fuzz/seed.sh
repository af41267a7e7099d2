#!/bin/sh
# Build fuzz/seeds/<target>/ from the shared conformance corpus and the tests' corpora.
# Usage: fuzz/seed.sh [SHARED_DIR]   (default: ../shared beside the repository)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${1:-${SEAL_SHARED:-$repo/../shared}}
cases=$shared/conformance/cases
seeds=$here/seeds
rm -rf "$seeds"
for t in store_yaml store_json store_dotenv store_ini enc_value metadata config check_scan decrypt; do
    mkdir -p "$seeds/$t"
done
n=0
add() { # target file [prefix-byte]
    n=$((n + 1))
    if [ $# -eq 3 ]; then
        { printf "$3"; cat "$2"; } > "$seeds/$1/s$n"
    else
        cp "$2" "$seeds/$1/s$n"
    fi
}
for f in "$cases"/*/* "$cases"/*/.sops.yaml "$repo"/tests/check-corpus/*/.sops.yaml "$repo"/tests/yaml-roundtrip/* "$repo"/tests/check-corpus/*/* "$repo"/tests/check-corpus/*; do
    [ -f "$f" ] || continue
    [ "$(wc -c < "$f")" -le 65536 ] || continue
    case "$f" in
        *.yaml|*.yml)
            add store_yaml "$f"; add metadata "$f"; add check_scan "$f" '\000'
            case "$f" in */.sops.yaml|*/config-*.yaml) add config "$f" ;; esac
            case "$f" in */enc.yaml) add decrypt "$f" '\000'; add decrypt "$f" '\200' ;; esac ;;
        *.json)
            add store_json "$f"; add check_scan "$f" '\002'
            case "$f" in */enc.json) add decrypt "$f" '\001' ;; esac ;;
        *.env)
            add store_dotenv "$f"; add check_scan "$f" '\003'
            case "$f" in */enc.env) add decrypt "$f" '\002' ;; esac ;;
        *.ini)
            add store_ini "$f"; add check_scan "$f" '\004'
            case "$f" in */enc.ini) add decrypt "$f" '\003' ;; esac ;;
        *) add check_scan "$f" '\006' ;;
    esac
done
# ENC values: every encrypted value of the conformance files, one per seed.
grep -rhoE 'ENC\[AES256_GCM,[^]]*\]' "$cases" | sort -u | head -200 | while read -r v; do
    n=$((n + 1)); printf '%s' "$v" > "$seeds/enc_value/e$n"
done
for t in "$seeds"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
