#!/bin/sh
# Regenerates the QEMU guest memory dumps in crates/segstate/tests/fixtures/vmcore/.
#
# usage: tools/qemu-fixtures/vmcore.sh [OUTDIR]
#
# Builds guest.S once per stop stage (as generate.sh does), runs it under QEMU (TCG, and
# KVM where /dev/kvm is there), stops it in its stage, saves the HMP "info registers -a"
# text (FILE.txt beside each FILE) and writes a dump-guest-memory file (qmp.py --dump): ELF files of the
# first 4 KiB of guest RAM only (--dump-range), and kdump-compressed files of the whole
# 2 MiB guest. MANIFEST.txt records the QEMU version, the date and every command line.
# Needs qemu-system-x86_64, GNU as and ld, python3 (generate.sh --install installs them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="${1:-$here/../../crates/segstate/tests/fixtures/vmcore}"
. "$here/lib.sh"
need_tools
start "$out" vmcore.sh

# run NAME STOP ACCEL DUMPARGS [extra qemu args]
run() {
    name=$1 stop=$2 accel=$3 dumpargs=$4
    shift 4
    build_guest "$stop"
    sock="$work/qmp.sock"
    rm -f "$sock" "$out/$name"
    set -- qemu-system-x86_64 -accel "$accel" -machine pc -nodefaults -display none \
        -m 2 -no-reboot -bios "$work/guest.rom" -S \
        -qmp "unix:$sock,server=on,wait=off" "$@"
    echo "$name: STOP=$stop: $* ; qmp.py --all-cpus --dump $name $dumpargs" |
        sed -e "s|$work/||g" >>"$manifest"
    "$@" &
    qemu=$!
    # shellcheck disable=SC2086
    python3 "$here/qmp.py" "$sock" "$out/$name.txt" --all-cpus --dump "$out/$name" $dumpargs
    wait "$qemu"
    chmod 644 "$out/$name"
    echo "wrote $out/$name"
}

elf="--dump-format elf --dump-range 0:4096"
run tcg-pm32.elf 1 tcg "$elf"
run tcg-sysret-null-ss.elf 5 tcg "$elf"
run tcg-compat.elf 6 tcg "$elf"
if [ -w /dev/kvm ]; then
    run kvm-user-smp2.elf 3 kvm "$elf" -smp 2
    run kvm-user.kdump-zlib 3 kvm "--dump-format kdump-zlib"
    run kvm-user.kdump-raw-zlib 3 kvm "--dump-format kdump-raw-zlib"
else
    echo "no writable /dev/kvm: the kvm-* files were not made" >&2
fi
