import { Packr } from 'msgpackr'
import type { Options } from 'msgpackr'
import type { Serializer } from './index.js'
import { widenIntegers } from './integers.js'
import { keepingProtoKeys } from './proto-keys.js'

// Plain MessagePack: maps decode to objects, no msgpackr record extension (other peers don't speak it), 64-bit
// integers decode as numbers, and `undefined` goes out as nil (msgpackr's own encoding of it breaks msgpack5).
// Structured-clone extensions (0x69/0x70: shared references and cycles) are refused while decoding; every other
// extension type decodes to something that the session's plain-data check refuses (lib/wire/serializers/plain-data.ts).
// A "__proto__" key decodes as that key (./proto-keys.ts).
const WIRE: Options = {
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  variableMapSize: true,
  encodeUndefinedAsNil: true
}
const packr = new Packr(WIRE)

export const msgpackSerializer: Serializer = {
  id: 'msgpack',
  binary: true,
  encode: (message) => packr.pack(widenIntegers(message)),
  decode: unpacker(WIRE)
}

// What instances exchange through Redis and keep there (cluster messages, event history, testaments): the same
// MessagePack, except that `undefined` keeps msgpackr's own encoding, so a payload reaches another instance's peers
// exactly as a local one would send it.
const STORED: Options = { useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true }
const stored = new Packr(STORED)

/** Encodes a value for another instance or for Redis. */
export function packStored (value: unknown): Buffer {
  return stored.pack(value)
}

/** Decodes what `packStored` encoded; throws on bytes that are not MessagePack. */
export const unpackStored = unpacker(STORED)

function unpacker (options: Options): (data: Buffer) => unknown {
  const objects = new Packr(options)
  const maps = new Packr({ ...options, mapsAsObjects: false })
  return keepingProtoKeys((data) => objects.unpack(data), (data) => maps.unpack(data))
}
