// The progressive call invocations a caller has started (PROTOCOL §7.4, spec "Continuations on Completed Calls").
// A streamed call can end before the caller's final chunk: a result, an error, a timeout, a cancel, a refusal.
// The caller's chunks still in flight must then be dropped without any answer, not taken for new calls. So a
// stream is remembered from its first chunk until its final one (`progress` absent or false); once its call has
// ended, the entry is a tombstone that swallows that request id's chunks until the final one — or until the caller
// has sent nothing for it for `streamGrace` ms since the call ended; then the id is free again. Entries live outside `session.calls`, so they never
// count against `maxCallsPerSession`; there are at most `maxCallsPerSession` of them, the oldest ended one yields.

interface StreamEntry { uri: string, until: number }

export class CallerStreams {
  private readonly entries: Map<number, StreamEntry>
  private readonly live: ReadonlyMap<number, unknown>
  private readonly max: number
  private readonly grace: number

  /** `live`: the session's calls in flight (an entry whose call is in flight is never evicted). */
  constructor (live: ReadonlyMap<number, unknown>, max: number, grace: number) {
    this.entries = new Map()
    this.live = live
    this.max = max
    this.grace = grace
  }

  get size (): number {
    return this.entries.size
  }

  /**
   * A CALL for a request id that has no call in flight: true when it continues a stream whose call already ended
   * (same id and procedure, within the grace period) — the caller drops it; its final chunk frees the id.
   */
  swallows (requestId: number, uri: string, last: boolean): boolean {
    const entry = this.entries.get(requestId)
    if (entry === undefined) return false
    if (entry.uri !== uri || entry.until < Date.now()) {
      this.entries.delete(requestId)
      return false
    }
    if (last) this.entries.delete(requestId)
    else entry.until = Date.now() + this.grace
    return true
  }

  /** The first chunk of a stream (before it is admitted, so a refusal also swallows the rest). */
  started (requestId: number, uri: string): void {
    if (this.entries.size >= this.max) this.evict()
    this.entries.set(requestId, { uri, until: Date.now() + this.grace })
  }

  /** The final chunk reached the call in flight: the id is free once the call ends. */
  finished (requestId: number): void {
    this.entries.delete(requestId)
  }

  /** The call of `requestId` ended; if the caller is still streaming, its chunks are swallowed from now on. */
  ended (requestId: number): void {
    const entry = this.entries.get(requestId)
    if (entry !== undefined) entry.until = Date.now() + this.grace
  }

  clear (): void {
    this.entries.clear()
  }

  private evict (): void {
    for (const id of this.entries.keys()) {
      if (!this.live.has(id)) {
        this.entries.delete(id)
        return
      }
    }
    const oldest = this.entries.keys().next()
    if (oldest.done !== true) this.entries.delete(oldest.value)
  }
}
