#!/usr/bin/env python3
"""bench/compare_table.py - the markdown tables of bench/compare.sh.

Usage: compare_table.py RESULTS START LOAD_BEFORE LOAD_AFTER CACHE SMALL_CACHE

RESULTS holds "TARGET JOB VALUE" lines (VALUE a number, or "fail"; jobs
named rss:JOB carry the daemon's VmHWM in KiB). Prints the comparison table
with foliofs's ratios and the benchmark goals, then the peak RSS table.
"""
import os
import sys

TARGETS = ['foliofs-daemon', 'foliofs-kernel', 'fuse2fs', 'fuse2fs-dio', 'ext4', 'ceiling',
           'raw']
HEAD = {'foliofs-daemon': 'foliofs daemon', 'foliofs-kernel': 'foliofs kernel',
        'fuse2fs': 'fuse2fs', 'fuse2fs-dio': 'fuse2fs dio', 'ext4': 'ext4 loop',
        'ceiling': 'FUSE ceiling', 'raw': 'raw device'}
JOBS = [('seqwrite', 'seq write 1M, end_fsync', 'MB/s'),
        ('seqread-cold', 'seq read 1M, cold', 'MB/s'),
        ('seqread-warm', 'seq read 1M, warm', 'MB/s'),
        ('randread-cold', 'rand read 4K, cold', 'IOPS'),
        ('randread-warm', 'rand read 4K, warm', 'IOPS'),
        ('randwrite', 'rand write 4K, end_fsync', 'IOPS'),
        ('randrw', 'randrw 70/30 4K, 2 jobs', 'IOPS'),
        ('mmap', 'mmap randrw 70/30 4K', 'IOPS'),
        ('randwrite-fsync', 'rand write 4K, fsync=1', 'IOPS'),
        ('compress4x', 'rand read 4K, 4x cache, 2:1 data', 'IOPS')]
# The benchmark goals: (job, foliofs target, reference, minimum ratio).
GOALS = [('randread-warm', 'foliofs-daemon', 'ceiling', 0.9),
         ('randwrite', 'foliofs-daemon', 'ceiling', 0.8),
         ('randwrite', 'foliofs-daemon', 'fuse2fs', 2.5),
         ('seqwrite', 'foliofs-daemon', 'raw', 0.8),
         ('seqwrite', 'foliofs-daemon', 'fuse2fs', 4.0),
         ('seqread-cold', 'foliofs-daemon', 'fuse2fs', 1.5),
         ('seqread-warm', 'foliofs-kernel', 'ext4', 0.9),
         ('randread-warm', 'foliofs-kernel', 'ext4', 0.9),
         ('mmap', 'foliofs-kernel', 'fuse2fs', 1.0),
         ('randwrite-fsync', 'foliofs-daemon', 'fuse2fs', 1.0)]


def load(path):
    res = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 3:
                res[(p[0], p[1])] = p[2]
    return res


def num(res, t, j):
    try:
        return float(res.get((t, j), ''))
    except ValueError:
        return None


def cell(res, t, j):
    v = res.get((t, j))
    if v is None:
        return ''
    try:
        x = float(v)
    except ValueError:
        return v
    return '%.0f' % x if x >= 100 else '%.1f' % x


def ratio(res, j, a, b):
    x, y = num(res, a, j), num(res, b, j)
    return None if x is None or not y else x / y


def fmt_ratio(r):
    return '' if r is None else '%.2f' % r


def goals_for(res, j):
    out = []
    for gj, a, b, need in GOALS:
        if gj != j:
            continue
        r = ratio(res, j, a, b)
        who = 'kernel' if a == 'foliofs-kernel' else 'daemon'
        state = 'n/a' if r is None else ('**met**' if r >= need else '**missed**')
        out.append('%s/%s %s >= %g: %s' % (who, HEAD[b], fmt_ratio(r) or '-', need, state))
    return '; '.join(out)


def main():
    res = load(sys.argv[1])
    start, load0, load1, cache, small = sys.argv[2:7]
    targets = [t for t in TARGETS if any(k[0] == t for k in res)]
    print('fio comparison, %s, %s; %s before, %s after' % (start, os.uname().release, load0,
                                                           load1))
    print('(foliofs cache_size=%s, %s for the 4x-cache job; BENCH_SIZE=%s BENCH_RAND_SIZE=%s '
          'BENCH_RUNTIME=%s)' % (cache, small, os.environ.get('BENCH_SIZE', '?'),
                                 os.environ.get('BENCH_RAND_SIZE', '?'),
                                 os.environ.get('BENCH_RUNTIME', '?')))
    for t in targets:
        if res.get((t, 'mounted')) == 'no':
            print('\n%s: could not be mounted (skipped).' % t)
        if res.get((t, 'fallback')) == 'yes':
            print('\n%s: the kernel did not offer FUSE_DIRECT_IO_ALLOW_MMAP; ran as '
                  'cache=kernel.' % t)
    print()
    cols = ['job', 'unit'] + [HEAD[t] for t in targets] + [
        'daemon/fuse2fs', 'daemon/ext4', 'daemon/ceiling', 'kernel/ext4', 'goals']
    print('| ' + ' | '.join(cols) + ' |')
    print('|' + '|'.join(['---', '---'] + ['---:'] * (len(cols) - 3) + ['---']) + '|')
    for j, name, unit in JOBS:
        if not any(k[1] == j for k in res):
            continue
        row = [name, unit] + [cell(res, t, j) for t in targets]
        row += [fmt_ratio(ratio(res, j, 'foliofs-daemon', b)) for b in ('fuse2fs', 'ext4',
                                                                       'ceiling')]
        row += [fmt_ratio(ratio(res, j, 'foliofs-kernel', 'ext4')), goals_for(res, j)]
        print('| ' + ' | '.join(row) + ' |')
    rss = [t for t in ('foliofs-daemon', 'foliofs-kernel') if any(
        k[0] == t and k[1].startswith('rss:') for k in res)]
    if not rss:
        return
    print('\nPeak RSS of the daemon (VmHWM, MiB) during each job; cache_size=%s '
          '(%s for the 4x-cache job)\n' % (cache, small))
    print('| job | ' + ' | '.join(HEAD[t] for t in rss) + ' |')
    print('|---|' + '---:|' * len(rss))
    for j, name, unit in JOBS:
        vals = [num(res, t, 'rss:' + j) for t in rss]
        if all(v is None for v in vals):
            continue
        print('| %s | %s |' % (name, ' | '.join('' if v is None else '%.0f' % (v / 1024)
                                                for v in vals)))


if __name__ == '__main__':
    main()
