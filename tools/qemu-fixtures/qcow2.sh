#!/bin/sh
# Regenerates the qcow2 images with internal snapshots in
# crates/segstate/tests/fixtures/qcow2/.
#
# usage: tools/qemu-fixtures/qcow2.sh [OUTDIR]
#
# Builds guest.S for a stop stage (as generate.sh does), runs it under QEMU with one
# qcow2 drive (qemu-img create, 1 MiB, no frontend), stops it in its stage and takes
# internal snapshots with HMP savevm (qmp.py --savevm): VM state in the image, as
# `virsh snapshot-create` of a running domain writes it. FILE.txt beside each image is
# the `info registers -a` text printed before each savevm. MANIFEST.txt records the
# QEMU version, the date and every command line. Needs qemu-system-x86_64, qemu-img, GNU
# as and ld, python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="${1:-$here/../../crates/segstate/tests/fixtures/qcow2}"
. "$here/lib.sh"
need_tools
command -v qemu-img >/dev/null || { echo "missing qemu-img" >&2; exit 1; }
start "$out" qcow2.sh

# run NAME STOP ACCEL CREATE-OPTIONS TAGS
run() {
    name=$1 stop=$2 accel=$3 options=$4 tags=$5
    build_guest "$stop"
    sock="$work/qmp.sock"
    rm -f "$sock" "$out/$name"
    qemu-img create -q -f qcow2 -o "$options" "$out/$name" 1M
    set -- qemu-system-x86_64 -accel "$accel" -machine pc -nodefaults -display none \
        -m 2 -no-reboot -bios "$work/guest.rom" -S \
        -qmp "unix:$sock,server=on,wait=off" \
        -drive "file=$out/$name,if=none,id=d0,format=qcow2"
    echo "$name: STOP=$stop: qemu-img create -f qcow2 -o $options $name 1M; $* ; qmp.py --all-cpus --wait 0.5 --savevm $tags" |
        sed -e "s|$work/||g" -e "s|$out/||g" >>"$manifest"
    "$@" &
    qemu=$!
    python3 "$here/qmp.py" "$sock" "$out/$name.txt" --all-cpus --wait 0.5 --savevm "$tags"
    wait "$qemu"
    echo "wrote $out/$name"
}

run tcg-v2-sysret.qcow2 5 tcg compat=0.10,cluster_size=4096 sysret
if [ -w /dev/kvm ]; then
    run kvm-v3-two.qcow2 3 kvm cluster_size=4096 user-a,user-b
    run kvm-extl2.qcow2 3 kvm extended_l2=on,cluster_size=16384 user
else
    echo "no writable /dev/kvm: the kvm-* images were not made" >&2
fi
