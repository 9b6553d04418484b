/* crc32: the CRC-32 of zlib, PNG and Ethernet (reflected polynomial
 * 0xEDB88320), so a Python reader can check records with zlib.crc32. */
#ifndef TGS_CRC32_H
#define TGS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over more bytes; start with crc = 0. Uses the fastest
 * implementation this CPU has (see tgs_crc32_impl). */
uint32_t tgs_crc32(uint32_t crc, const void *buf, size_t len);

/* The same CRC by the portable table code alone: the reference the fast
 * path is tested against. */
uint32_t tgs_crc32_portable(uint32_t crc, const void *buf, size_t len);

/* Which implementation tgs_crc32 uses here: "pclmul" or "portable". */
const char *tgs_crc32_impl(void);

#endif
