/** "1 process", "2 processes": the count, then the word that agrees with it. */
export function plural(n: number, one: string, many: string, count: (n: number) => string = String): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
