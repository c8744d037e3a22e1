# tests/unit/backing.mk: unit tests for backing.
check_PROGRAMS += tests/unit/test_backing
TESTS += tests/unit/test_backing
tests_unit_test_backing_LDADD = backing/libbacking.a -lpthread
