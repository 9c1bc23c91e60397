import { createRequire } from 'node:module'
import type { Encoder, Options } from 'cbor-x'
import type { Serializer } from './index.js'
import { widenIntegers } from './integers.js'
import { keepingProtoKeys } from './proto-keys.js'

// Plain CBOR: maps decode to objects, no cbor-x record/structure extensions (other peers don't speak them), and
// 64-bit integers decode as numbers (autobahn sends ids ≥ 2^32 as uint64; ids never exceed 2^53). cbor-x has no
// switch for its tags (dates, bignums, typed arrays, sets, shared references 28/29…): what they decode to is refused
// by the session's plain-data check (lib/wire/serializers/plain-data.ts). A "__proto__" key decodes as that key
// (./proto-keys.ts).
//
// cbor-x is loaded on first use (issue 19): an app whose clients never offer wamp.2.cbor never loads it (≈ 35 ms
// and a few MB), and when it is not installed the server simply does not offer wamp.2.cbor.
const require = createRequire(import.meta.url)
let encoder: Encoder | undefined
/** The same, maps decoded as Maps (./proto-keys.ts). */
let mapDecoder: Encoder | undefined

function cbor (): Encoder {
  if (encoder !== undefined) return encoder
  const { Encoder } = require('cbor-x') as typeof import('cbor-x')
  const options = {
    useRecords: false,
    mapsAsObjects: true,
    tagUint8Array: false,
    pack: false,
    int64AsNumber: true
  } as Options & { int64AsNumber: boolean }
  encoder = new Encoder(options)
  mapDecoder = new Encoder({ ...options, mapsAsObjects: false })
  return encoder
}

/** Whether cbor-x can be loaded (it may be left out of an install that does not need CBOR). */
export function cborAvailable (): boolean {
  try {
    require.resolve('cbor-x')
    return true
  } catch {
    return false
  }
}

export const cborSerializer: Serializer = {
  id: 'cbor',
  binary: true,
  encode: (message) => cbor().encode(widenIntegers(message)),
  decode: keepingProtoKeys((data) => cbor().decode(data), (data) => {
    cbor()
    return (mapDecoder as Encoder).decode(data)
  })
}
