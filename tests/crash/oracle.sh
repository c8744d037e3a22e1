#!/bin/bash
# tests/crash/oracle.sh - the crash checkers on made-up cases (oracle_test.py):
# the ACE oracle and foliofs-fsx's byte check accept what the guarantees
# allow and flag a lost fsynced byte or name, a half-done rename, a byte no
# version had, a lost xattr, a stray name. No mount.
. "$(dirname "$0")/lib.sh"
crash_py "$srcdir/tests/crash/oracle_test.py"
done_testing
