"""bench/report.py: the statistics and the table of `make bench`.

  report.py stats               numbers on stdin, one a line -> n,median,min,max
  report.py hyperfine FILE      hyperfine's JSON -> n,median,min,max (us)
  report.py wrk FILE            wrk --latency output -> rps p50_us p99_us
                                requests non2xx errors
  report.py table RAW CSV       the table from the raw figures; writes CSV

RAW lines (written by bench/run.sh, every number from this run):
  kind,name,metric,unit,n,median,min,max     (or ...,na for "not built")
Nothing here holds a measured figure; the targets are the issue's.
"""
import csv
import json
import re
import statistics
import sys

# The targets for this machine.
CP_OVERHEAD_MAX_MS = 2.0
CP_RSS_MAX_MIB = 8.0
SERVE_RPS_MIN = 20000
SERVE_P99_MAX_MS = 2.0
CACHE_HIT_MAX_MS = 2.0

BACKENDS = [
    ("file-rsa2048", "file RSA-2048"),
    ("file-p256", "file P-256"),
    ("p11-rsa2048", "SoftHSM RSA-2048"),
    ("p11-p256", "SoftHSM P-256"),
    ("tpm-rsa2048", "swtpm RSA-2048"),
    ("tpm-p256", "swtpm P-256"),
]
OK, NO = "\u2713", "\u2717"


def summary(xs):
    xs = sorted(xs)
    return len(xs), statistics.median(xs), xs[0], xs[-1]


def cmd_stats():
    xs = [float(l) for l in sys.stdin if l.strip()]
    if not xs:
        sys.exit("report.py stats: no numbers")
    print("%d,%.1f,%.1f,%.1f" % summary(xs))


def cmd_hyperfine(path):
    r = json.load(open(path))["results"][0]
    if any(c != 0 for c in r.get("exit_codes") or []):
        sys.exit("report.py: a run failed: %s" % r["command"][:80])
    print("%d,%.1f,%.1f,%.1f" % summary([t * 1e6 for t in r["times"]]))


UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def to_us(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        raise ValueError("latency %r" % v)
    return float(m.group(1)) * UNIT_US[m.group(2)]


def cmd_wrk(path):
    text = open(path).read()
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    req = re.search(r"^\s+(\d+) requests in", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                     r"timeout (\d+)", text)
    if not (rps and req and "50" in lat and "99" in lat):
        sys.exit("report.py: cannot read wrk output:\n" + text)
    print(rps.group(1), "%.1f" % to_us(lat["50"]), "%.1f" % to_us(lat["99"]),
          req.group(1), non2xx.group(1) if non2xx else 0,
          sum(int(x) for x in errs.groups()) if errs else 0)


class Raw:
    def __init__(self, path):
        self.d = {}
        for row in csv.reader(open(path)):
            if not row or row[0].startswith("#"):
                continue
            key = tuple(row[:3])
            if len(row) >= 5 and row[4] == "na":
                self.d[key] = None
            else:
                self.d[key] = (row[3], int(row[4]), float(row[5]),
                               float(row[6]), float(row[7]))

    def get(self, kind, name, metric):
        return self.d.get((kind, name, metric))

    def has(self, kind, name, metric):
        return (kind, name, metric) in self.d

    def med(self, kind, name, metric):
        v = self.get(kind, name, metric)
        return v[2] if v else None


def ms(us):
    return None if us is None else us / 1e3


def mib(kib):
    return None if kib is None else kib / 1024


def fmt(v, nd=2):
    if v is None:
        return "-"
    if abs(v) >= 10000:
        return "{:,.0f}".format(v)
    return "%.*f" % (nd, v)


def check(ok):
    return OK if ok else NO


def cmd_table(raw_path, csv_path):
    raw = Raw(raw_path)
    rows = []  # (section, bench, metric, unit, stat, floor, helper, over, target, met)

    def add(section, bench, metric, unit, stat, conv=None, floor=None,
            helper=None, over=None, target="", met=""):
        conv = conv or (lambda x: x)
        n = md = lo = hi = None
        if stat:
            n, md, lo, hi = stat[1], conv(stat[2]), conv(stat[3]), conv(stat[4])
        rows.append(dict(section=section, bench=bench, metric=metric,
                         unit=unit, n=n, median=md, min=lo, max=hi,
                         floor=floor, helper=helper, overhead=over,
                         target=target, met=met, na=stat is None))

    # The floor pieces themselves.
    pieces = sorted({k[1] for k in raw.d if k[0] == "floor"},
                    key=lambda p: (p != "proc.start", p != "https.post", p))
    for p in pieces:
        add("floor", p, "wall", "ms", raw.get("floor", p, "wall"), ms)

    def floor_sum(b, https):
        prefix = b.split("-")[0]
        parts = ["proc.start", b + ".open", b + ".sign"]
        if prefix in ("p11", "tpm"):
            parts.append(prefix + ".init")
        if https:
            parts.append("https.post")
        vals = [raw.med("floor", p, "wall") for p in parts]
        return None if None in vals else sum(vals)

    for kind, label, https in (("cp", "credential-process", True),
                               ("ss", "sign-string", False)):
        for b, name in BACKENDS:
            wall = raw.get(kind, b, "wall")
            if wall is None and not raw.has(kind, b, "wall"):
                continue
            fl = floor_sum(b, https)
            hp = raw.med("helper-" + kind, b, "wall")
            over = None if wall is None or fl is None else wall[2] - fl
            target = met = ""
            if kind == "cp" and over is not None:
                met = check(ms(over) <= CP_OVERHEAD_MAX_MS)
                target = "overhead %.2f ms \u2264 %g ms %s" % (
                    ms(over), CP_OVERHEAD_MAX_MS, met)
            add(label, name, "wall", "ms", wall, ms, ms(fl), ms(hp), ms(over),
                target, met)
            rss = raw.get(kind, b, "rss")
            hr = raw.med("helper-" + kind, b, "rss")
            target = met = ""
            if kind == "cp" and rss is not None:
                met = check(mib(rss[2]) <= CP_RSS_MAX_MIB)
                target = "peak RSS %.1f MiB \u2264 %g MiB %s" % (
                    mib(rss[2]), CP_RSS_MAX_MIB, met)
            add(label, name, "peak RSS", "MiB", rss, mib, None, mib(hr),
                None if rss is None or hr is None else mib(rss[2] - hr),
                target, met)

    # serve
    if raw.has("serve", "load", "rps"):
        rps = raw.get("serve", "load", "rps")
        met = check(rps[2] >= SERVE_RPS_MIN)
        add("serve", "GET credentials, wrk -t2 -c32", "req/s", "req/s", rps,
            target="%s req/s \u2265 %s %s" % (fmt(rps[2], 0),
                                          "{:,}".format(SERVE_RPS_MIN), met),
            met=met)
        add("serve", "  latency p50", "p50", "ms",
            raw.get("serve", "load", "p50"), ms)
        p99 = raw.get("serve", "load", "p99")
        met = check(ms(p99[2]) < SERVE_P99_MAX_MS)
        add("serve", "  latency p99", "p99", "ms", p99, ms,
            target="p99 %.2f ms < %g ms %s" % (ms(p99[2]), SERVE_P99_MAX_MS,
                                                met), met=met)
        add("serve", "  non-2xx + socket errors", "errors", "count",
            raw.get("serve", "load", "errors"))
        add("serve", "  requests served in total", "requests", "count",
            raw.get("serve", "total", "requests"))
        add("serve", "  RSS at start (VmRSS)", "VmRSS", "MiB",
            raw.get("serve", "start", "VmRSS"), mib)
        add("serve", "  RSS after the requests (VmRSS)", "VmRSS", "MiB",
            raw.get("serve", "after", "VmRSS"), mib)
        add("serve", "  peak RSS after them (VmHWM)", "VmHWM", "MiB",
            raw.get("serve", "after", "VmHWM"), mib)

    # update
    if raw.has("update", "p500", "wall"):
        up = raw.get("update", "p500", "wall")
        fl = raw.med("cp", "file-p256", "wall")
        add("update", "--once, 1,000 profiles (file P-256)", "wall", "ms", up,
            ms, ms(fl), None, None if up is None or fl is None else
            ms(up[2] - fl), "floor: credential-process file P-256")
        add("update", "--once, 1,000 profiles (file P-256)", "peak RSS", "MiB",
            raw.get("update", "p500", "rss"), mib)

    # cache
    if raw.has("cache", "hit", "wall"):
        hit = raw.get("cache", "hit", "wall")
        fl = raw.med("floor", "proc.start", "wall")
        target = met = ""
        if hit is not None:
            met = check(ms(hit[2]) < CACHE_HIT_MAX_MS)
            target = "hit %.2f ms < %g ms %s" % (ms(hit[2]), CACHE_HIT_MAX_MS,
                                                 met)
        add("credential-process --cache", "hit (file P-256)", "wall", "ms",
            hit, ms, ms(fl), None,
            None if hit is None else ms(hit[2] - fl), target, met)
        add("credential-process --cache", "  requests during the hits",
            "requests", "count", raw.get("cache", "hit", "requests"))
        add("credential-process --cache", "20 concurrent, cold cache", "wall",
            "ms", raw.get("cache", "cold20", "wall"), ms)
        req = raw.get("cache", "cold20", "requests")
        target = met = ""
        if req is not None:
            met = check(req[3] == 1 and req[4] == 1)
            target = "requests per batch %g..%g == 1 %s" % (req[3], req[4],
                                                           met)
        add("credential-process --cache", "  endpoint requests per batch",
            "requests", "count", req, target=target, met=met)

    print_table(rows)
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "benchmark", "metric", "unit", "n", "median",
                    "min", "max", "floor_median", "min_helper_median",
                    "overhead_median", "target", "met"])
        for r in rows:
            def c(v):
                return "" if v is None else ("%.4f" % v).rstrip("0").rstrip(".")
            w.writerow([r["section"], r["bench"].strip(), r["metric"],
                        r["unit"], "" if r["n"] is None else r["n"],
                        "n/a (not built)" if r["na"] else c(r["median"]),
                        c(r["min"]), c(r["max"]), c(r["floor"]),
                        c(r["helper"]), c(r["overhead"]), r["target"],
                        {OK: "yes", NO: "no"}.get(r["met"], "")])
    failed = sum(1 for r in rows if r["met"] == NO)
    met = sum(1 for r in rows if r["met"] == OK)
    print("\ntargets: %d met, %d missed" % (met, failed))


def print_table(rows):
    head = ["benchmark", "unit", "median", "min", "max", "floor", "helper",
            "+rasign", "target"]
    section = None
    out = []
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            out.append(None)
            out.append([section])
        nd = 0 if r["unit"] in ("req/s", "count") else (
            1 if r["unit"] == "MiB" else 2)
        if r["na"]:
            cells = ["n/a (not built)", "", "", "", "", ""]
        else:
            cells = [fmt(r["median"], nd), fmt(r["min"], nd),
                     fmt(r["max"], nd), fmt(r["floor"], nd),
                     fmt(r["helper"], nd),
                     "" if r["overhead"] is None else
                     ("%+.*f" % (nd, r["overhead"]))]
            cells = [c if c != "-" else "" for c in cells]
        label = r["bench"] if r["metric"] in ("wall", "req/s", "p50", "p99",
                                              "errors", "requests", "VmRSS",
                                              "VmHWM") else "  " + r["metric"]
        out.append([label, r["unit"]] + cells + [r["target"]])
    widths = [max(len(x[i]) for x in out + [head] if x and len(x) > i and
                  len(x) > 1) for i in range(len(head))]
    line = lambda cols: "  ".join(
        (c.ljust(widths[i]) if i in (0, 1, 8) else c.rjust(widths[i]))
        for i, c in enumerate(cols)).rstrip()
    print(line(head))
    for x in out:
        if x is None:
            print()
        elif len(x) == 1:
            print("## " + x[0])
        else:
            print(line(x))
    print("\nfloor: sum of the medians of a fresh trivial process and the "
          "pieces above\n(start-up, open, sign[, https]); helper: a minimal "
          "C helper (bench/floor --once)\ndoing the same pieces as one fresh "
          "process; +rasign: rasign's median - floor\n(RSS: - helper).")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "stats":
        cmd_stats()
    elif len(sys.argv) == 3 and sys.argv[1] == "hyperfine":
        cmd_hyperfine(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "wrk":
        cmd_wrk(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "table":
        cmd_table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
