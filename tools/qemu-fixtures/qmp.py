#!/usr/bin/env python3
"""Drives one QEMU over its QMP socket: waits, prints `info registers`, saves a stream.

usage: qmp.py SOCKET OUT.txt [--wait SECONDS] [--all-cpus] [--no-cont]
              [--caps CAP,...] [--migrate FILE | --uri URI] [--settle]
              [--dump FILE [--dump-format FORMAT] [--dump-range BEGIN:LENGTH]]
              [--savevm TAG,...]

Starts the (-S) guest unless --no-cont, lets it run for --wait seconds so that it parks
in its final state, stops it, writes the HMP `info registers` text to OUT.txt, optionally
sets migration capabilities (--caps mapped-ram,multifd) and migrates to FILE
("exec:cat > FILE") or to any URI (--uri file:PATH), and quits QEMU. --settle is for the
postcopy-ram capability over exec:, where QEMU 10 writes the whole stream and then stays
in status "device" (no return path): done once FILE stops growing. --dump writes a guest
memory dump (`dump-guest-memory`, no paging) in --dump-format (elf, kdump-zlib,
kdump-raw-zlib, ...; default elf), of the guest-physical range BEGIN:LENGTH only when
given (ELF only: QEMU's kdump formats take no range). --savevm takes an internal
snapshot (HMP `savevm`) per TAG into the VM's qcow2 drives: the first of the stopped VM
as printed, each further one after running it for --wait seconds more, its `info
registers` appended to OUT.txt. Standard library only.
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"cannot connect to {path}")
        self.file = self.sock.makefile("rw")
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while True:
            msg = json.loads(self.file.readline())
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.file.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.file.flush()
        reply = self.read()
        if "error" in reply:
            raise SystemExit(f"{name}: {reply['error']}")
        return reply["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})


def main():
    argv = sys.argv[1:]
    sock, out = argv[0], argv[1]
    wait = float(argv[argv.index("--wait") + 1]) if "--wait" in argv else 1.0
    q = Qmp(sock)
    if "--no-cont" not in argv:
        q.cmd("cont")
        time.sleep(wait)
        q.cmd("stop")
    text = q.hmp("info registers -a" if "--all-cpus" in argv else "info registers")
    with open(out, "w") as f:
        f.write(text)
    if "--dump" in argv:
        args = {"paging": False, "protocol": "file:" + argv[argv.index("--dump") + 1]}
        if "--dump-format" in argv:
            args["format"] = argv[argv.index("--dump-format") + 1]
        if "--dump-range" in argv:
            begin, length = argv[argv.index("--dump-range") + 1].split(":")
            args["begin"], args["length"] = int(begin, 0), int(length, 0)
        q.cmd("dump-guest-memory", **args)
        while q.cmd("query-dump").get("status") not in ("completed", "failed"):
            time.sleep(0.1)
        if q.cmd("query-dump")["status"] != "completed":
            raise SystemExit("dump-guest-memory failed")
    if "--savevm" in argv:
        for i, tag in enumerate(argv[argv.index("--savevm") + 1].split(",")):
            if i > 0:
                q.cmd("cont")
                time.sleep(wait)
                q.cmd("stop")
                with open(out, "a") as f:
                    f.write(q.hmp("info registers -a" if "--all-cpus" in argv else "info registers"))
            reply = q.hmp(f"savevm {tag}")
            if reply.strip():
                raise SystemExit(f"savevm {tag}: {reply}")
    if "--caps" in argv:
        caps = argv[argv.index("--caps") + 1].split(",")
        q.cmd("migrate-set-capabilities",
              capabilities=[{"capability": c, "state": True} for c in caps])
    if "--migrate" in argv or "--uri" in argv:
        if "--uri" in argv:
            uri = argv[argv.index("--uri") + 1]
        else:
            target = argv[argv.index("--migrate") + 1]
            uri = f"exec:cat > {target}"
        q.cmd("migrate", uri=uri)
        if "--settle" in argv:
            # With postcopy-ram and no return path (exec:), QEMU 10 stays in status
            # "device" after writing the whole stream: done once the file has stopped
            # growing for a second.
            import os
            path = argv[argv.index("--migrate") + 1]
            last = -1
            while True:
                time.sleep(1.0)
                size = os.path.getsize(path) if os.path.exists(path) else -2
                status = q.cmd("query-migrate").get("status")
                if status in ("completed", "failed") or (status == "device" and size == last):
                    break
                last = size
            if status == "failed":
                raise SystemExit(f"migration {status}")
            q.cmd("quit")
            return
        while q.cmd("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.1)
        status = q.cmd("query-migrate")["status"]
        if status != "completed":
            raise SystemExit(f"migration {status}")
    q.cmd("quit")


if __name__ == "__main__":
    main()
