import type { ScopeResult } from '../analysis/model-result.js';
import { RMAP_ITEM_BYTES } from '../analysis/model-result.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { Estimate } from './report.js';

const SCOPE_DESCRIPTION: Record<ScopeResult['scope'], string> = {
  'enable-all': 'if KSM were enabled for these processes (prctl PR_SET_MEMORY_MERGE, systemd MemoryKSM=yes)',
  'mergeable-now': 'what KSM merges today: only VMAs already marked mergeable (madvise MADV_MERGEABLE or the prctl)',
};

/** One scope's model result as the report gives it (the top-level estimate, and each group's alone). */
export function estimateOf(s: ScopeResult, naiveDuplicateBytes: number, pageSize: number, settings: KsmSettings): Estimate {
  const metadataBytes = s.rmapItems * RMAP_ITEM_BYTES;
  return {
    scope: s.scope,
    description: SCOPE_DESCRIPTION[s.scope],
    ramFreedBytes: s.ramFreedPages * pageSize,
    ramFreedPages: s.ramFreedPages,
    naiveDuplicateBytes,
    counters: {
      pages_shared: s.pagesShared,
      pages_sharing: s.pagesSharing,
      ksm_zero_pages: s.ksmZeroPages,
      pages_unshared: s.pagesUnshared,
      use_zero_pages: settings.useZeroPages ? 1 : 0,
      max_page_sharing: settings.maxPageSharing,
    },
    rmapItems: s.rmapItems,
    metadataBytes,
    generalProfitBytes: (s.pagesSharing + s.ksmZeroPages) * pageSize - metadataBytes,
    netSavingBytes: s.ramFreedPages * pageSize - metadataBytes,
  };
}

