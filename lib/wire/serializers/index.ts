import { jsonSerializer } from './json.js'
import { msgpackSerializer } from './msgpack.js'
import { cborAvailable, cborSerializer } from './cbor.js'
import { truncated } from '../uris.js'

/**
 * A WAMP serializer. Add your own by passing it in the plugin's `serializers` option; it is offered under
 * `wamp.2.<id>`. `decode` may throw on bad input: the session answers with ABORT protocol_violation.
 */
export interface Serializer {
  /** Name after `wamp.2.`, e.g. `json` → subprotocol `wamp.2.json`. */
  readonly id: string
  /** Binary serializers use binary WebSocket frames, text serializers text frames. */
  readonly binary: boolean
  encode (message: unknown[]): string | Buffer
  decode (data: Buffer): unknown
}

/** json and msgpack always; cbor when cbor-x is installed (lib/wire/serializers/cbor.ts loads it on first use). */
export const builtinSerializers: readonly Serializer[] = cborAvailable()
  ? [jsonSerializer, msgpackSerializer, cborSerializer]
  : [jsonSerializer, msgpackSerializer]

/** A subprotocol this server offers: its serializer, and whether it batches messages (lib/wire/batch.ts). */
export interface Subprotocol {
  readonly serializer: Serializer
  readonly batched: boolean
}

/** The serializer ids whose batched variant (`wamp.2.<id>.batched`) the WAMP spec defines. */
const BATCHABLE = ['json', 'msgpack', 'cbor']

/**
 * Subprotocol → serializer, for the ones this server offers: `wamp.2.<id>` for every serializer, and
 * `wamp.2.<id>.batched` for json, msgpack and cbor (with the serializer used for `wamp.2.<id>`, custom or not).
 */
export function serializerTable (extra: readonly Serializer[] = []): Map<string, Subprotocol> {
  const table = new Map<string, Subprotocol>()
  for (const serializer of [...builtinSerializers, ...extra]) table.set(`wamp.2.${serializer.id}`, { serializer, batched: false })
  for (const id of BATCHABLE) {
    const plain = table.get(`wamp.2.${id}`)
    if (plain !== undefined) table.set(`wamp.2.${id}.batched`, { serializer: plain.serializer, batched: true })
  }
  return table
}

/** The first subprotocol in the client's order that the server supports (PROTOCOL §1.1). */
export function chooseSubprotocol (offered: string | undefined, table: Map<string, Subprotocol>): string | undefined {
  if (offered === undefined) return undefined
  for (const raw of offered.split(',')) {
    const protocol = raw.trim()
    if (table.has(protocol)) return protocol
  }
  return undefined
}

export { jsonSerializer, msgpackSerializer, cborSerializer }

/** Why a serializer threw, for a log line or an error message (at most 200 characters). */
export function describeError (err: unknown): string {
  if (err instanceof RangeError && err.message.includes('call stack')) return 'nested too deeply'
  return truncated(err instanceof Error ? err.message : String(err), 200)
}
