import type { Report } from '../report/report.js';
import type { Format } from './formats.js';
import type { SortKey } from './process-order.js';

export interface RenderOptions {
  format: Format;
  /** Process rows shown by the formats people read (table, Markdown, HTML); the others have every row. */
  top: number;
  sort: SortKey;
  /** Columns a table is fitted to, and whether it must be ASCII. */
  width: number;
  ascii: boolean;
}

/** The report in the chosen format. Only that format's module is loaded: every module costs resident memory. */
export async function render(report: Report, o: RenderOptions): Promise<string> {
  switch (o.format) {
    case 'table':
      return (await import('./table.js')).renderTable(report, { maxProcesses: o.top, sort: o.sort, width: o.width, ascii: o.ascii });
    case 'plain':
      return (await import('./plain.js')).renderPlain(report, { sort: o.sort, ascii: o.ascii });
    case 'json':
      return (await import('./json.js')).renderJson(report);
    case 'markdown':
      return (await import('./markdown.js')).renderMarkdown(report, { maxProcesses: o.top, sort: o.sort });
    case 'csv':
      return (await import('./csv.js')).renderCsv(report, { sort: o.sort });
    case 'html':
      return (await import('./html.js')).renderHtml(report, { maxProcesses: o.top, sort: o.sort });
  }
}
