#!/bin/sh
# Run one fuzz target (already built with `RUSTC_BOOTSTRAP=1 cargo fuzz build -O`, which
# gives AddressSanitizer + libFuzzer on a stable toolchain) for SECONDS:
#   fuzz/run.sh TARGET SECONDS
# Corpus: fuzz/corpus/TARGET (grows), seeded from fuzz/seeds/TARGET (fuzz/seed.sh).
# Findings land in fuzz/artifacts/TARGET; the log in fuzz/logs/TARGET.log. The binary is run
# directly (not through `cargo fuzz run`) so that editing seal while a fuzzer runs does not
# trigger a rebuild. -timeout=5 on a shared, loaded machine: a timeout is then re-run alone
# to tell a real hang (> 1 s) from a scheduling stall.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=$1
secs=${2:-600}
bin=$here/target/x86_64-unknown-linux-gnu/release/$t
mkdir -p "$here/corpus/$t" "$here/logs" "$here/seeds/$t" "$here/artifacts/$t"
cd "$here"
exec nice -n 19 "$bin" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -max_len=16384 \
    -print_final_stats=1 -close_fd_mask=2 "corpus/$t" "seeds/$t" >>"logs/$t.log" 2>&1
