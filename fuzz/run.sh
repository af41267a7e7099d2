#!/bin/sh
# Run one fuzz target in the background-friendly way used for docs/security.md:
#   fuzz/run.sh TARGET SECONDS
# Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks the -Z sanitizer flags.
# Corpus: fuzz/corpus/TARGET (grows), seeded from fuzz/seeds/TARGET (fuzz/seed.sh).
# Findings land in fuzz/artifacts/TARGET; the log in fuzz/logs/TARGET.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=$1
secs=${2:-600}
mkdir -p "$here/corpus/$t" "$here/logs" "$here/seeds/$t"
cd "$here"
RUSTC_BOOTSTRAP=1 exec nice -n 19 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=2 -rss_limit_mb=1024 -max_len=16384 \
    -print_final_stats=1 -close_fd_mask=2 >"logs/$t.log" 2>&1
