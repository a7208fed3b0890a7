#!/usr/bin/env python3
"""A file of mostly zeros kept as its data extents, and back.

A QEMU mapped-ram stream of a 16 MiB guest is 23 MB long and holds about 200 KiB of
data: every page slot QEMU did not write is a hole. The fixture keeps only the
4 KiB blocks that are not all zeros:

    b"SEGEXT01", be64 length of the file,
    then per extent: be64 offset, be64 length, the bytes (offsets increasing);

every byte outside an extent is zero. segstate's tests read it back as the whole
stream (segstate::testing::Extents) without holding it.

usage: extents.py pack FILE OUT.extents
       extents.py unpack FILE.extents OUT      (OUT is written sparse)
"""

import struct
import sys

MAGIC = b"SEGEXT01"
BLOCK = 4096


def pack(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    out = [MAGIC, struct.pack(">Q", len(data))]
    at = 0
    while at < len(data):
        if not any(data[at:at + BLOCK]):
            at += BLOCK
            continue
        end = at
        while end < len(data) and any(data[end:end + BLOCK]):
            end += BLOCK
        end = min(end, len(data))
        out += [struct.pack(">QQ", at, end - at), data[at:end]]
        at = end
    with open(dst, "wb") as f:
        f.write(b"".join(out))


def unpack(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise SystemExit(f"{src}: not an extents file (no {MAGIC!r})")
    (length,) = struct.unpack(">Q", data[8:16])
    at = 16
    with open(dst, "wb") as f:
        while at < len(data):
            offset, size = struct.unpack(">QQ", data[at:at + 16])
            f.seek(offset)
            f.write(data[at + 16:at + 16 + size])
            at += 16 + size
        f.truncate(length)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        raise SystemExit(__doc__)
    {"pack": pack, "unpack": unpack}[sys.argv[1]](sys.argv[2], sys.argv[3])
