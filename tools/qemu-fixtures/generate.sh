#!/bin/sh
# Regenerates the real-QEMU fixtures in crates/segstate/tests/fixtures/qemu/.
#
# usage: tools/qemu-fixtures/generate.sh [--install] [OUTDIR]
#
# Builds guest.S (GNU as + ld) into a 64 KiB firmware image once per stop stage, boots
# each under TCG (qemu-system-x86_64 -accel tcg -bios guest.rom -S), lets it park in its
# stage, and saves what QEMU prints:
#   *.txt            the HMP "info registers" text (via QMP human-monitor-command)
#   int-log.txt      the "-d int" log of the run that takes "int $0x80" from CPL 3
#   null-ss-cpl0.migstream   the migration stream ("migrate exec:cat > FILE") of stage 4
#   MANIFEST.txt     QEMU version, date, and the command lines used
#
# --install runs "apt-get update && apt-get install -y qemu-system-x86 binutils
# python3" first (Debian/Ubuntu, as root). Note: on hosts with a backported qemu-utils,
# installing qemu-system-x86 replaces it with the matching older version. Without
# --install nothing is installed; the script stops if a tool is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../crates/segstate/tests/fixtures/qemu"
install=no
for arg in "$@"; do
    case "$arg" in
        --install) install=yes ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) out=$arg ;;
    esac
done

if [ "$install" = yes ]; then
    echo "installing: qemu-system-x86 binutils python3 (apt-get)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        qemu-system-x86 binutils python3
fi
. "$here/lib.sh"
need_tools
start "$out" generate.sh

# run NAME STOP [extra qmp.py args] [-- extra qemu args]
run() {
    name=$1 stop=$2
    shift 2
    qmp_args=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do qmp_args="$qmp_args $1"; shift; done
    [ $# -gt 0 ] && shift
    build_guest "$stop"
    sock="$work/qmp.sock"
    rm -f "$sock"
    set -- qemu-system-x86_64 -accel tcg -machine pc -nodefaults -display none \
        -m 16 -no-reboot -bios "$work/guest.rom" -S \
        -qmp "unix:$sock,server=on,wait=off" "$@"
    echo "$name: STOP=$stop: $* ; qmp.py$qmp_args" | sed -e "s|$work/||g" -e "s|$out/||g" >>"$manifest"
    "$@" &
    qemu=$!
    # shellcheck disable=SC2086
    python3 "$here/qmp.py" "$sock" "$out/$name.txt" $qmp_args
    wait "$qemu"
    echo "wrote $out/$name.txt"
}

run reset 0 --no-cont
run pm32-cpl0 1
run long-cpl0 2
run user-cpl3 3
run null-ss-cpl0 4 --all-cpus --migrate "$out/null-ss-cpl0.migstream" -- \
    -smp 2 -d int -D "$work/int.log"
cp "$work/int.log" "$out/int-log.txt"
run sysret-null-ss-cpl3 5
run compat-cpl3 6
ls -l "$out"
