import { Encoder } from 'cbor-x'
import type { Serializer } from './index.js'

// Plain CBOR: maps decode to objects, no cbor-x record/structure extensions (other peers don't speak them).
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, pack: false })

export const cborSerializer: Serializer = {
  id: 'cbor',
  binary: true,
  encode: (message) => encoder.encode(message),
  decode: (data) => encoder.decode(data)
}
