import { createHash, timingSafeEqual } from 'node:crypto'
import type { Authenticator, AuthFlow, RealmAuthOptions, TicketOptions } from './index.js'

// Ticket authentication (spec "Ticket-based Authentication"): CHALLENGE [4, "ticket", {}], AUTHENTICATE carries the
// ticket itself; the application decides whether it is good.

export const ticket: Authenticator = {
  method: 'ticket',
  accepts: () => true,
  challenge: () => ({}),
  verify (flow: AuthFlow, signature: string, options: RealmAuthOptions) {
    return (options.ticket as TicketOptions).authenticate(signature, flow.ctx)
  }
}

/**
 * Compares two secrets in constant time (for tickets, API keys…): both are hashed to fixed-length SHA-256 digests
 * first, so neither the content nor the length of the expected value leaks through timing.
 */
export function safeEqual (given: string, expected: string): boolean {
  if (typeof given !== 'string' || typeof expected !== 'string') return false
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}
