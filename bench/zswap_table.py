"""bench/zswap_table.py RESULTS START LOAD0 LOAD1 CACHE POOL RUNTIME WARM ROUNDS CMD -
bench/zswap.sh's report: one markdown page with the machine, the command,
every run and the ratios (median and spread over the rounds) against the
goals.

RESULTS lines: "group target round key value" (key: iops:JOB, mbs:JOB, or a
daemon counter's growth during the measured run: pgpgin in KiB, zswpin, ...;
Zswap/Zswapped in kB and stored_pages at its end).
"""

import os
import platform
import statistics
import sys
from collections import defaultdict

res, start, load0, load1, cache, pool, runtime, warm, rounds, cmd = sys.argv[1:11]
data = defaultdict(dict)  # (group, target, round) -> key -> value
for line in open(res):
    g, t, r, k, v = line.split()
    data[(g, t, int(r))][k] = float(v)


def val(g, t, r, k):
    return data.get((g, t, r), {}).get(k)


def rounds_of(g):
    return sorted({r for (gg, _, r) in data if gg == g})


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return "?"


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, "n/a"
    m = statistics.median(xs)
    return m, "%.2f (%.2f - %.2f, %d run%s)" % (m, min(xs), max(xs), len(xs),
                                                 "s" if len(xs) > 1 else "")


def ratio(a, b):
    return a / b if a is not None and b else None


def goal(m, op, want):
    if m is None:
        return "n/a"
    return "met" if (m <= want if op == "<=" else m >= want) else "MISSED"


print("## Compressed tier (bench/zswap.sh), %s" % start)
print()
print("Command (release build, from the build directory): `%s`." % cmd)
print()
print("Machine: %s, %d CPUs, %s RAM; kernel %s. Load before: %s, after: %s." % (
    cpu_model(), os.cpu_count(), mem_total(), platform.release(), load0, load1))
print("cache_size=%s, zswap_max_pool_percent=%s, cache=daemon, psync 4 KiB reads, %s s "
      "measured after %s s of warm-up, %s round(s), the targets in a rotating order." % (
          cache, pool, runtime, warm, rounds))
print()

for g, pct in (("compress", "2:1"), ("incompress", "incompressible")):
    rs = rounds_of(g)
    if not rs:
        continue
    targets = [t for t in ("on", "off", "big") if any((g, t, r) in data for r in rs)]
    print("### Random 4 KiB reads over 1.25 x cache_size, %s data" % pct)
    print()
    print("| round | target | IOPS | pgpgin (MiB) | zswpin | zswpout | Zswap (MiB) | "
          "Zswapped (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rs:
        for t in targets:
            d = data.get((g, t, r))
            if not d:
                continue
            print("| %d | %s | %.0f | %.1f | %.0f | %.0f | %.1f | %.1f |" % (
                r, t, d.get("iops:read", 0), d.get("pgpgin", 0) / 1024, d.get("zswpin", 0),
                d.get("zswpout", 0), d.get("Zswap", 0) / 1024, d.get("Zswapped", 0) / 1024))
    print()
    rows = []
    if g == "compress":
        m, s = spread([ratio(val(g, "on", r, "pgpgin"), val(g, "off", r, "pgpgin")) for r in rs])
        rows.append(("pgpgin on / off", s, "<= 0.10", goal(m, "<=", 0.10)))
        m, s = spread([ratio(val(g, "on", r, "iops:read"), val(g, "off", r, "iops:read"))
                       for r in rs])
        rows.append(("IOPS on / off", s, ">= 1.2", goal(m, ">=", 1.2)))
        m, s = spread([ratio(val(g, "on", r, "iops:read"), val(g, "big", r, "iops:read"))
                       for r in rs])
        rows.append(("IOPS on / big (whole file cached)", s, ">= 0.85", goal(m, ">=", 0.85)))
    else:
        m, s = spread([ratio(val(g, "on", r, "iops:read"), val(g, "off", r, "iops:read"))
                       for r in rs])
        rows.append(("IOPS on / off", s, ">= 0.97", goal(m, ">=", 0.97)))
    print("| ratio | median (min - max) | goal | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| %s | %s | %s | %s |" % row)
    print()

rs = rounds_of("admission")
if rs:
    print("### Admission: a hot random set while a sequential scan passes")
    print()
    print("Hot: random 4 KiB reads over a file of cache_size; scan: 128 KiB sequential reads "
          "passing once through a region of a large file at a fixed rate (a region no run "
          "read before); both 2:1 data, run together.")
    print()
    print("| round | admission | hot IOPS | scan MB/s | pgpgin (MiB) | zswpin | zswpout | "
          "reject_admission | Zswapped (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rs:
        for t in ("all", "ws"):
            d = data.get(("admission", t, r))
            if not d:
                continue
            print("| %d | %s | %.0f | %.1f | %.1f | %.0f | %.0f | %.0f | %.1f |" % (
                r, "all" if t == "all" else "workingset", d.get("iops:hot", 0),
                d.get("mbs:scan", 0), d.get("pgpgin", 0) / 1024, d.get("zswpin", 0),
                d.get("zswpout", 0), d.get("reject_admission", 0),
                d.get("Zswapped", 0) / 1024))
    print()
    print("| ratio workingset / all | median (min - max) |")
    print("|---|---|")
    for k, name in (("iops:hot", "hot IOPS"), ("mbs:scan", "scan MB/s"),
                    ("pgpgin", "pgpgin"), ("zswpin", "zswpin")):
        _, s = spread([ratio(val("admission", "ws", r, k), val("admission", "all", r, k))
                       for r in rs])
        print("| %s | %s |" % (name, s))
    print()

rs = rounds_of("metadata")
if rs:
    print("### Metadata in the tier: create, stat and unlink of empty files")
    print()
    print("bench/metadata.py through a small cache: with empty files every cached page is "
          "metadata (directory and inode-table blocks), so the tier on against off is "
          "metadata in the tier against metadata kept out of it.")
    print()
    print("| round | tier | create (s) | stat (s) | unlink (s) | pgpgin (MiB) | zswpin | "
          "zswpout | Zswap (MiB) | Zswapped (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rs:
        for t in ("meta-on", "meta-off"):
            d = data.get(("metadata", t, r))
            if not d:
                continue
            print("| %d | %s | %.2f | %.2f | %.2f | %.1f | %.0f | %.0f | %.1f | %.1f |" % (
                r, "on" if t == "meta-on" else "off", d.get("create_s", 0),
                d.get("stat_s", 0), d.get("unlink_s", 0), d.get("pgpgin", 0) / 1024,
                d.get("zswpin", 0), d.get("zswpout", 0), d.get("Zswap", 0) / 1024,
                d.get("Zswapped", 0) / 1024))
    print()
    print("| ratio on / off | median (min - max) |")
    print("|---|---|")
    for k, name in (("create_s", "create time"), ("stat_s", "stat time"),
                    ("unlink_s", "unlink time"), ("pgpgin", "pgpgin")):
        _, s = spread([ratio(val("metadata", "meta-on", r, k), val("metadata", "meta-off", r, k))
                       for r in rs])
        print("| %s | %s |" % (name, s))
    print()
