import { packStored, unpackStored } from '../wire/serializers/msgpack.js'
import { isDict } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { PublishFilter } from '../pubsub/publish-filter.js'
import type { PublishRules } from '../pubsub/publish-filter.js'
import type { RemotePublication } from './fanout.js'
import { traceContextFromWire, traceContextToWire } from '../trace-context.js'

// A publication between instances, serialized once per publish:
//   8 bytes  origin instance id (read without decoding, so an instance drops its own echo cheaply)
//   msgpack  [1, realm, topic, publicationId, args, kwargs, publisher | null, rules | null, trace?]
//            rules = [eligible, exclude, eligible_authid, exclude_authid, eligible_authrole, exclude_authrole]
//            trace = [traceparent, tracestate | null], only when the publication has a W3C trace context (so a
//            publication without one stays readable by instances that predate it)
// `undefined` keeps msgpackr's own encoding, so payloads come out exactly as a local publish would send them.

const VERSION = 1
export const ORIGIN_BYTES = 8

export function encodePublication (origin: Buffer, p: RemotePublication): Buffer {
  const rules = p.filter === undefined || p.filter.onlySkips ? null : packRules(p.filter.rules())
  const fields: unknown[] = [VERSION, p.realm, p.topic, p.publicationId, p.args, p.kwargs, p.publisher ?? null, rules]
  if (p.trace !== undefined) fields.push(traceContextToWire(p.trace))
  const body = packStored(fields)
  const out = Buffer.allocUnsafe(ORIGIN_BYTES + body.length)
  origin.copy(out, 0, 0, ORIGIN_BYTES)
  body.copy(out, ORIGIN_BYTES)
  return out
}

/** True when `data` was published by the instance `origin`. */
export function isFrom (origin: Buffer, data: Buffer): boolean {
  return data.length >= ORIGIN_BYTES && origin.compare(data, 0, ORIGIN_BYTES, 0, ORIGIN_BYTES) === 0
}

/** Decodes a publication; throws with a reason when the bytes are not one (another program on our channels). */
export function decodePublication (data: Buffer): RemotePublication {
  if (data.length <= ORIGIN_BYTES) throw new Error('fan-out message too short')
  const m = unpackStored(data.subarray(ORIGIN_BYTES)) as unknown
  if (!Array.isArray(m) || (m.length !== 8 && m.length !== 9) || m[0] !== VERSION) throw new Error('not a fastify-wamp fan-out message')
  const [, realm, topic, publicationId, args, kwargs, publisher, rules, trace] = m as unknown[]
  if (typeof realm !== 'string' || typeof topic !== 'string' || typeof publicationId !== 'number' ||
    (args !== undefined && !Array.isArray(args)) || (kwargs !== undefined && !isDict(kwargs)) ||
    (publisher !== null && !isDict(publisher)) || (rules !== null && !Array.isArray(rules))) {
    throw new Error('malformed fastify-wamp fan-out message')
  }
  return {
    realm,
    topic,
    publicationId,
    args: args as unknown[] | undefined,
    kwargs: kwargs as Kwargs | undefined,
    publisher: publisher === null ? undefined : publisher as Details,
    filter: rules === null ? undefined : new PublishFilter(unpackRules(rules as unknown[])),
    trace: traceContextFromWire(trace)
  }
}

function packRules (r: PublishRules): unknown[] {
  return [r.eligible ?? null, r.exclude ?? null, r.eligibleAuthid ?? null, r.excludeAuthid ?? null,
    r.eligibleAuthrole ?? null, r.excludeAuthrole ?? null]
}

function unpackRules (r: unknown[]): PublishRules {
  const list = <T>(v: unknown): T[] | undefined => (Array.isArray(v) ? v as T[] : undefined)
  return {
    eligible: list<number>(r[0]),
    exclude: list<number>(r[1]),
    eligibleAuthid: list<string>(r[2]),
    excludeAuthid: list<string>(r[3]),
    eligibleAuthrole: list<string>(r[4]),
    excludeAuthrole: list<string>(r[5])
  }
}
