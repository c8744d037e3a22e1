# tests/unit/xarray.mk: unit tests for xarray. The test links cache/xarray.c alone,
# so it builds without the rest of cache/.
check_PROGRAMS += tests/unit/test_xarray
TESTS += tests/unit/test_xarray
tests_unit_test_xarray_SOURCES = tests/unit/test_xarray.c cache/xarray.c
tests_unit_test_xarray_LDADD = $(URCU_LIBS) -lpthread
