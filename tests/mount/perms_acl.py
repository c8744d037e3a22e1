"""tests/mount/perms_acl.py - the permission model as three users other than
root, on a mount made with -o allow_other: every permission value for the
owner, the group and others on files and directories, and POSIX ACLs with
masks. Run by perms-acl.sh:

  perms_acl.py setup MOUNTPOINT  (root) files m/u0..u7 (owner 65534, mode
                                 N00), m/g0..g7 (group 65532, mode 0N0),
                                 m/o0..o7 (mode 00N), the same as
                                 directories under m/d*, and ACL'd files
  perms_acl.py owner MOUNTPOINT  (65534) the owner's rights follow u
  perms_acl.py group MOUNTPOINT  (65532:65532) a group member's follow g
  perms_acl.py other MOUNTPOINT  (65533:65533) anyone else's follow o;
                                 ACL entries and the mask
  perms_acl.py mask  MOUNTPOINT  (root) widen the mask
  perms_acl.py after MOUNTPOINT  (65533) what the wider mask allows
"""

import errno
import os
import subprocess
import sys

from tap import done, guard, is_, ok

phase, mp = sys.argv[1], sys.argv[2]
OWNER, GROUP, OTHER = 65534, 65532, 65533
m = os.path.join(mp, "m")


def setfacl(*args):
    subprocess.run(["setfacl"] + list(args), check=True)


def setup():
    os.mkdir(m)
    os.chmod(m, 0o755)
    for who, shift in (("u", 6), ("g", 3), ("o", 0)):
        for v in range(8):
            f = os.path.join(m, "%s%d" % (who, v))
            with open(f, "w") as fh:
                fh.write("#!/bin/sh\nexit 0\n")
            os.chown(f, OWNER, GROUP)
            os.chmod(f, v << shift)
            dd = os.path.join(m, "d%s%d" % (who, v))
            os.mkdir(dd)
            with open(os.path.join(dd, "in"), "w") as fh:
                fh.write("in")
            os.chmod(os.path.join(dd, "in"), 0o666)
            os.chown(dd, OWNER, GROUP)
            os.chmod(dd, v << shift)
    # ACLs: user 65533 may read and write, group 65532 read, but the mask
    # allows only read
    acl = os.path.join(m, "acl")
    with open(acl, "w") as fh:
        fh.write("acl")
    os.chmod(acl, 0o600)
    setfacl("-m", "u:%d:rw,g:%d:r,m::r" % (OTHER, GROUP), acl)
    out = subprocess.run(["getfacl", "-n", "-p", acl], capture_output=True, text=True).stdout
    ok("user:%d:rw-\t#effective:r--" % OTHER in out, "getfacl shows the masked entry", out)
    # a directory whose default ACL gives 65533 rwx (mask rwx)
    dacl = os.path.join(m, "dacl")
    os.mkdir(dacl)
    os.chmod(dacl, 0o755)
    setfacl("-m", "u:%d:rwx" % OTHER, "-d", "-m", "u:%d:rwx,m::rwx" % OTHER, dacl)


def rights_file(f):
    """What the caller can do with a file, by really trying: r, w, x."""
    got = ""
    for flag, ch in ((os.O_RDONLY, "r"), (os.O_WRONLY, "w")):
        try:
            os.close(os.open(f, flag))
            got += ch
        except OSError as e:
            if e.errno != errno.EACCES:
                raise
    try:  # exec is allowed by x alone (the shell may then fail to read it)
        subprocess.run([f], capture_output=True)
        got += "x"
    except PermissionError:
        pass
    return got


def rights_dir(dd):
    """r: list, w: create (with x), x: look a name up."""
    got = ""
    try:
        os.listdir(dd)
        got += "r"
    except PermissionError:
        pass
    try:
        n = os.path.join(dd, "new.%d" % os.getuid())
        os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o644))
        os.unlink(n)
        got += "w"
    except PermissionError:
        pass
    try:
        os.stat(os.path.join(dd, "in"))
        got += "x"
    except PermissionError:
        pass
    return got


def want(v, isdir):
    r, w, x = v & 4, v & 2, v & 1
    if isdir:  # creating needs w and x
        return ("r" if r else "") + ("w" if w and x else "") + ("x" if x else "")
    return ("r" if r else "") + ("w" if w else "") + ("x" if x else "")


def matrix(who):
    for v in range(8):
        is_(rights_file(os.path.join(m, "%s%d" % (who, v))), want(v, False),
            "%s: file %s%d (mode %03o)" % (phase, who, v, v << {"u": 6, "g": 3, "o": 0}[who]))
        is_(rights_dir(os.path.join(m, "d%s%d" % (who, v))), want(v, True),
            "%s: directory d%s%d" % (phase, who, v))


def owner():
    is_(os.getuid(), OWNER, "running as the owner")
    matrix("u")


def group():
    is_(os.getgid(), GROUP, "running in the group")
    matrix("g")
    is_(rights_file(os.path.join(m, "acl")), "r", "group: ACL group entry r")


def other():
    is_((os.getuid(), os.getgroups()), (OTHER, []), "running as someone else")
    matrix("o")
    is_(rights_file(os.path.join(m, "acl")), "r", "ACL user entry rw- under mask r--: r")
    f = os.path.join(m, "dacl", "made")
    os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o640))
    out = subprocess.run(["getfacl", "-n", "-p", f], capture_output=True, text=True).stdout
    ok("user:%d:rwx\t#effective:r--" % OTHER in out or "user:%d:rwx\t#effective:rw-" % OTHER
       in out, "a new file takes the default ACL, masked by its create mode", out)
    open(os.path.join(m, "dacl", "made2"), "w").close()


def mask():
    setfacl("-m", "m::rw", os.path.join(m, "acl"))
    ok(True, "root widens the mask to rw")


def after():
    is_(rights_file(os.path.join(m, "acl")), "rw", "after the mask rw: the user entry gives rw")
    before = open(os.path.join(m, "acl")).read()
    with open(os.path.join(m, "acl"), "a") as fh:
        fh.write("+")
    is_(open(os.path.join(m, "acl")).read(), before + "+", "and the write landed")


guard({"setup": setup, "owner": owner, "group": group, "other": other, "mask": mask,
       "after": after}[phase])
done()
