"""tests/mount/ctlsock.py - the other ends of the control socket, for
tests/mount/ctlsock.sh.

  ctlsock.py impostor PATH UID HELLO LOG
      A server that is not the daemon: binds PATH (as the caller, root), makes
      it mode 0666, then runs as UID (setresuid) before listen(), so SO_PEERCRED
      shows UID. Each connection gets a hello line ("true": its own pid and the
      device number in $CTL_DEV; "pid1": pid 1; "dev": device 0:1), then
      whatever arrives within 2 s is appended to LOG as "got <repr>" and it
      answers "OK". Writes "ready" to LOG once listening; runs until killed.
  ctlsock.py silent SOCK CTL MP N
      TAP: N connections that say nothing (each gets its hello), then
      `CTL MP stats` and `CTL MP sync` must succeed while all N are still
      open (checked after: no EOF on any); then the first one sends a request
      and gets its answer.
  ctlsock.py hold SOCK N READY
      N connections that say nothing; writes "held" to READY once each has
      its hello line; runs until killed.
  ctlsock.py timeout SOCK
      TAP: a connection that says nothing is closed by the daemon (EOF) after
      its hello and nothing else.
"""

import os
import socket
import subprocess
import sys
import time

from tap import done, is_, ok


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_line(s, timeout=30):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        buf += c
    s.settimeout(None)
    return buf.decode()


def still_open(s):
    """No EOF and nothing unread: the daemon has neither closed nor answered."""
    try:
        s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
    except BlockingIOError:
        return True
    return False  # EOF, or an answer: either way not silent and open


def impostor(path, uid, hello, log):
    if os.path.lexists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    uid = int(uid)
    if uid:
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    srv.listen(8)
    with open(log, "a") as f:
        f.write("ready\n")
    dev = os.environ.get("CTL_DEV", "0:0")
    line = {"true": "foliofs-ctl 1 pid=%d dev=%s\n" % (os.getpid(), dev),
            "pid1": "foliofs-ctl 1 pid=1 dev=%s\n" % dev,
            "dev": "foliofs-ctl 1 pid=%d dev=0:1\n" % os.getpid()}[hello]
    while True:
        c, _ = srv.accept()
        try:
            c.sendall(line.encode())
            c.settimeout(2)
            got = b""
            try:
                while not got.endswith(b"\n"):
                    d = c.recv(4096)
                    if not d:
                        break
                    got += d
            except socket.timeout:
                pass
            with open(log, "a") as f:
                f.write("got %r\n" % got)
            c.sendall(b"OK\n")
        except OSError:
            pass
        c.close()


def run_ctl(ctl, mp, *args):
    return subprocess.run([ctl, mp] + list(args), capture_output=True, text=True)


def silent(sock, ctl, mp, n):
    conns = [connect(sock) for _ in range(int(n))]
    hellos = [read_line(s) for s in conns]
    ok(all(h.startswith("foliofs-ctl 1 pid=") for h in hellos),
       "%s silent connection(s): each got the hello line" % n, *hellos[:1])
    r = run_ctl(ctl, mp, "stats")
    ok(r.returncode == 0 and "nr_dirty" in r.stdout,
       "stats answers while they are connected", r.stderr)
    r = run_ctl(ctl, mp, "sync")
    is_(r.returncode, 0, "sync answers while they are connected")
    ok(all(still_open(s) for s in conns),
       "  and every silent connection is still open (not timed out, not answered)")
    conns[0].sendall(b"get cache\n")
    ans = ""
    conns[0].settimeout(30)
    while True:
        d = conns[0].recv(4096)
        if not d:
            break
        ans += d.decode()
    ok(ans.endswith("OK\n") and len(ans.splitlines()) == 2,
       "the first silent one then asks and is answered", repr(ans))
    for s in conns:
        s.close()


def hold(sock, n, ready):
    """N silent connections; READY gets "held" once each has its hello."""
    conns = [connect(sock) for _ in range(int(n))]
    hellos = [read_line(s) for s in conns]
    with open(ready, "w") as f:
        f.write("held\n" if all(h.startswith("foliofs-ctl 1") for h in hellos) else "bad\n")
    while True:
        time.sleep(60)


def timeout(sock):
    s = connect(sock)
    hello = read_line(s)
    s.settimeout(120)
    rest = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            rest += d
        closed = True
    except socket.timeout:
        closed = False
    ok(hello.startswith("foliofs-ctl 1") and closed and rest == b"",
       "a connection that says nothing is closed by the daemon, unanswered",
       repr(hello), repr(rest))


def main():
    cmd = sys.argv[1]
    if cmd == "impostor":
        impostor(*sys.argv[2:6])
        return
    if cmd == "silent":
        silent(*sys.argv[2:6])
    elif cmd == "hold":
        hold(*sys.argv[2:5])
        return
    elif cmd == "timeout":
        timeout(sys.argv[2])
    done()


if __name__ == "__main__":
    main()
