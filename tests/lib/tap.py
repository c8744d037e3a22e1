"""tests/lib/tap.py - TAP lines from the Python helpers the shell tests run.

They print unnumbered lines: "ok - DESC", "not ok - DESC", "skip - DESC"
and "# comment"; the shell test that runs them (sub_tap or py_tap, in
tests/lib/tap.sh and tests/mount/lib.sh) numbers them into its own stream.
The same vocabulary as tests/lib/tap.sh.

Interface:
  ok(cond, desc, *why)        one test line; the reasons follow as comments
  is_(got, want, desc)        passes when got == want
  raises(errno, desc, fn, ...)  fn(...) must fail with OSError errno (or one
                              of a tuple of them)
  succeeds(desc, fn, ...)     fn(...) must not raise OSError; its result
  skip(desc), diag(text), errname(errno)
  guard(fn, ...)              run a group of checks; an unexpected exception
                              fails only that group
  failed()                    how many tests failed so far
  done()                      exit 1 when a test failed, else 0
"""

import errno
import sys
import traceback

_failed = 0


def diag(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line)


def ok(cond, desc, *why):
    """One test line; when it fails, the reasons follow as comments."""
    global _failed
    if cond:
        print("ok - " + desc)
    else:
        _failed += 1
        print("not ok - " + desc)
        for w in why:
            diag("  " + str(w))
    return bool(cond)


def is_(got, want, desc):
    return ok(got == want, desc, "got %r, want %r" % (got, want))


def skip(desc):
    print("skip - " + desc)


def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def raises(err, desc, fn, *args, **kw):
    """fn(*args) must fail with OSError errno err (an int or a tuple)."""
    want = err if isinstance(err, tuple) else (err,)
    names = "/".join(errname(e) for e in want)
    try:
        r = fn(*args, **kw)
    except OSError as e:
        return ok(e.errno in want, "%s: %s" % (desc, names),
                  "got %s (%s)" % (errname(e.errno), str(e)[:160]))
    return ok(False, "%s: %s" % (desc, names), "succeeded, returned %s" % repr(r)[:160])


def succeeds(desc, fn, *args, **kw):
    """fn(*args) must not raise; returns its result (None on failure)."""
    try:
        r = fn(*args, **kw)
    except OSError as e:
        ok(False, desc, "failed with %s (%s)" % (errname(e.errno), str(e)[:160]))
        return None
    ok(True, desc)
    return r


def guard(fn, *args):
    """Run one group of checks; an unexpected exception fails that group only."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported as a failure, not hidden
        tb = traceback.extract_tb(e.__traceback__)[-1]
        ok(False, "%s raised %s" % (fn.__name__, type(e).__name__),
           "%s (line %d: %s)" % (e, tb.lineno, tb.line))
        return None


def failed():
    return _failed


def done():
    sys.stdout.flush()
    sys.exit(1 if _failed else 0)
