#!/usr/bin/env bash
# Tells the host's speed from segstate's: times a plain C loop that touches no memory
# (100 million iterations of x += i*i, gcc -O1) alternately with
# `segstate verify --threads 1`, each pinned to CPU 0, ROUNDS times (default 6), and
# prints both task-clock figures per round. When the loop slows as much as verify,
# the spread in verify's CPU time is the host's (BENCHMARKS.md §2, 2026-12-03, fifth
# session). Needs gcc, perf and a release build (`cargo build --release -p segstate-cli`).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROUNDS="${1:-6}"
VERIFY=target/release/segstate
[[ -x "$VERIFY" ]] || { echo "host_speed: build $VERIFY first (cargo build --release -p segstate-cli)" >&2; exit 2; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/spin.c" <<'C'
#include <stdio.h>
int main(void) {
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 100000000UL; i++) x += i * i;
    printf("%lu\n", x);
    return 0;
}
C
gcc -O1 "$dir/spin.c" -o "$dir/spin"
clock() { taskset -c 0 perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | grep task-clock | cut -d, -f1; }
echo "round  loop_ms  verify_ms   (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
    printf '%5d  %7s  %9s\n' "$r" "$(clock "$dir/spin")" "$(clock "$VERIFY" verify --threads 1)"
done
