import { Packr } from 'msgpackr'
import type { Serializer } from './index.js'
import { widenIntegers } from './integers.js'

// Plain MessagePack: maps decode to objects, no msgpackr record extension (other peers don't speak it), 64-bit
// integers decode as numbers, and `undefined` goes out as nil (msgpackr's own encoding of it breaks msgpack5).
// Structured-clone extensions (0x69/0x70: shared references and cycles) are refused while decoding; every other
// extension type decodes to something that the session's plain-data check refuses (lib/wire/serializers/plain-data.ts).
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  variableMapSize: true,
  encodeUndefinedAsNil: true
})

export const msgpackSerializer: Serializer = {
  id: 'msgpack',
  binary: true,
  encode: (message) => packr.pack(widenIntegers(message)),
  decode: (data) => packr.unpack(data)
}
