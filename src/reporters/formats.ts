/** What --format takes. */
export const FORMATS = ['table', 'plain', 'json', 'markdown', 'csv', 'html'] as const;
export type Format = (typeof FORMATS)[number];
