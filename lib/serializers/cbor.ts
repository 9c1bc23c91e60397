import { Encoder } from 'cbor-x'
import type { Options } from 'cbor-x'
import type { Serializer } from './index.js'
import { widenIntegers } from './integers.js'

// Plain CBOR: maps decode to objects, no cbor-x record/structure extensions (other peers don't speak them), and
// 64-bit integers decode as numbers (autobahn sends ids ≥ 2^32 as uint64; ids never exceed 2^53). cbor-x has no
// switch for its tags (dates, bignums, typed arrays, sets, shared references 28/29…): what they decode to is refused
// by the session's plain-data check (lib/serializers/plain-data.ts).
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  pack: false,
  int64AsNumber: true
} as Options & { int64AsNumber: boolean })

export const cborSerializer: Serializer = {
  id: 'cbor',
  binary: true,
  encode: (message) => encoder.encode(widenIntegers(message)),
  decode: (data) => encoder.decode(data)
}
