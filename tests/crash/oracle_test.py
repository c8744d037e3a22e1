"""tests/crash/oracle_test.py - the crash checkers on made-up cases, without a
mount: each must accept what the guarantees allow and flag what they do not
(a lost fsynced byte or name, a byte no version had, a lost xattr, a stray
name), so a checker that passes everything cannot go unnoticed.

  oracle_test.py        TAP lines (tests/lib/tap.py), run by oracle.sh
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ace  # noqa: E402
import fsx_crash  # noqa: E402
from tap import ok, is_, done  # noqa: E402

# ---- the ACE oracle ----------------------------------------------------------

A0, A1 = b"a" * 100, b"a" * 10 + b"b" * 30 + b"a" * 60
C0 = b"c" * 50


def obs0():
    paths = {p: None for p in [""] + ace.UNIVERSE}
    paths.update({"": ("d", 1), "A": ("f", 10), "D": ("d", 11), "D/C": ("f", 12)})
    inodes = {1: ("d", None, None), 10: ("f", A0, b"v1"), 11: ("d", None, None),
              12: ("f", C0, None)}
    return {"paths": paths, "inodes": inodes, "extra": {"lost+found"}}


def after(o, paths=None, inodes=None, drop=()):
    n = {"paths": dict(o["paths"]), "inodes": dict(o["inodes"]), "extra": set(o["extra"])}
    n["paths"].update(paths or {})
    n["inodes"].update(inodes or {})
    for i in drop:
        del n["inodes"][i]
    return n


def step(op, persist):
    return (ace.OPS.index(op), persist)


def verdict(obs, seq, labels, crash):
    probs, lost = ace.oracle(obs, seq, labels, crash)
    return probs, lost


def test_write():
    o0 = obs0()
    o1 = after(o0, inodes={10: ("f", A1, b"v1")})
    seq = [step(("write", "A", 2048, 4096), "fsync")]
    obs = [o0, o1]
    synced = ["ace op 1", "ace sync 1"]
    p, lost = verdict(obs, seq, synced, o0)
    ok(p and lost == 30, "write+fsync: the old bytes after the sync are lost bytes", p, lost)
    p, lost = verdict(obs, seq, synced, o1)
    is_(p, [], "write+fsync: the new bytes pass")
    p, _ = verdict(obs, seq, ["ace op 1"], o0)
    is_(p, [], "write, no sync yet: the old bytes pass")
    mix = after(o0, inodes={10: ("f", b"a" * 10 + b"b" * 5 + b"a" * 85, b"v1")})
    p, _ = verdict(obs, seq, ["ace op 1"], mix)
    is_(p, [], "write, no sync yet: some new, some old bytes pass")
    junk = after(o0, inodes={10: ("f", b"a" * 10 + b"Z" + b"a" * 89, b"v1")})
    p, lost = verdict(obs, seq, ["ace op 1"], junk)
    ok(p and lost == 0, "write, no sync: a byte no version had is a problem (not a lost one)",
       p, lost)
    short = after(o0, inodes={10: ("f", A1[:50], b"v1")})
    p, lost = verdict(obs, seq, synced, short)
    ok(p and lost == 50, "write+fsync: a shorter file loses its tail", p, lost)


def test_names():
    o0 = obs0()
    o1 = after(o0, paths={"B": ("f", 20)}, inodes={20: ("f", b"", None)})
    seq = [step(("creat", "B"), "fsync-parent")]
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o0)
    ok(any(x.startswith("name B") for x in p), "creat+fsync of the directory: B must exist", p)
    p, _ = verdict([o0, o1], seq, ["ace op 1"], o0)
    is_(p, [], "creat before its sync: B may be missing")
    seq = [step(("creat", "B"), "fdatasync")]
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o0)
    ok(any(x.startswith("name B") for x in p), "creat+fdatasync of the new file: B must exist",
       p)
    o1 = after(o0, paths={"A": None, "B": ("f", 10)})
    seq = [step(("rename", "A", "B"), "fsync")]
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o0)
    ok(any(x.startswith("name A") for x in p) and any(x.startswith("name B") for x in p),
       "rename+fsync of the file: the rename must be durable (A gone, B there)", p)
    seq = [step(("rename", "A", "B"), "fdatasync")]
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o0)
    is_(p, [], "rename+fdatasync of an old file: the rename need not be durable")
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o1)
    is_(p, [], "rename+fdatasync: and may be")
    half = after(o0, paths={"B": ("f", 10)})
    p, _ = verdict([o0, o1], seq, ["ace op 1"], half)
    ok(p, "a rename is atomic: both names at once is a problem", p)
    gone = after(o0, paths={"A": None})
    p, _ = verdict([o0, o1], seq, ["ace op 1"], gone)
    ok(p, "a rename is atomic: neither name is a problem", p)
    stray = after(o0)
    stray["extra"] = {"lost+found", "D/zz"}
    p, _ = verdict([o0, o1], seq, ["ace op 1"], stray)
    ok(any("unexpected name D/zz" in x for x in p), "a name outside the namespace is flagged",
       p)


def test_xattr_and_close():
    o0 = obs0()
    o1 = after(o0, inodes={10: ("f", A0, b"v2-A")})
    seq = [step(("setxattr", "A"), "fsync")]
    p, _ = verdict([o0, o1], seq, ["ace op 1", "ace sync 1"], o0)
    ok(any(x.startswith("xattr") for x in p), "setxattr+fsync: the old value is a problem", p)
    seq = [step(("setxattr", "A"), "none")]
    p, _ = verdict([o0, o1], seq, ["ace op 1"], o0)
    is_(p, [], "setxattr, no sync: the old value passes")
    p, _ = verdict([o0, o1], seq, ["ace op 1", "close"], o0)
    ok(p, "after the closing entry (unmounted) everything must be the last version", p)
    p, _ = verdict([o0, o1], seq, ["ace op 1", "close"], o1)
    is_(p, [], "after the closing entry the last version passes")


def test_model():
    is_(ace.count(ace.Model(), 1), len([s for s in ace.STEPS
                                        if ace.Model().step(*s) is not None]),
        "count(1) is the number of valid single steps")
    seen = set()
    for i in range(ace.count(ace.Model(), 1)):
        seen.add(ace.describe(ace.unrank(1, i)))
    is_(len(seen), ace.count(ace.Model(), 1), "every length-1 workload is a different one")
    m = ace.Model()
    ok(m.step(ace.OPS.index(("link", "A", "B")), "none") is not None, "link A B is valid")
    ok(m.step(ace.OPS.index(("removexattr", "D/C")), "none") is None,
       "removexattr of a missing xattr is not")
    ok(m.step(ace.OPS.index(("unlink", "A")), "fsync") is None,
       "fsync of an unlinked file is not (its directory is)")
    m2 = m.step(ace.OPS.index(("rename", "D", "E")), "none")
    ok(m2 is not None and "E/C" in m2.names and "D/C" not in m2.names,
       "rename D E moves D/C to E/C")


# ---- fsx's byte check --------------------------------------------------------


def test_fsx_compare():
    base = bytes(range(200)) * 2  # 400 bytes at the sync
    later = bytearray(base)
    later[100:150] = b"\xee" * 50  # op 1 wrote [100, 150)
    cands = [(base, None), (bytes(later), (100, 150))]
    is_(fsx_crash.compare(base, cands), ([], 0), "fsx: the sync's copy passes")
    is_(fsx_crash.compare(bytes(later), cands), ([], 0), "fsx: the later op's copy passes")
    mixed = bytearray(base)
    mixed[120:130] = b"\xee" * 10
    is_(fsx_crash.compare(bytes(mixed), cands), ([], 0), "fsx: part of the later op passes")
    lost = bytearray(base)
    lost[10:14] = b"\0\0\0\0"
    p, n = fsx_crash.compare(bytes(lost), cands)
    ok(p and n == 4, "fsx: 4 changed bytes outside the later op are lost", p, n)
    junk = bytearray(later)
    junk[140] = 7
    p, n = fsx_crash.compare(bytes(junk), cands)
    ok(p and n == 1, "fsx: a byte no version had inside the later op's range", p, n)
    p, n = fsx_crash.compare(base[:300], cands)
    ok(p and n == 100, "fsx: a file 100 bytes short lost 100 bytes", p, n)
    grown = base + b"\1" * 50
    cands2 = [(base, None), (grown, (400, 450))]
    is_(fsx_crash.compare(base + b"\0" * 50, cands2), ([], 0),
        "fsx: an extending write's range may read as zeros (size committed first)")
    is_(fsx_crash.parse_marks(["fsx sync 0", "fsx op 1", "fsx sync 1", "fsx op 2", "fsx op 3"]),
        (1, [2, 3], False), "fsx: the last sync and the operations after it")


test_write()
test_names()
test_xattr_and_close()
test_model()
test_fsx_compare()
done()
