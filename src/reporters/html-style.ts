/** The HTML report's stylesheet: system fonts only (nothing to fetch), colours the charts read too. */
export const PAGE_STYLE = `
:root {
  --ink: #1f2933; --muted: #52606d; --grid: #e4e7eb; --line: #cbd2d9; --card: #f5f7fa;
  --freed: #0f766e; --resident: #9fb3c8; --rest: #d9e2ec; --heat: 29,78,137;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: var(--ink); background: #fff; line-height: 1.45;
}
body { margin: 0 auto; max-width: 1120px; padding: 24px 28px 48px; }
h1 { font-size: 1.05rem; font-weight: 600; color: var(--muted); margin: 0 0 6px; letter-spacing: .02em; }
h2 { font-size: 1.15rem; margin: 36px 0 4px; }
p.answer { font-size: 1.45rem; margin: 0 0 8px; max-width: 60em; }
p.answer strong { color: var(--freed); }
p.meta, p.lead, figcaption, footer { color: var(--muted); font-size: .9rem; }
p.lead { margin: 0 0 12px; max-width: 75em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 20px 0 8px; }
.card { background: var(--card); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: .85rem; }
.card .big { font-size: 1.35rem; font-weight: 600; }
.chart { position: relative; width: 100%; }
table { border-collapse: collapse; font-size: .88rem; margin: 12px 0; width: 100%; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--grid); text-align: left; vertical-align: top; }
th { border-bottom: 1px solid var(--line); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { max-width: 28em; overflow-wrap: anywhere; }
tr.more td { color: var(--muted); font-style: italic; }
ul.notes { padding-left: 1.2em; max-width: 75em; }
ul.notes li { margin: 4px 0; }
details { margin: 8px 0; }
footer { margin-top: 40px; border-top: 1px solid var(--grid); padding-top: 10px; }
@media print { body { max-width: none; } h2 { break-after: avoid; } .chart { break-inside: avoid; } }
`;
