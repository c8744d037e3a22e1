# tests/unit/stress.mk: cache stress and fault tests.
# test_stress runs for STRESS_SECONDS (default 8) with STRESS_THREADS workers
# (default 4) under a STRESS_LIMIT-page memory limit (default 300), seeded by
# STRESS_SEED; e.g. `STRESS_SECONDS=600 tests/unit/test_stress` for a long run.
check_PROGRAMS += tests/unit/test_stress tests/unit/test_faults
TESTS += tests/unit/test_stress tests/unit/test_faults
tests_unit_test_stress_LDADD = $(TESTFS_LIBS)
tests_unit_test_faults_LDADD = $(TESTFS_LIBS)
