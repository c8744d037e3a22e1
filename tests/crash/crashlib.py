"""tests/crash/crashlib.py - what the crash tests share: daemons, write logs,
crash states, fsck, the per-state check and the counts.

A crash test runs a workload on a foliofs mount whose device is recorded
(-o debug_logwrites=LOG, backing/logwrites.c), with marks at the points the
workload made something durable; then for every crash state foliofs-crash
builds from the base image and the log, it mounts the state with the daemon
(which replays the journal), checks that what the marks before the crash
point guarantee is there (each workload brings its own check), unmounts, and
runs fsck.foliofs -n, which must find nothing.

Interface:
  Tools(builddir)        the programs of this build (daemon, mkfs, fsck, ctl,
                         crash, fsx)
  Daemon(tools, img, mp, opts, log)  foliofs -f as a child: start() waits for
                         the mount, umount() waits for the exit, kill();
                         whatever is still running at exit is unmounted and
                         stopped (stop_all, also on SIGTERM/SIGINT)
  CrashLog(tools, path)  the log's entries (foliofs-crash list): marks with
                         their positions; marks_before(point)
  states(tools, log, k, seed)  [(spec, point)] from foliofs-crash states
  at_sync(crashlog, states, word)  the prefix states right after each mark
                         starting with word (the first to hold it)
  Tally                  counts over states: states, failed, mount failures,
                         fsck problems by kind, content problems by kind,
                         lost durable bytes; summary() and record lines
  Context(tools, log, base, work, tally, tag)  a workload's log and base, where
                         its states are built, and the name (tag) under which
                         CRASH_KEEP=DIR keeps its log, base and failing states
  check_state(ctx, spec, point, check, desc)  one state, start to end, as
                         one TAP line
  journal_expected()     whether failures fail (CRASH_EXPECT_JOURNAL=yes, the
                         default) or are reported as TODO (=no: for images
                         made without a journal; see docs/TESTING.md)
  mkfs(tools, img, bs, size), fsck(tools, img), problem_kind(line)

Every daemon this module starts is its child; nothing else is signalled, and
only mountpoints it mounted are unmounted.
"""

import atexit
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time

# ---- environment -----------------------------------------------------------


class Tools:
    def __init__(self, builddir):
        self.builddir = builddir
        self.foliofs = builddir + "/daemon/foliofs"
        self.mkfs = builddir + "/tools/mkfs.foliofs"
        self.fsck = builddir + "/tools/fsck.foliofs"
        self.ctl = builddir + "/tools/foliofs-ctl"
        self.crash = builddir + "/tools/foliofs-crash"
        self.fsx = builddir + "/tools/foliofs-fsx"


def journal_expected():
    """True when every crash state must pass (CRASH_EXPECT_JOURNAL=yes, the
    default).

    With =no a failing state is reported as TODO and counted: for images made
    without a journal, where a crash may leave metadata in any order and many
    states fail (tests/crash/lib.sh)."""
    return os.environ.get("CRASH_EXPECT_JOURNAL", "yes") == "yes"


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kw)


def mkfs(tools, img, bs, size, *extra):
    r = run([tools.mkfs, "-q", "-f", "-b", str(bs), "-s", size] + list(extra) + [img])
    if r.returncode:
        raise RuntimeError("mkfs.foliofs failed: " + r.stdout)


def copy_sparse(src, dst):
    r = run(["cp", "--sparse=always", src, dst])
    if r.returncode:
        raise RuntimeError("cp failed: " + r.stdout)


# ---- daemons -----------------------------------------------------------------

_live = []


def is_mounted(mp):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == mp:
                return True
    return False


class Daemon:
    """foliofs IMG MP -f -o OPTS as a child process, its output in LOG."""

    def __init__(self, tools, img, mp, opts, log):
        self.tools, self.img, self.mp, self.opts, self.log = tools, img, mp, opts, log
        self.proc = None
        self.busy = False

    def start(self, timeout=20):
        os.makedirs(self.mp, exist_ok=True)
        if is_mounted(self.mp):
            raise RuntimeError(self.mp + " is already mounted")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([self.tools.foliofs, self.img, self.mp, "-f", "-o",
                                          self.opts], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        _live.append(self)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if is_mounted(self.mp):
                return True
            if self.proc.poll() is not None:
                _live.remove(self)
                return False
            time.sleep(0.01)
        self.kill()
        return False

    def log_tail(self, n=8):
        try:
            with open(self.log) as f:
                return f.read().splitlines()[-n:]
        except OSError:
            return []

    def umount(self, timeout=120):
        """fusermount3 -u (retried while busy), then wait for the daemon to
        exit (it writes the image back first). Returns its exit status, or
        None after a timeout (the daemon's stacks go to its log, and with
        CRASH_KEEP=DIR to DIR/hung-daemon.PID.log; then it is killed)."""
        for _ in range(50):
            if not is_mounted(self.mp):
                break
            if run(["fusermount3", "-u", self.mp]).returncode == 0:
                break
            time.sleep(0.2)
        self.busy = is_mounted(self.mp)  # fusermount3 -u kept failing
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            self.kill()
            return None
        if self in _live:
            _live.remove(self)
        return rc

    def dump_stacks(self):
        """Every thread's stack of the (hung) daemon, appended to its log."""
        if not shutil.which("gdb"):
            return
        try:
            r = run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex", "thread apply all bt"],
                    timeout=60)
        except subprocess.TimeoutExpired:
            return
        with open(self.log, "a") as f:
            f.write("---- daemon stacks (gdb) ----\n" + r.stdout)
        if os.environ.get("CRASH_KEEP"):
            os.makedirs(os.environ["CRASH_KEEP"], exist_ok=True)
            shutil.copy(self.log, os.path.join(os.environ["CRASH_KEEP"], "hung-daemon.%d.log" %
                                               self.proc.pid))

    def kill(self):
        """SIGKILL the daemon and drop its dead mount."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
        if is_mounted(self.mp) and run(["fusermount3", "-u", self.mp]).returncode:
            run(["fusermount3", "-u", "-z", self.mp])
        if self in _live:
            _live.remove(self)


def stop_all():
    for d in list(_live):
        if d.proc.poll() is None and is_mounted(d.mp):
            d.umount(timeout=30)
        if d in _live:
            d.kill()


def _on_signal(sig, frame):
    stop_all()
    sys.exit(1)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


# ---- logs and states -------------------------------------------------------


class CrashLog:
    """The entries of a write log: kinds, and marks with their positions."""

    def __init__(self, tools, path):
        self.path = path
        r = run([tools.crash, "list", path])
        if r.returncode:
            raise RuntimeError("foliofs-crash list failed: " + r.stdout)
        self.kinds = []
        self.marks = []  # (position, label)
        self.summary = ""
        for line in r.stdout.splitlines():
            if line.startswith("#"):
                if line.startswith("# entries"):
                    self.summary = line[2:]
                continue
            parts = line.split(" ", 2)
            self.kinds.append(parts[1])
            if parts[1] == "mark":
                self.marks.append((int(parts[0]), parts[2]))
            elif parts[1] == "close":
                self.marks.append((int(parts[0]), "close"))

    def marks_before(self, point):
        return [label for pos, label in self.marks if pos < point]


def states(tools, log, k=2, seed=1):
    r = run([tools.crash, "states", log, "-k", str(k), "-S", str(seed)])
    if r.returncode:
        raise RuntimeError("foliofs-crash states failed: " + r.stdout)
    out = []
    for line in r.stdout.splitlines():
        spec, point, _ = line.split("\t")
        out.append((spec, int(point)))
    return out


def at_sync(crashlog, sts, word):
    """Of states @sts, the prefix states that are the first to hold each mark
    whose label starts with @word (the crash right after that sync returned)."""
    out = []
    prefixes = sorted(p for p in sts if p[0].startswith("prefix:"))
    prefixes.sort(key=lambda p: p[1])
    for pos, label in crashlog.marks:
        if label.startswith(word):
            first = next((p for p in prefixes if p[1] > pos), None)
            if first and first not in out:
                out.append(first)
    return out


def build_state(tools, log, base, spec, out):
    r = run([tools.crash, "write", log, base, spec, out])
    if r.returncode:
        raise RuntimeError("foliofs-crash write %s failed: %s" % (spec, r.stdout))
    return r.stdout.strip()


# ---- fsck ------------------------------------------------------------------

_NUM = re.compile(r"0x[0-9a-fA-F]+|\d+")
_NAME = re.compile(r"'[^']*'")


def problem_kind(line):
    """A problem line with its numbers and names taken out."""
    line = line.split(": ", 1)[1] if line.startswith("fsck.foliofs: ") else line
    return _NAME.sub("'X'", _NUM.sub("N", line)).strip()


def fsck(tools, img):
    """fsck.foliofs -n: (exit status, problem lines)."""
    r = run([tools.fsck, "-n", img])
    probs = [l for l in r.stdout.splitlines()
             if l.startswith("fsck.foliofs: ") and not l.startswith("fsck.foliofs: note:")]
    if r.returncode and not probs:
        probs = r.stdout.splitlines()[-3:]
    return r.returncode, probs


# ---- counting --------------------------------------------------------------


class Tally:
    def __init__(self):
        self.states = 0
        self.failed = 0
        self.mount_failed = 0
        self.fsck_states = 0
        self.fsck_kinds = collections.Counter()
        self.content_states = 0
        self.content_kinds = collections.Counter()
        self.lost_bytes = 0
        self.failures = []  # (desc, spec, first problem)

    def add(self, desc, spec, mount_ok, fsck_probs, content_probs, lost):
        self.states += 1
        self.mount_failed += 0 if mount_ok else 1
        if fsck_probs:
            self.fsck_states += 1
            for p in set(problem_kind(l) for l in fsck_probs):
                self.fsck_kinds[p] += 1
        if content_probs and mount_ok:
            self.content_states += 1
            for p in set(_NUM.sub("N", c.split(": ", 1)[0]) for c in content_probs):
                self.content_kinds[p] += 1
        if not mount_ok:
            self.content_kinds[problem_kind(content_probs[0])] += 1
        self.lost_bytes += lost
        bad = not mount_ok or fsck_probs or content_probs
        if bad:
            self.failed += 1
            first = (content_probs or fsck_probs or ["mount failed"])[0]
            self.failures.append((desc, spec, first))
        return not bad

    def summary(self):
        lines = ["crash states %d, failed %d, mount failures %d, fsck problems in %d, "
                 "content problems in %d, lost durable bytes %d" %
                 (self.states, self.failed, self.mount_failed, self.fsck_states,
                  self.content_states, self.lost_bytes)]
        for kind, n in self.fsck_kinds.most_common():
            lines.append("  fsck: %5d states: %s" % (n, kind))
        for kind, n in self.content_kinds.most_common():
            lines.append("  mount or content: %5d states: %s" % (n, kind))
        return lines

    def record(self):
        """One machine-readable line, for adding tallies of several runs; also
        appended to $CRASH_TALLY_FILE when that is set."""
        line = self._record()
        if os.environ.get("CRASH_TALLY_FILE"):
            with open(os.environ["CRASH_TALLY_FILE"], "a") as f:
                f.write(line + "\n")
                for kind, n in self.fsck_kinds.items():
                    f.write("CRASH-KIND fsck %d %s\n" % (n, kind))
                for kind, n in self.content_kinds.items():
                    f.write("CRASH-KIND content %d %s\n" % (n, kind))
        return line

    def _record(self):
        return "CRASH-TALLY states=%d failed=%d mount=%d fsck=%d content=%d lost=%d" % (
            self.states, self.failed, self.mount_failed, self.fsck_states,
            self.content_states, self.lost_bytes)


# ---- one state -------------------------------------------------------------


class Context:
    """Where a workload's states are checked: its log, base image, scratch
    directory, mount options for the states, the tally and TAP settings."""

    def __init__(self, tools, log, base, work, tally, tag, opts="cache_size=16M", keep=None,
                 todo=None, expect_fail=None):
        self.tools, self.log, self.base, self.work = tools, log, base, work
        self.tag = re.sub(r"[^A-Za-z0-9]+", "_", tag).strip("_")
        self.tally, self.opts = tally, opts
        self.keep = keep if keep is not None else os.environ.get("CRASH_KEEP")
        self.todo = todo
        self.expect_fail = expect_fail  # a reason: failing states are TODO, always
        self.crashlog = CrashLog(tools, log)


def tap_line(passed, desc, why=(), todo=None):
    if passed:
        print("ok - " + desc)
        return
    print("not ok - %s%s" % (desc, " # TODO " + todo if todo else ""))
    for w in why:
        print("#   " + str(w))


def _keep_failure(ctx, spec):
    if not ctx.keep:
        return
    os.makedirs(ctx.keep, exist_ok=True)
    for src, name in ((ctx.log, "log"), (ctx.base, "base.img")):
        dst = os.path.join(ctx.keep, "%s.%s" % (ctx.tag, name))
        if not os.path.exists(dst):
            copy_sparse(src, dst)
    # as built, before the daemon mounted (and so changed) it
    build_state(ctx.tools, ctx.log, ctx.base, spec,
                os.path.join(ctx.keep, "%s.%s.img" % (ctx.tag, spec.replace(":", "_"))))


def check_state(ctx, spec, point, check, desc):
    """Build state @spec, mount it, run @check(mountpoint, point) -> (problems,
    lost bytes), unmount, fsck. One TAP line (TODO when failing and
    journal_expected() is false). Returns True when the state passed."""
    img = os.path.join(ctx.work, "state.img")
    mp = os.path.join(ctx.work, "smnt")
    build_state(ctx.tools, ctx.log, ctx.base, spec, img)
    d = Daemon(ctx.tools, img, mp, ctx.opts, os.path.join(ctx.work, "state.log"))
    content, lost, mount_ok = [], 0, d.start()
    if mount_ok:
        try:
            content, lost = check(mp, point)
        except OSError as e:
            content = ["read error: %s" % e]
        rc = d.umount()
        if rc != 0:
            content.append("daemon exit: status %s after unmount%s: %s" %
                           (rc, " (still mounted: fusermount3 -u failed)" if d.busy else "",
                            " | ".join(d.log_tail(3))))
    else:
        content = ["mount failed: " + " | ".join(l.replace(img, "IMAGE")
                                                 for l in d.log_tail(3))]
    rc, fsck_probs = fsck(ctx.tools, img)
    passed = ctx.tally.add(desc, spec, mount_ok, fsck_probs, content, lost)
    why = content[:6] + fsck_probs[:6]
    if not passed:
        why.append("rebuild: foliofs-crash write LOG BASE %s OUT (CRASH_KEEP=DIR keeps "
                   "them)" % spec)
        _keep_failure(ctx, spec)
    tap_line(passed, "%s %s" % (desc, spec), why,
             ctx.expect_fail or (None if journal_expected() else
                                 (ctx.todo or "CRASH_EXPECT_JOURNAL=no")))
    os.unlink(img)
    return passed
