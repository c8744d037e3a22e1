/*
 * format/crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Interface (format/crc32c.h): crc32c(), crc32c_sw(), crc32c_hw_available().
 *
 * Two implementations with one result:
 *  - table: slicing-by-8 over eight 256-entry tables. Table 0 is the classic
 *    byte-at-a-time table; table k holds the CRC of a byte followed by k zero
 *    bytes, so eight input bytes are folded with eight lookups.
 *  - SSE4.2: the crc32 instruction computes the same reflected CRC on 8 bytes
 *    at a time (x86-64 only, chosen at run time with cpuid).
 *
 * Invariants: the tables are written once under pthread_once and read-only
 * afterwards; the hardware choice is made once the same way.
 */
#include "config.h"

#include "format/crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define CRC32C_HAVE_HW 1
#else
#define CRC32C_HAVE_HW 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static bool crc32c_use_hw;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
		crc32c_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++) {
		for (int i = 0; i < 256; i++) {
			uint32_t prev = crc32c_table[t - 1][i];

			crc32c_table[t][i] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
		}
	}
#if CRC32C_HAVE_HW
	__builtin_cpu_init();
	crc32c_use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Little-endian 32-bit load from any address. */
static inline uint32_t crc32c_load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The raw (not inverted) CRC state over @len bytes, table path. */
static uint32_t crc32c_raw_sw(uint32_t c, const uint8_t *p, size_t len)
{
	const uint32_t(*t)[256] = crc32c_table;

	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = c ^ crc32c_load32(p);
		uint32_t hi = crc32c_load32(p + 4);

		c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
		    t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		    t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
	return c;
}

#if CRC32C_HAVE_HW
/* The raw CRC state over @len bytes with the SSE4.2 instruction. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_raw_hw(uint32_t c, const uint8_t *p,
								size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	c64 = c;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}
#endif

/**
 * crc32c - continue a CRC-32C over more bytes
 * @crc: the CRC of the bytes before @buf (0 to start)
 * @buf: the bytes
 * @len: how many
 *
 * Context: any thread.
 * Return: the CRC-32C of everything so far (finished form).
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
#if CRC32C_HAVE_HW
	if (crc32c_use_hw)
		return ~crc32c_raw_hw(~crc, buf, len);
#endif
	return ~crc32c_raw_sw(~crc, buf, len);
}

/**
 * crc32c_sw - crc32c() forced onto the table-driven path
 * @crc: the CRC of the bytes before @buf (0 to start)
 * @buf: the bytes
 * @len: how many
 *
 * Context: any thread.
 * Return: the same value crc32c() returns.
 */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	return ~crc32c_raw_sw(~crc, buf, len);
}

/**
 * crc32c_hw_available - tell whether crc32c() uses the CPU's instruction
 *
 * Context: any thread.
 * Return: true when the SSE4.2 path is in use.
 */
bool crc32c_hw_available(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return crc32c_use_hw;
}
