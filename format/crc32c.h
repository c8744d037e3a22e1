/*
 * format/crc32c.h - CRC-32C (Castagnoli) for foliofs's metadata checksums.
 *
 * Interface: crc32c() continues a checksum over more bytes, in the zlib
 * convention: the value passed in and returned is the finished CRC (pre- and
 * post-inverted), so crc32c(0, "123456789", 9) == 0xE3069283 and
 * crc32c(crc32c(0, a, la), b, lb) == crc32c(0, a || b, la + lb).
 *
 * crc32c() uses the SSE4.2 crc32 instruction when the CPU has it and a
 * table-driven (slicing-by-8) loop otherwise; both give identical results.
 * crc32c_sw() always takes the table path (tests compare the two).
 *
 * Invariants: pure functions of their arguments; the lookup tables are built
 * once per process (pthread_once) and never change, so any thread may call
 * these at any time.
 */
#ifndef FOLIO_FORMAT_CRC32C_H
#define FOLIO_FORMAT_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_available(void);

#endif /* FOLIO_FORMAT_CRC32C_H */
