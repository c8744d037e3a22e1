#!/usr/bin/env python3
"""bench/metadata.py - create, stat and unlink N files in one directory.

Usage: metadata.py DIR N CHECKPOINTS [BUDGET]
       (CHECKPOINTS: "1000,10000,100000"; BUDGET: seconds after which the
       stat and unlink passes stop, each reporting how far it got as
       stat_done / unlink_done)

Prints one JSON object:
  create_s, stat_s, unlink_s      total seconds for the N creates (empty
                                  files: open O_CREAT|O_EXCL + close), N stats
                                  in a random order, N unlinks in a random order
  create_us[cp]   microseconds per create over the 1,000 creates that take
                  the directory from cp - 1000 to cp entries
  lookup_us[cp]   microseconds per stat of 1,000 random names with cp
                  entries in the directory, right after the kernel's dentry
                  and inode caches were dropped (each stat is one LOOKUP)
  unlink_us[cp]   microseconds per unlink over the 1,000 unlinks that take
                  the directory from cp to cp - 1000 entries
Dropping the dentry cache writes 2 to /proc/sys/vm/drop_caches (root).
"""
import json
import os
import random
import sys
import time

BATCH = 1000


def drop_dentries():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('2\n')


def lookup_us(d, names, cp, rng):
    drop_dentries()
    sample = rng.sample(names[:cp], min(BATCH, cp))
    t = time.perf_counter()
    for n in sample:
        os.stat(os.path.join(d, n))
    return (time.perf_counter() - t) / len(sample) * 1e6


def create_all(d, names, cps, rng, out):
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
    done = {0: 0.0}  # creates -> seconds spent creating so far
    t0 = time.perf_counter()
    for i, n in enumerate(names, 1):
        os.close(os.open(os.path.join(d, n), flags, 0o644))
        if i % BATCH == 0:
            done[i] = done[i - BATCH] + time.perf_counter() - t0
            if i in cps:
                out['create_us'][i] = (done[i] - done[i - BATCH]) / BATCH * 1e6
                out['lookup_us'][i] = lookup_us(d, names, i, rng)
            t0 = time.perf_counter()
    out['create_s'] = done[len(names) - len(names) % BATCH] + time.perf_counter() - t0


def stat_all(d, names, rng, out, budget):
    order = names[:]
    rng.shuffle(order)
    drop_dentries()
    t = time.perf_counter()
    for i, n in enumerate(order, 1):
        os.stat(os.path.join(d, n))
        if i % BATCH == 0 and time.perf_counter() - t > budget:
            out['stat_done'] = i
            break
    out['stat_s'] = time.perf_counter() - t


def unlink_all(d, names, cps, rng, out, budget):
    order = names[:]
    rng.shuffle(order)
    left = len(order)
    t0 = tb = time.perf_counter()
    for n in order:
        os.unlink(os.path.join(d, n))
        left -= 1
        if left % BATCH == 0 and time.perf_counter() - t0 > budget:
            out['unlink_done'] = len(order) - left
            break
        if (left + BATCH) in cps:
            now = time.perf_counter()
            out['unlink_us'][left + BATCH] = (now - tb) / BATCH * 1e6
        if left in cps:
            tb = time.perf_counter()
    out['unlink_s'] = time.perf_counter() - t0


def main():
    d, n = sys.argv[1], int(sys.argv[2])
    cps = {int(c) for c in sys.argv[3].split(',') if int(c) <= n and int(c) >= BATCH}
    rng = random.Random(1)
    names = ['f%07d' % i for i in range(n)]
    os.makedirs(d, exist_ok=True)
    out = {'n': n, 'create_us': {}, 'lookup_us': {}, 'unlink_us': {}}
    create_all(d, names, cps, rng, out)
    budget = float(sys.argv[4]) if len(sys.argv) > 4 else float('inf')
    stat_all(d, names, rng, out, budget)
    unlink_all(d, names, cps, rng, out, budget)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
