/** No kind of active resource (Timeout, TCPSocketWrap, …) is more numerous than in `baseline` (a sorted snapshot of process.getActiveResourcesInfo()). */
export function withinBaseline (baseline: string[]): boolean {
  const left = new Map<string, number>()
  for (const r of baseline) left.set(r, (left.get(r) ?? 0) + 1)
  for (const r of process.getActiveResourcesInfo()) {
    const n = left.get(r) ?? 0
    if (n === 0) return false
    left.set(r, n - 1)
  }
  return true
}
