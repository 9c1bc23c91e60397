import { randomFillSync } from 'node:crypto'

// Global-scope ids (sessions, publications, subscriptions, registrations): uniformly random in [1, 2^53],
// drawn from a CSPRNG (spec "IDs"). Random bytes are taken from a pool so one id costs no syscall.
const POOL_SIZE = 8 * 512
const pool = Buffer.allocUnsafe(POOL_SIZE)
let offset = POOL_SIZE

export function randomId (): number {
  if (offset === POOL_SIZE) {
    randomFillSync(pool)
    offset = 0
  }
  const high = pool.readUInt32BE(offset) >>> 11 // 21 bits
  const low = pool.readUInt32BE(offset + 4)
  offset += 8
  return high * 0x100000000 + low + 1
}

/** Draws a random id not present in `taken`. */
export function uniqueId (taken: { has (id: number): boolean }): number {
  let id = randomId()
  while (taken.has(id)) id = randomId()
  return id
}

export const MAX_ID = 2 ** 53

export function isId (value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_ID
}
