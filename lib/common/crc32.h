/* crc32: the CRC-32 of zlib, PNG and Ethernet (reflected polynomial
 * 0xEDB88320), so a Python reader can check records with zlib.crc32. */
#ifndef TGS_CRC32_H
#define TGS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over more bytes; start with crc = 0. */
uint32_t tgs_crc32(uint32_t crc, const void *buf, size_t len);

#endif
