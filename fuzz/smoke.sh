#!/usr/bin/env bash
# A short fuzzing smoke run: every target for SECONDS (default 20) seconds, seeded from
# fuzz/seeds, one after the other. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags.
# Exits non-zero on the first crash (its input lands in fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-20}"
export RUSTC_BOOTSTRAP=1
TARGETS=(qemu_dump kvm_sregs vmcb json_state check_input)
# Targets another engineer adds (e.g. snapshot) join automatically when they exist.
for extra in fuzz_targets/*.rs; do
  name="$(basename "$extra" .rs)"
  [[ "$name" == common ]] && continue
  [[ " ${TARGETS[*]} " == *" $name "* ]] || TARGETS+=("$name")
done
cargo fuzz build
# The build resolves the committed lock file; if it had to change it, the lock is out of
# step with the library's dependencies: say so rather than leave the tree dirty.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- Cargo.lock; then
  echo "fuzz/Cargo.lock is out of step with the workspace: commit the updated file" >&2
  exit 1
fi
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  seeds=()
  [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
  echo "== $t (${SECONDS_PER_TARGET}s)"
  log="$(mktemp)"
  if ! cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
      -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "crash in $t: see fuzz/artifacts/$t/" >&2
    rm -f "$log"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$log" || true
  rm -f "$log"
done
echo "smoke: no crash"
