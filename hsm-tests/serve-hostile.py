"""Hostile clients of `rasign serve`, and the valid client they must not stop
(issue 10). Used by hsm-tests/test-serve-hostile.sh; Python 3 stdlib only.

Every attack targets 127.0.0.1 only, is bounded in connections and in time,
and stops by itself.

  attack PORT --slow N --idle M --seconds S [--no-reconnect]
      N connections that send a partial request header and then one byte
      every 10 s, M that send nothing; each one that serve closes is opened
      again (unless --no-reconnect) until S seconds have passed. Prints one
      line of counts at the end.
  client PORT ROLE --tries N [--timeout T] [--ttl TTL] [--max-failures F]
      N times: PUT a token, then GET the role's credentials, each on a new
      connection. Prints a JSON object: ok, failures, the latencies of the
      pairs (min/median/max, ms) and the first errors. Stops early after F
      failures (so that a starved serve does not take N * T seconds).
  flood PORT --workers W --seconds S
      W processes PUT tokens with the maximum TTL as fast as they can for S
      seconds. Prints how many tokens they got.
  proc PID
      Prints "rss_kb fds" of a process, from /proc.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import selectors
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"
TOKEN_PATH = "/latest/api/token"
CREDS_PATH = "/latest/meta-data/iam/security-credentials/"
TTL_H = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_H = "X-aws-ec2-metadata-token"
PARTIAL = b"GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: x\r\nX-Slow: "


def attack(port, slow, idle, seconds, reconnect):
    end = time.monotonic() + seconds
    sel = selectors.DefaultSelector()
    # Per socket: [kind, state, next trickle time]
    conns = {}
    stats = {"opened": 0, "closed_by_serve": 0, "connect_errors": 0}

    def open_one(kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((HOST, port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            stats["connect_errors"] += 1
            return False
        conns[s] = [kind, "connecting", 0.0]
        sel.register(s, selectors.EVENT_WRITE)
        stats["opened"] += 1
        return True

    def drop(s):
        sel.unregister(s)
        del conns[s]
        s.close()

    want = {"slow": slow, "idle": idle}
    have = {"slow": 0, "idle": 0}
    while time.monotonic() < end:
        # Open what is missing, a few hundred per round (no busy loop).
        for kind in ("slow", "idle"):
            n = 0
            while have[kind] < want[kind] and n < 500:
                if not open_one(kind):
                    break
                have[kind] += 1
                n += 1
        now = time.monotonic()
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            kind, state, _ = conns[s]
            if state == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    stats["connect_errors"] += 1
                    drop(s)
                    have[kind] -= 1 if reconnect else 0
                    continue
                if kind == "slow":
                    try:
                        s.send(PARTIAL)
                    except OSError:
                        pass
                conns[s] = [kind, "open", now + 10]
                sel.modify(s, selectors.EVENT_READ)
                continue
            # Readable: serve answered or closed; either way it is gone.
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                stats["closed_by_serve"] += 1
                drop(s)
                if reconnect:
                    have[kind] -= 1
        for s, (kind, state, t) in list(conns.items()):
            if kind == "slow" and state == "open" and t <= now:
                try:
                    s.send(b"x")
                except OSError:
                    pass
                conns[s][2] = now + 10
    for s in list(conns):
        drop(s)
    print(" ".join("%s=%d" % kv for kv in sorted(stats.items())))
    return 0


def request(port, method, path, headers, timeout):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def client(port, role, tries, timeout, ttl, max_failures):
    lat, errors = [], []
    for i in range(tries):
        t0 = time.monotonic()
        try:
            st, tok = request(port, "PUT", TOKEN_PATH, {TTL_H: str(ttl)}, timeout)
            if st != 200:
                raise ValueError("PUT answered %d: %r" % (st, tok[:80]))
            st, body = request(port, "GET", CREDS_PATH + role,
                               {TOKEN_H: tok.decode()}, timeout)
            if st != 200 or b'"AccessKeyId"' not in body:
                raise ValueError("GET answered %d: %r" % (st, body[:80]))
            lat.append((time.monotonic() - t0) * 1000)
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append("try %d after %.0f ms: %s" % (
                i + 1, (time.monotonic() - t0) * 1000, e))
            if len(errors) >= max_failures:
                break
    out = {"tries": len(lat) + len(errors), "ok": len(lat),
           "failures": len(errors), "errors": errors[:5]}
    if lat:
        out.update(min_ms=round(min(lat), 1),
                   median_ms=round(statistics.median(lat), 1),
                   max_ms=round(max(lat), 1))
    print(json.dumps(out))
    return 0 if not errors else 1


def flood_worker(port, seconds, q):
    end = time.monotonic() + seconds
    req = ("PUT %s HTTP/1.1\r\nHost: x\r\n%s: 21600\r\nContent-Length: 0\r\n"
           "\r\n" % (TOKEN_PATH, TTL_H)).encode()
    n = 0
    s = None
    while time.monotonic() < end:
        try:
            if s is None:
                s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(req)
            data = s.recv(8192)
            if b" 200 " in data[:16]:
                n += 1
            # Serve closes after each answer; keep-alive servers need not.
            if not data or b"onnection: close" in data:
                s.close()
                s = None
        except OSError:
            if s is not None:
                s.close()
            s = None
    if s is not None:
        s.close()
    q.put(n)


def flood(port, workers, seconds):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=flood_worker, args=(port, seconds, q))
          for _ in range(workers)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    print("tokens=%d" % total)
    return 0


def proc(pid):
    rss = 0
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    print(rss, len(os.listdir("/proc/%s/fd" % pid)))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("attack")
    a.add_argument("port", type=int)
    a.add_argument("--slow", type=int, default=0)
    a.add_argument("--idle", type=int, default=0)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--no-reconnect", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("port", type=int)
    c.add_argument("role")
    c.add_argument("--tries", type=int, default=50)
    c.add_argument("--timeout", type=float, default=5)
    c.add_argument("--ttl", type=int, default=600)
    c.add_argument("--max-failures", type=int, default=3)
    f = sub.add_parser("flood")
    f.add_argument("port", type=int)
    f.add_argument("--workers", type=int, default=4)
    f.add_argument("--seconds", type=float, required=True)
    p = sub.add_parser("proc")
    p.add_argument("pid")
    o = ap.parse_args()
    # Bounded whatever the caller asks: loopback only, at most a minute.
    if getattr(o, "seconds", 0) > 60:
        ap.error("--seconds is at most 60")
    if o.cmd == "attack":
        return attack(o.port, o.slow, o.idle, o.seconds, not o.no_reconnect)
    if o.cmd == "client":
        return client(o.port, o.role, o.tries, o.timeout, o.ttl, o.max_failures)
    if o.cmd == "flood":
        return flood(o.port, o.workers, o.seconds)
    return proc(o.pid)


if __name__ == "__main__":
    sys.exit(main())
