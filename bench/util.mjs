// What the benchmark modules share: medians of rounds, time per call, and the row format.

/** The median of `rounds` results of `f`. */
export async function medianOf(rounds, f) {
  const xs = [];
  for (let i = 0; i < rounds; i++) xs.push(await f());
  xs.sort((a, b) => a - b);
  return xs[Math.floor(rounds / 2)];
}

/** Nanoseconds per call of `f(n)`, which makes n calls. */
export async function perCall(n, f) {
  const start = process.hrtime.bigint();
  await f(n);
  return Number(process.hrtime.bigint() - start) / n;
}

export const row = (label, value, note = "") => console.log(`  ${label.padEnd(52)} ${value}${note}`);
export const us = (ns) => `${(ns / 1000).toFixed(1).padStart(7)} us`;
