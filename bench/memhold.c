/*
 * memhold: holds MIB MiB of private anonymous memory with a known mix of contents, for the
 * benchmark (bench/run.mjs).
 *
 *   memhold MIB INDEX SEED
 *
 * Page i of the region (4 KiB pages, MADV_NOHUGEPAGE so that every page is a small page):
 *   i % 64 == 0          zero-filled (a real page written with zeros, not the kernel's zero page)
 *   otherwise, by i % 4:
 *     0, 1   shared     content = f(SEED, i): the same in every memhold started with SEED
 *     2      dup-within content = f(SEED, INDEX, (i / 4) % K), K = pages / 32: each content
 *                       about 8 times within this process, never in another
 *     3      unique     content = f(SEED, INDEX, i): nowhere else
 * so about 1.6% zero, 49% shared across processes, 24.6% duplicated within, 24.6% unique.
 * Contents are pseudo-random 64-bit words (splitmix64 seeding an xorshift64* stream).
 *
 * When every page is written it prints "ready PID PAGES" on stdout and pauses until killed.
 * It dies with its parent (PR_SET_PDEATHSIG), so a crashed bench leaves nothing behind.
 * It never asks for KSM (no MADV_MERGEABLE, no PR_SET_MEMORY_MERGE).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill_page(uint64_t *p, uint64_t key)
{
	uint64_t s = splitmix64(key) | 1;
	for (unsigned k = 0; k < PAGE / 8; k++) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		p[k] = s * 0x2545f4914f6cdd1dull;
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: memhold MIB INDEX SEED\n");
		return 2;
	}
	uint64_t mib = strtoull(argv[1], NULL, 10);
	uint64_t index = strtoull(argv[2], NULL, 10);
	uint64_t seed = strtoull(argv[3], NULL, 10);
	if (mib == 0 || index > 0xffff) {
		fprintf(stderr, "memhold: bad arguments\n");
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1) return 1; /* the parent is already gone */

	size_t pages = (size_t)mib * (1024 * 1024 / PAGE);
	size_t len = pages * PAGE;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memhold: mmap");
		return 1;
	}
	if (madvise(mem, len, MADV_NOHUGEPAGE) != 0) perror("memhold: madvise(MADV_NOHUGEPAGE)");

	/*
	 * First touch in a shuffled order, so that pages next to each other in the address space
	 * are not next to each other in physical memory, at every size. Touched in address order, a
	 * 2 GiB process got long physically contiguous runs (54% of pages right after their
	 * predecessor at 1 GiB) and a 128 MiB one almost none (0.6%), and copying scattered pages
	 * costs about a third more per page here: the per-page work would depend on the size.
	 * Long-running processes' memory is scattered like this anyway.
	 */
	uint32_t *order = malloc(pages * sizeof *order);
	if (order == NULL) {
		perror("memhold: malloc");
		return 1;
	}
	for (size_t i = 0; i < pages; i++) order[i] = (uint32_t)i;
	uint64_t r = splitmix64(seed ^ (index << 32));
	for (size_t i = pages - 1; i > 0; i--) {
		r = splitmix64(r);
		size_t j = (size_t)(r % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < pages; i++) *(volatile char *)(mem + (size_t)order[i] * PAGE) = 0;
	free(order);

	size_t k_within = pages / 32 ? pages / 32 : 1;
	/* Domain tags keep the three families of keys apart. */
	const uint64_t shared_tag = 1ull << 62, within_tag = 2ull << 62, unique_tag = 3ull << 62;
	size_t zero = 0, shared = 0, within = 0, unique = 0;
	for (size_t i = 0; i < pages; i++) {
		uint64_t *p = (uint64_t *)(mem + i * PAGE);
		if (i % 64 == 0) {
			*(volatile uint64_t *)p = 0; /* a write fault: a private zero-filled page */
			zero++;
			continue;
		}
		uint64_t s = splitmix64(seed);
		switch (i % 4) {
		case 0:
		case 1:
			fill_page(p, splitmix64(s ^ shared_tag) ^ i);
			shared++;
			break;
		case 2:
			fill_page(p, splitmix64(s ^ within_tag ^ (index << 40)) ^ ((i / 4) % k_within));
			within++;
			break;
		default:
			fill_page(p, splitmix64(s ^ unique_tag ^ (index << 40)) ^ i);
			unique++;
			break;
		}
	}
	fprintf(stderr, "memhold %d: %zu pages: %zu zero, %zu shared, %zu dup-within, %zu unique\n", (int)getpid(), pages, zero,
		shared, within, unique);
	printf("ready %d %zu\n", (int)getpid(), pages);
	fflush(stdout);
	for (;;) pause();
}
