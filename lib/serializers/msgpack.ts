import { Packr } from 'msgpackr'
import type { Serializer } from './index.js'

// Plain MessagePack: maps decode to objects, no msgpackr record extension (other peers don't speak it).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true })

export const msgpackSerializer: Serializer = {
  id: 'msgpack',
  binary: true,
  encode: (message) => packr.pack(message),
  decode: (data) => packr.unpack(data)
}
