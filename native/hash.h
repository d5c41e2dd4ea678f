/* XXH3-64 of pages (native/hash.c), the hash of every page the addon reads. */
#ifndef SAMEPAGE_HASH_H
#define SAMEPAGE_HASH_H
#include <stdint.h>

/* XXH3-64 of each of the `count` pages of `buf`, as high and low halves into hi[i], lo[i]. */
void hash_buffer(const unsigned char *buf, uint32_t count, uint32_t page_size, uint32_t *hi, uint32_t *lo);

#endif
