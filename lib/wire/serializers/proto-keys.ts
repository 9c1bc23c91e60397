// msgpackr and cbor-x decode a map key "__proto__" as "__proto_" (their guard against prototype pollution), so a
// msgpack or CBOR peer's {"__proto__": 1} would reach every other peer, and the application, as {"__proto_": 1},
// where JSON.parse keeps the key. A message whose bytes hold "__proto__" anywhere (a key, or part of a string: rare)
// is decoded with maps as Maps instead, and each Map becomes a plain object whose keys, "__proto__" among them, are
// defined as own properties, never assigned: the object's prototype stays Object.prototype, as with JSON.parse.
// Every other message takes the decoder's own path, for the cost of a search of its bytes (one for an underscore,
// ~10 ns, and for the key only from the first one on: a message without '_' costs no more).

type Decode = (data: Buffer) => unknown

const PROTO = Buffer.from('__proto__')
const UNDERSCORE = 0x5f

/** `fast` (maps as objects) unless `data` holds "__proto__"; then `maps` (maps as Maps), turned into objects. */
export function keepingProtoKeys (fast: Decode, maps: Decode): Decode {
  return (data) => holdsProto(data) ? objectsOf(maps(data), data.length) : fast(data)
}

function holdsProto (data: Buffer): boolean {
  const at = data.indexOf(UNDERSCORE)
  return at !== -1 && data.includes(PROTO, at)
}

/** Values left to convert: every list or map takes a byte at least, so more than the message's bytes is a cycle. */
let budget = 0

function objectsOf (value: unknown, bytes: number): unknown {
  budget = bytes
  return convert(value)
}

function convert (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (--budget < 0) throw new Error('a value appears more than once (shared reference or cycle)')
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = convert(value[i])
    return value
  }
  if (!(value instanceof Map)) return value // binary, or what the plain-data check refuses (dates, tags, sets…)
  const object: Record<string, unknown> = {}
  for (const [key, item] of value as Map<unknown, unknown>) {
    Object.defineProperty(object, keyOf(key), { value: convert(item), enumerable: true, writable: true, configurable: true })
  }
  return object
}

/** A map key as the decoders' own path turns it into a property name (numbers, booleans and nil as text). */
function keyOf (key: unknown): string {
  switch (typeof key) {
    case 'string': return key
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined': return String(key)
    default:
      if (key === null) return 'null'
      throw new Error(`a ${typeof key} is not a map key (keys are strings)`)
  }
}
