"""Bridge from the stdlib-only harness to circusd's control socket.

Run with the benchmark virtualenv's python (which has pyzmq, installed with
circus), never imported by the harness:

    VENV/bin/python benches/circus_bridge.py ipc:///path/circus.sock

Reads one JSON array of circus commands per line on stdin, e.g.
[{"command": "status", "properties": {}}], sends them all at once over a
zmq DEALER socket (circus's own JSON protocol, as circusctl speaks it),
and writes one JSON array of the replies, in the same order, per line on
stdout; a command with no reply within the timeout gets null. One
long-lived process, so a status poll costs a round trip, not a Python
start-up.
"""

import json
import sys
import time
import uuid

import zmq

TIMEOUT = 10.0


def main():
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
    s.setsockopt(zmq.LINGER, 0)
    s.connect(sys.argv[1])
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    for line in sys.stdin:
        cmds = json.loads(line)
        ids = []
        for c in cmds:
            c["id"] = uuid.uuid4().hex
            ids.append(c["id"])
            s.send(json.dumps(c).encode())
        got = {}
        deadline = time.time() + TIMEOUT
        while len(got) < len(ids):
            left = deadline - time.time()
            if left <= 0 or not poller.poll(left * 1000):
                break
            for frame in s.recv_multipart():
                try:
                    r = json.loads(frame)
                except ValueError:
                    continue
                if isinstance(r, dict) and r.get("id") in ids:
                    got[r["id"]] = r
        sys.stdout.write(json.dumps([got.get(i) for i in ids]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
