#!/usr/bin/env python3
"""Regenerates agent/text-order/symbols.txt, the order in which the release
linker lays out the agent's functions (agent/build.rs passes it to lld as
--symbol-ordering-file).

Why: the kernel maps file-backed code 64 KiB at a time around every page
fault (fault-around), so a function executed once keeps its whole 64 KiB
neighbourhood resident. Unordered, the code an agent runs at work (~0.6 MiB)
and at start (~0.4 MiB) is spread over most of its 3.7 MiB of text, and
~3.2 MiB of it stays resident. Packed together, only what runs is resident.

How: run the release agent under callgrind with 100 sleeping and 10 printing
programs; dump once it serves (start-up), then drive every face (status,
events, verbs, logs, follow, /metrics, XML-RPC) and dump again (work).
Functions seen at work come first, hottest first; then those only seen at
start. Names stay mangled (what lld matches); nm drops any that are not
functions of the binary.

Run from the repo root after `cargo build --release -p fleet-agent`, with
valgrind and curl installed:  python3 agent/text-order/gen.py
A stale list only costs memory: lld skips names that no longer exist."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "target/release/fleet-agent"
TESTPROG = ROOT / "target/release/fleet-testprog"
OUT = Path(__file__).with_name("symbols.txt")


def costs(path):
    """Self cost (Ir) per function of the agent's own object in one dump."""
    ob, fn, out, skip = None, None, {}, False
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn="):
            fn = line[3:].strip() if ob and ob.endswith("fleet-agent") else None
            if fn:
                out.setdefault(fn, 0)
        elif line.startswith("calls="):
            skip = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            if skip:
                skip = False
            elif fn:
                parts = line.split()
                if len(parts) > 1:
                    out[fn] += int(parts[1])
    return out


def work(sock):
    def curl(*a):
        subprocess.run(["curl", "-s", "--max-time", "5", "--unix-socket", sock, *a],
                       stdout=subprocess.DEVNULL, check=False)
    for _ in range(20):
        curl("http://x/v1/status")
    curl("-N", "--max-time", "2", "http://x/v1/events")
    for verb, name in [("restart", "p01"), ("stop", "p02"), ("start", "p02"), ("restart", "chat1")]:
        curl("-XPOST", f"http://x/v1/processes/{name}/{verb}")
    curl("http://x/v1/processes/chat1/log?lines=50")
    curl("-N", "--max-time", "1", "http://x/v1/processes/chat2/log?follow=true")
    curl("http://x/metrics")
    curl("http://x/v1/config")
    curl("-H", "Content-Type: text/xml", "-d",
         '<?xml version="1.0"?><methodCall><methodName>supervisor.getAllProcessInfo'
         "</methodName><params/></methodCall>", "http://x/RPC2")
    for _ in range(20):
        curl("http://x/v1/status")


def main():
    tmp = Path(tempfile.mkdtemp(prefix="text-order-"))
    sock = str(tmp / "agent.sock")
    conf = [f'[agent]\nsocket = "{sock}"\n']
    conf += [f'[program.p{i:02}]\ncommand = "{TESTPROG} sleep"\nstartsecs = 1\n' for i in range(100)]
    conf += [f'[program.chat{i}]\ncommand = "{TESTPROG} ticker 5"\nstartsecs = 1\n' for i in range(10)]
    (tmp / "agent.toml").write_text("".join(conf))
    vg = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=no", "--compress-strings=no",
                           "--compress-pos=no", "--demangle=no", f"--callgrind-out-file={tmp}/cg.out",
                           str(AGENT), "-c", str(tmp / "agent.toml")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(sock):
        if time.time() > deadline:
            sys.exit("the agent did not serve under callgrind")
        time.sleep(0.5)
    time.sleep(5)  # every program past startsecs: the start-up's work is done
    subprocess.run(["callgrind_control", "-d", str(vg.pid)], check=True, stdout=subprocess.DEVNULL)
    work(sock)
    vg.terminate()
    vg.wait(timeout=120)
    start, at_work = costs(f"{tmp}/cg.out.1"), costs(f"{tmp}/cg.out")

    symbols = set()
    for line in subprocess.run(["nm", str(AGENT)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.add(parts[2])
    order = sorted(at_work, key=lambda f: -at_work[f]) + sorted(set(start) - set(at_work), key=lambda f: -start[f])
    lines = [f for f in order if f in symbols]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{len(at_work)} functions at work, {len(set(start) - set(at_work))} only at start; "
          f"{len(lines)} symbols written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
