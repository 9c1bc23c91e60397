// msgpackr and cbor-x write integers beyond 32 bits as float64. WAMP ids go up to 2^53, and strict peers
// (autobahn-python, typed clients) reject a float where an id belongs. So integers above 32 bits in the message
// envelope and in its dicts (details, options, kwargs) go out as BigInt, which both encoders write as 64-bit integers.
// The message is copied only when that happens (the same array may be encoded for several serializers).

import { isDict } from '../messages.js'

const WIDE = 0xffffffff

function wide (value: unknown): value is number {
  return typeof value === 'number' && (value > WIDE || value < -0x80000000) && Number.isSafeInteger(value)
}

function widenDict (dict: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined
  for (const key in dict) {
    const value = dict[key]
    if (wide(value)) (copy ??= { ...dict })[key] = BigInt(value)
  }
  return copy ?? dict
}

export function widenIntegers (message: unknown[]): unknown[] {
  let copy: unknown[] | undefined
  for (let i = 0; i < message.length; i++) {
    const value = message[i]
    let widened: unknown = value
    if (wide(value)) widened = BigInt(value)
    else if (isDict(value)) widened = widenDict(value)
    if (widened !== value) (copy ??= message.slice())[i] = widened
  }
  return copy ?? message
}
