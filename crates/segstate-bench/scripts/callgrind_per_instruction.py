#!/usr/bin/env python3
"""Per-instruction counts of one function from a callgrind profile, beside its code.

BENCHMARKS.md §1 step 54 reads `run_segment`'s loop this way: which instructions run
once a segment, which never. Usage:

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \\
        --toggle-collect='segstate_bench::rust::chain_batch' \\
        target/release/ratios 1 chains 'kvm-vmx > verbatim > kvm-vmx'
    python3 crates/segstate-bench/scripts/callgrind_per_instruction.py \\
        cg.out target/release/ratios chain_batch 1310720

The last two arguments: a substring of the function's name as callgrind records it
(inlined code is counted under the function it was inlined into), and what to divide
by (1310720 segments for `ratios 1 chains ROW`: 1,048,576 timed plus the warm-up's
quarter). Prints `objdump -d` of the function's range, each executed instruction with
its count per segment, then the total.
"""
import collections
import re
import subprocess
import sys


def counts(path, name_part):
    """Instruction address -> count, for the functions whose name holds name_part."""
    names, fn, pos, skip = {}, None, 0, False
    out = collections.Counter()
    for line in open(path):
        line = line.rstrip("\n")
        for prefix in ("fn=", "cfn="):
            if line.startswith(prefix):
                m = re.match(prefix + r"\((\d+)\)(?: (.*))?", line)
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                if prefix == "fn=" and m:
                    fn = names.get(m.group(1))
                break
        else:
            if line.startswith("calls="):
                skip = True  # the next line is the call's inclusive cost
                continue
            if not line or line[0] not in "+-*0123456789":
                continue
            parts = line.split()
            p = parts[0]
            if p.startswith("0x"):
                pos = int(p, 16)
            elif p[0] in "+-":
                step = int(p[1:], 16) if p[1:].startswith("0x") else int(p[1:])
                pos += step if p[0] == "+" else -step
            if skip:
                skip = False
                continue
            # positions: instr line; then the cost
            if fn and name_part in fn and len(parts) > 2:
                out[pos] += int(parts[2])
    return out


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    profile, binary, name_part, per = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    by_address = counts(profile, name_part)
    if not by_address:
        sys.exit(f"no instruction of a function named *{name_part}* in {profile}")
    lo, hi = min(by_address), max(by_address)
    code = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", f"--start-address={lo}",
         f"--stop-address={hi + 16}", binary],
        capture_output=True, text=True, check=True).stdout
    total = 0
    for line in code.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
        if not m:
            continue
        n = by_address.get(int(m.group(1), 16), 0)
        total += n
        shown = f"{n / per:6.2f}" if n else "      "
        print(f"{shown} {m.group(1)} {m.group(2)}")
    print(f"total per segment {total / per:.1f}")


if __name__ == "__main__":
    main()
