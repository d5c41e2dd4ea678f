// The fleet's questions in SQL that DuckDB and Spark SQL both run, over the tables an export
// writes (docs/fleet.md). docs/fleet.md quotes each query whole; test/unit/fleet-sql-doc.test.ts
// holds the page and this file equal and runs the page's SQL on DuckDB.
//
//   pages      host, source, guest, content, zero, eligible, mergeable_now, pages
//   host_keys  host, host_key     (a random 52-bit number per host: sets of hosts by their sum)
//   guest_keys host, guest, guest_key
//   placement  host, guest, planned_host   (for placement_sharing only)

/** Per host: resident pages, distinct contents, zero-filled, eligible, duplicates within and across sources. */
export const HOST_FIGURES = `WITH per_source AS (
  SELECT host, source, content,
         MAX(CASE WHEN zero THEN 1 ELSE 0 END) AS zero,
         SUM(CASE WHEN eligible THEN pages ELSE 0 END) AS eligible,
         SUM(pages) AS pages
  FROM pages
  GROUP BY host, source, content
), per_host AS (
  SELECT host, content, MAX(zero) AS zero, SUM(eligible) AS eligible,
         SUM(pages) AS pages, COUNT(*) AS sources
  FROM per_source
  GROUP BY host, content
)
SELECT host,
       SUM(pages) AS resident_pages,
       COUNT(*) AS distinct_contents,
       SUM(zero * pages) AS zero_filled_pages,
       SUM(eligible) AS eligible_pages,
       SUM(pages) - COUNT(*) AS duplicate_pages,
       SUM(pages - sources) AS dup_within_source,
       SUM(sources - 1) AS dup_across_sources
FROM per_host
GROUP BY host
ORDER BY host`;

/** The fleet: contents counted once per host holding them, and once in all. */
export const FLEET_CONTENTS = `WITH held AS (
  SELECT DISTINCT host, content FROM pages
)
SELECT COUNT(*) AS host_contents,
       COUNT(DISTINCT content) AS fleet_distinct_contents
FROM held`;

/**
 * Host x host: distinct non-zero contents both hold. Contents held by the same set of hosts are
 * counted together (a set is named by the sum of its hosts' keys), so the pairs cost one row
 * per set and host, not one per content and pair of hosts.
 */
export const HOST_PAIRS = `WITH held AS (
  SELECT DISTINCT host, content FROM pages WHERE NOT zero
), sets AS (
  SELECT h.content, SUM(k.host_key) AS signature
  FROM held h JOIN host_keys k ON h.host = k.host
  GROUP BY h.content
  HAVING COUNT(*) > 1
), sizes AS (
  SELECT signature, COUNT(*) AS contents, MIN(content) AS example
  FROM sets
  GROUP BY signature
), members AS (
  SELECT z.signature, z.contents, h.host
  FROM sizes z JOIN held h ON h.content = z.example
)
SELECT a.host AS a, b.host AS b, SUM(a.contents) AS shared_pages
FROM members a JOIN members b ON a.signature = b.signature AND a.host < b.host
GROUP BY a.host, b.host
ORDER BY shared_pages DESC, a, b`;

/** Every guest: where it runs today, its resident pages and distinct contents. */
export const GUESTS = `SELECT host, guest, SUM(pages) AS resident_pages,
       COUNT(DISTINCT content) AS distinct_contents
FROM pages
WHERE guest IS NOT NULL
GROUP BY host, guest
ORDER BY host, guest`;

/** Guest x guest, as host x host. */
export const GUEST_PAIRS = `WITH held AS (
  SELECT DISTINCT host, guest, content FROM pages
  WHERE guest IS NOT NULL AND NOT zero
), sets AS (
  SELECT h.content, SUM(k.guest_key) AS signature
  FROM held h JOIN guest_keys k ON h.host = k.host AND h.guest = k.guest
  GROUP BY h.content
  HAVING COUNT(*) > 1
), sizes AS (
  SELECT signature, COUNT(*) AS contents, MIN(content) AS example
  FROM sets
  GROUP BY signature
), members AS (
  SELECT z.signature, z.contents, h.host, h.guest
  FROM sizes z JOIN held h ON h.content = z.example
)
SELECT a.host AS a_host, a.guest AS a_guest, b.host AS b_host, b.guest AS b_guest,
       SUM(a.contents) AS shared_pages
FROM members a JOIN members b ON a.signature = b.signature
  AND (a.host < b.host OR (a.host = b.host AND a.guest < b.guest))
GROUP BY a.host, a.guest, b.host, b.guest
ORDER BY shared_pages DESC, a_host, a_guest, b_host, b_guest`;

/** Guests placed as `placement` says: per host, their pages and the distinct contents among them. */
export const PLACEMENT_SHARING = `SELECT pl.planned_host AS host, SUM(p.pages) AS guest_pages,
       COUNT(DISTINCT p.content) AS distinct_contents
FROM pages p JOIN placement pl ON p.host = pl.host AND p.guest = pl.guest
GROUP BY pl.planned_host
ORDER BY host`;

/** The queries by the names docs/fleet.md gives them. */
export const FLEET_QUERIES = {
  host_figures: HOST_FIGURES,
  fleet_contents: FLEET_CONTENTS,
  host_pairs: HOST_PAIRS,
  guests: GUESTS,
  guest_pairs: GUEST_PAIRS,
  placement_sharing: PLACEMENT_SHARING,
} as const;
