import fc from 'fast-check'
import { MSG } from './raw-client.js'

// The operations the exactly-once properties draw (test/exactly-once-property.test.ts, test/attack-endings.test.ts):
// calls started, streamed, answered, canceled in every mode, and pauses between them, so that each ending races the
// others. `call` picks one of the calls started so far (modulo their number).

export type CallOp =
  | { op: 'start', streamed: boolean, timeout: number, progress: boolean }
  | { op: 'chunk', call: number, last: boolean }
  | { op: 'progress', call: number }
  | { op: 'answer', call: number, ok: boolean }
  | { op: 'cancel', call: number, mode: 'skip' | 'kill' | 'killnowait' }
  | { op: 'sleep', ms: number }

export interface CallOpsOptions {
  /** CALL timeouts drawn (0: none). */
  timeouts: number[]
  /** Longest pause between two operations, in ms. */
  maxSleep: number
  /** Weight of the callee's progressive results (0: none drawn). */
  progress: number
  /** Weight of the caller's chunks. */
  chunks: number
}

export function callOps ({ timeouts, maxSleep, progress, chunks }: CallOpsOptions): fc.Arbitrary<CallOp> {
  const weighted: Array<fc.WeightedArbitrary<CallOp>> = [
    { arbitrary: fc.record({ op: fc.constant('start' as const), streamed: fc.boolean(), timeout: fc.constantFrom(...timeouts), progress: fc.boolean() }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('chunk' as const), call: fc.nat(7), last: fc.boolean() }), weight: chunks },
    { arbitrary: fc.record({ op: fc.constant('answer' as const), call: fc.nat(7), ok: fc.boolean() }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('cancel' as const), call: fc.nat(7), mode: fc.constantFrom('skip' as const, 'kill' as const, 'killnowait' as const) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('sleep' as const), ms: fc.integer({ min: 0, max: maxSleep }) }), weight: 2 }
  ]
  if (progress > 0) weighted.splice(2, 0, { arbitrary: fc.record({ op: fc.constant('progress' as const), call: fc.nat(7) }), weight: progress })
  return fc.oneof(...weighted)
}

/** The request id a message to the caller ends (ERROR for a CALL, a RESULT that is not progressive), else undefined. */
export function terminalOf (msg: unknown[]): number | undefined {
  if (msg[0] === MSG.ERROR && msg[1] === MSG.CALL) return msg[2] as number
  if (msg[0] === MSG.RESULT && (msg[2] as Record<string, unknown>).progress !== true) return msg[1] as number
  return undefined
}
