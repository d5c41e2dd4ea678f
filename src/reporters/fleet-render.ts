import type { FleetReport } from '../fleet/fleet-report.js';

/** What `samepage fleet --format` takes. */
export const FLEET_FORMATS = ['table', 'json', 'html'] as const;
export type FleetFormat = (typeof FLEET_FORMATS)[number];

export interface FleetRenderOptions {
  format: FleetFormat;
  /** Rows of each list the table and the page show (pairs, guests, moves). */
  top: number;
  width: number;
  ascii: boolean;
}

/** The fleet report in the chosen format; only that format's module is loaded. */
export async function renderFleet(report: FleetReport, o: FleetRenderOptions): Promise<string> {
  switch (o.format) {
    case 'table':
      return (await import('./fleet-table.js')).renderFleetTable(report, { top: o.top, width: o.width, ascii: o.ascii });
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'html':
      return (await import('./fleet-html.js')).renderFleetHtml(report, { top: o.top });
  }
}
