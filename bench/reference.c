/*
 * reference: the single-thread C baseline of the benchmark (bench/run.mjs). For each pid it
 * does what samepage's reading and hashing do, as fast as one thread can:
 *
 *   - /proc/PID/smaps: the VMAs, skipping those with Rss 0;
 *   - /proc/PID/pagemap: which pages are present (512 KiB of entries per read);
 *   - the contents of the present pages, gathered into one page-aligned buffer (1 MiB by
 *     default) with process_vm_readv (one call per buffer, one remote iovec per run of present
 *     pages) or, with --method pread, one pread(2) of /proc/PID/mem per run;
 *   - XXH3-64 of every page, stored in an array of 8-byte hashes.
 *
 *   reference [--method vmreadv|pread] [--buf-kib N] [--no-hash] PID...
 *
 * process_vm_readv is the faster here, but it pins the pages it reads, and the kernel answers a
 * pin of an anonymous page that fork left shared by giving the target its own copy: use
 * --method pread on processes that share pages by fork (Chromium's zygote children). The bench's
 * own test processes share nothing by fork, so both methods leave them as they were.
 *
 * Prints one line: "pages N bytes B seconds S method M xor X" (S: CLOCK_MONOTONIC from before
 * the first smaps read to after the last hash; X: the XOR of all hashes, so nothing is
 * optimised away). Exit status 1 if a process could not be read.
 *
 * XXH3 comes from the xxHash header shipped by the npm dependency xxhash-addon, built with
 * -DXXH_INLINE_ALL -O3 -march=native (bench/run.mjs does this).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "xxhash.h"

#define PAGE 4096u
#define PM_CHUNK 65536u /* pagemap entries per read: 512 KiB covering 256 MiB */
#define PM_PRESENT (1ull << 63)
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

enum method { M_VMREADV, M_PREAD };

struct range {
	uint64_t start, end;
};

static enum method method = M_VMREADV;
static int do_hash = 1;
static size_t buf_pages = 256;
static unsigned char *buf;
static uint64_t *pm;
static struct iovec remote[IOV_MAX];
static uint64_t remote_vaddr[IOV_MAX];

static uint64_t *hashes;
static size_t nhashes, cap_hashes;
static uint64_t total_pages, total_bytes;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void store_hashes(size_t pages)
{
	if (nhashes + pages > cap_hashes) {
		cap_hashes = (nhashes + pages) * 3 / 2 + 65536;
		hashes = realloc(hashes, cap_hashes * sizeof *hashes);
		if (!hashes) {
			perror("reference: realloc");
			exit(1);
		}
	}
	uint64_t *out = hashes + nhashes;
	if (do_hash) {
		for (size_t k = 0; k < pages; k++) out[k] = XXH3_64bits(buf + k * PAGE, PAGE);
	} else {
		for (size_t k = 0; k < pages; k++) out[k] = *(const uint64_t *)(buf + k * PAGE);
	}
	nhashes += pages;
	total_pages += pages;
	total_bytes += (uint64_t)pages * PAGE;
}

/* Reads the pending runs into buf, hashes what was read. Returns -1 if the process is gone. */
static int flush(pid_t pid, int memfd, size_t nremote, size_t pages)
{
	if (nremote == 0) return 0;
	size_t got = 0;
	if (method == M_VMREADV) {
		struct iovec local = { buf, pages * PAGE };
		ssize_t n = process_vm_readv(pid, &local, 1, remote, nremote, 0);
		if (n < 0) {
			if (errno == ESRCH) return -1;
			/* EFAULT: the first run was unmapped meanwhile; nothing read. */
			n = 0;
		}
		got = (size_t)n / PAGE;
	} else {
		for (size_t r = 0; r < nremote; r++) {
			size_t want = remote[r].iov_len, done = 0;
			unsigned char *dst = (unsigned char *)buf + got * PAGE;
			while (done < want) {
				ssize_t n = pread(memfd, dst + done, want - done, (off_t)(remote_vaddr[r] + done));
				if (n <= 0) break;
				done += (size_t)n;
			}
			got += done / PAGE;
			if (done < want) break;
		}
	}
	store_hashes(got);
	return 0;
}

static int read_smaps(pid_t pid, struct range **out, size_t *count)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f) return -1;
	size_t n = 0, cap = 256;
	struct range *r = malloc(cap * sizeof *r);
	char line[4096];
	uint64_t start = 0, end = 0;
	int have = 0;
	while (fgets(line, sizeof line, f)) {
		char *dash;
		unsigned long long kb;
		if (line[0] >= 'A' && line[0] <= 'Z') {
			/* "Rss:    1234 kB" decides whether the current VMA is read at all. */
			if (have && line[0] == 'R' && sscanf(line, "Rss: %llu kB", &kb) == 1) {
				if (kb > 0) {
					if (n == cap) r = realloc(r, (cap *= 2) * sizeof *r);
					r[n].start = start;
					r[n].end = end;
					n++;
				}
				have = 0;
			}
			continue;
		}
		dash = strchr(line, '-');
		if (!dash) continue;
		start = strtoull(line, NULL, 16);
		end = strtoull(dash + 1, NULL, 16);
		have = 1;
	}
	fclose(f);
	*out = r;
	*count = n;
	return 0;
}

static int scan_pid(pid_t pid)
{
	struct range *ranges;
	size_t nranges;
	char path[64];
	if (read_smaps(pid, &ranges, &nranges) != 0) {
		fprintf(stderr, "reference: pid %d: cannot read smaps: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		fprintf(stderr, "reference: pid %d: cannot open pagemap: %s\n", (int)pid, strerror(errno));
		free(ranges);
		return -1;
	}
	int memfd = -1;
	if (method == M_PREAD) {
		snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
		memfd = open(path, O_RDONLY | O_CLOEXEC);
		if (memfd < 0) {
			fprintf(stderr, "reference: pid %d: cannot open mem: %s\n", (int)pid, strerror(errno));
			close(pmfd);
			free(ranges);
			return -1;
		}
	}

	int rc = 0;
	size_t nremote = 0, pending = 0; /* runs and pages waiting in remote[] */
	for (size_t ri = 0; ri < nranges && rc == 0; ri++) {
		uint64_t first = ranges[ri].start / PAGE, last = ranges[ri].end / PAGE;
		for (uint64_t page = first; page < last && rc == 0;) {
			size_t want = (size_t)(last - page < PM_CHUNK ? last - page : PM_CHUNK);
			ssize_t n = pread(pmfd, pm, want * 8, (off_t)(page * 8));
			if (n <= 0) break;
			size_t got = (size_t)n / 8;
			for (size_t k = 0; k < got; k++) {
				if (!(pm[k] & PM_PRESENT)) continue;
				uint64_t va = (page + k) * PAGE;
				/* Extend the last run when contiguous, else start a new one. */
				if (nremote > 0 && remote_vaddr[nremote - 1] + remote[nremote - 1].iov_len == va) {
					remote[nremote - 1].iov_len += PAGE;
				} else {
					if (nremote == IOV_MAX) {
						if (flush(pid, memfd, nremote, pending) < 0) rc = -1;
						nremote = pending = 0;
					}
					remote_vaddr[nremote] = va;
					remote[nremote].iov_base = (void *)(uintptr_t)va;
					remote[nremote].iov_len = PAGE;
					nremote++;
				}
				if (++pending == buf_pages) {
					if (flush(pid, memfd, nremote, pending) < 0) rc = -1;
					nremote = pending = 0;
				}
			}
			page += got;
			if (got < want) break;
		}
	}
	if (rc == 0 && flush(pid, memfd, nremote, pending) < 0) rc = -1;
	if (rc < 0) fprintf(stderr, "reference: pid %d exited during the scan\n", (int)pid);
	if (memfd >= 0) close(memfd);
	close(pmfd);
	free(ranges);
	return rc;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--method") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "vmreadv")) method = M_VMREADV;
			else if (!strcmp(m, "pread")) method = M_PREAD;
			else {
				fprintf(stderr, "reference: unknown method %s\n", m);
				return 2;
			}
		} else if (!strcmp(argv[i], "--buf-kib") && i + 1 < argc) {
			buf_pages = strtoul(argv[++i], NULL, 10) * 1024 / PAGE;
			if (buf_pages == 0) buf_pages = 1;
		} else if (!strcmp(argv[i], "--no-hash")) {
			do_hash = 0;
		} else {
			fprintf(stderr, "usage: reference [--method vmreadv|pread] [--buf-kib N] [--no-hash] PID...\n");
			return 2;
		}
	}
	if (i == argc) {
		fprintf(stderr, "reference: no pid given\n");
		return 2;
	}
	buf = mmap(NULL, buf_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	pm = aligned_alloc(PAGE, PM_CHUNK * 8);
	if (buf == MAP_FAILED || !pm) {
		perror("reference: alloc");
		return 1;
	}
	memset(pm, 0, PM_CHUNK * 8);

	int status = 0;
	double t0 = now();
	for (; i < argc; i++) {
		if (scan_pid((pid_t)strtol(argv[i], NULL, 10)) != 0) status = 1;
	}
	double t1 = now();
	uint64_t x = 0;
	for (size_t k = 0; k < nhashes; k++) x ^= hashes[k];
	printf("pages %llu bytes %llu seconds %.6f method %s xor %016llx\n", (unsigned long long)total_pages,
	       (unsigned long long)total_bytes, t1 - t0, method == M_VMREADV ? "vmreadv" : "pread", (unsigned long long)x);
	return status;
}
