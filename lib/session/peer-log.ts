import type { Session } from './session.js'

// Log lines a peer can cause at will — a refused request, a dropped publication, a message it made us unable to
// send — are bounded per session, or one client could fill the disks of the logging pipeline. Each session may log
// a burst of PEER_LOG_BURST such lines, then PEER_LOG_RATE a second; the lines held back are counted and the count
// goes out with the next line logged (`suppressed`). Lines about the server itself are never held back.

/** Log lines a session's peer can cause in a burst. */
export const PEER_LOG_BURST = 100
/** Log lines a second a session's peer can cause after the burst. */
export const PEER_LOG_RATE = 10

/** A session's allowance: tokens left, when they were last counted, and the lines held back since the last one. */
export class PeerLogBudget {
  private tokens: number
  private at: number
  private held: number

  constructor () {
    this.tokens = PEER_LOG_BURST
    this.at = Date.now()
    this.held = 0
  }

  /** -1: hold this line back; otherwise how many lines were held back before it (0 for none). */
  take (): number {
    const now = Date.now()
    this.tokens = Math.min(PEER_LOG_BURST, this.tokens + (now - this.at) * PEER_LOG_RATE / 1000)
    this.at = now
    if (this.tokens < 1) {
      this.held++
      return -1
    }
    this.tokens--
    const held = this.held
    this.held = 0
    return held
  }
}

/** Logs a line `session`'s peer caused, within the session's budget. */
export function peerLog (session: Session, level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
  const held = (session.peerLogBudget ??= new PeerLogBudget()).take()
  if (held < 0) return
  if (held > 0) fields.suppressed = held
  session.log[level](fields, message)
}
