const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : value.toFixed(value >= 100 ? 0 : 1);
  return `${bytes < 0 ? '-' : ''}${text} ${UNITS[unit]}`;
}

/**
 * 1234567 -> "1,234,567". By hand rather than toLocaleString('en-US'), which loads ICU's locale
 * data: 7 MiB of resident memory on Node 20, for commas.
 */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+$)/g, ',');
}

export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '-';
  return `${((100 * part) / whole).toFixed(1)}%`;
}
