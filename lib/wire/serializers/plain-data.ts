// Strict decoding (PROTOCOL §7.1): what a serializer decoded must be plain WAMP data — null (or undefined), booleans,
// finite numbers, strings (well-formed Unicode, dict keys too), binary (Buffer / Uint8Array), lists and plain dicts — nested at most `maxDepth` deep, with no
// value reached twice. msgpackr and cbor-x turn extension types and tags into Dates, Sets, typed arrays, BigInts,
// Tag objects and shared or cyclic references; none of that crosses to peers using another serializer, so it is
// refused here, once, for every serializer (custom ones included). Integers beyond 2^53 (CBOR bignums, as BigInt)
// are integers, so they pass — but JSON cannot carry them: the walk notes them (`carriedBigInt`), and a message
// that must reach peers of every serializer (a PUBLISH) is refused by the broker; a routed call fails only when its
// receiver's serializer cannot encode the value (PROTOCOL §7.1: an error for the request that carried it).
//
// The walk is recursive but bounded by maxDepth, so it cannot overflow the stack. Every value takes at least one
// byte in JSON, MessagePack and CBOR, and a string or binary value at least one byte per character or byte besides,
// so what a frame of n bytes decodes to counts at most n that way: a walk that counts more has met a value twice (a
// shared reference or a cycle) and stops — a small frame can make neither the walk exponential nor a peer's copy
// of a string repeated by reference (cbor-x packed values) huge.

/** Default for the `maxDepth` option: lists and dicts nested in one message, the message list counting as 1. */
export const DEFAULT_MAX_DEPTH = 64

let budget = 0
let limit = DEFAULT_MAX_DEPTH
let bigints = false
let replacements = 0
let counting = false

/** Whether the value last checked held a BigInt (an integer JSON cannot carry). */
export function carriedBigInt (): boolean {
  return bigints
}

/**
 * Why `value`, decoded from a frame of `bytes` bytes, is not plain WAMP data; undefined when it is. With
 * `countReplacements` (msgpack, CBOR), the U+FFFD in its strings are counted for `notUtf8()`.
 */
export function plainDataProblem (value: unknown, bytes: number, maxDepth: number, countReplacements = false): string | undefined {
  budget = bytes
  limit = maxDepth
  bigints = false
  replacements = 0
  counting = countReplacements
  return visit(value, 1)
}

/**
 * How many U+FFFD the strings (and dict keys) of the value last checked hold. msgpackr and cbor-x decode bytes that
 * are not UTF-8 as U+FFFD, so a binary frame whose strings hold more of them than its bytes spell (EF BF BD) held
 * such bytes: `notUtf8()` tells.
 */
export function replacementChars (): number {
  return replacements
}

const REPLACEMENT = Buffer.from('\uFFFD')

/** Whether a frame whose decoded strings hold `replacementChars()` U+FFFD held bytes that are not UTF-8. */
export function notUtf8 (frame: Buffer): boolean {
  let spelled = 0
  for (let at = frame.indexOf(REPLACEMENT); at !== -1 && spelled < replacements; at = frame.indexOf(REPLACEMENT, at + 3)) spelled++
  return spelled < replacements
}

function visit (value: unknown, depth: number): string | undefined {
  if (--budget < 0) return 'a value appears more than once (shared reference or cycle)'
  // undefined is nil: JS clients (wampy, msgpackr, cbor-x) write a property left undefined as msgpack ext 0 / CBOR
  // simple 23; it goes on as nil (or, in JSON dicts, is left out).
  switch (typeof value) {
    case 'string':
      budget -= value.length
      if (budget < 0) return 'a value appears more than once (shared reference or cycle)'
      return text(value)
    case 'boolean':
    case 'undefined':
      return undefined
    case 'bigint':
      bigints = true
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : `${String(value)} is not WAMP data (numbers must be finite)`
    case 'object':
      break
    default:
      return `a ${typeof value} is not WAMP data`
  }
  if (value === null) return undefined
  if (depth > limit) return `lists and dicts are nested deeper than ${limit} (maxDepth)`
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = visit(value[i], depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    for (const key in value) {
      if (text(key) !== undefined) return NOT_UNICODE
      const problem = visit((value as Record<string, unknown>)[key], depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  if (proto === Buffer.prototype || proto === Uint8Array.prototype) {
    budget -= (value as Uint8Array).length
    return budget < 0 ? 'a value appears more than once (shared reference or cycle)' : undefined
  }
  return `a ${describe(value)} is not WAMP data`
}

// JSON can spell a lone surrogate ("\ud800"); msgpackr and cbor-x would write it as bytes that are not UTF-8, which strict
// decoders (autobahn-python, most non-JS msgpack and CBOR libraries) refuse — a JSON publisher could break every
// msgpack and CBOR subscriber. Invalid UTF-8 from msgpack and CBOR peers decodes to U+FFFD: counted (`notUtf8`).
const NOT_UNICODE = 'a string is not well-formed Unicode (a lone surrogate)'

// Both checks cost next to nothing on a one-byte string (V8 knows it holds neither a surrogate nor U+FFFD), which
// most strings are; a regular expression for both would scan every string.
function text (value: string): string | undefined {
  if (!(value as string & { isWellFormed: () => boolean }).isWellFormed()) return NOT_UNICODE
  if (counting) for (let at = value.indexOf('\uFFFD'); at !== -1; at = value.indexOf('\uFFFD', at + 1)) replacements++
  return undefined
}

function describe (value: object): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name
  return typeof name === 'string' && name !== '' ? name : 'non-plain object'
}
