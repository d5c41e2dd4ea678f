import type { Report } from '../report/report.js';

/** The report as JSON (schema: docs/report-schema.md). */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
