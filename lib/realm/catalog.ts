import { isDict } from '../wire/messages.js'
import { isValidUri } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import type { PayloadSchema } from '../validation.js'
import type { InvokePolicy } from '../rpc/registry.js'
import { FST_WAMP_INVALID_OPTION, FST_WAMP_INVALID_URI } from '../errors.js'
import type { Realm } from './realm.js'

// A realm's catalog: the procedures and topics it offers, with the schemas they were declared with. What
// reflection (lib/realm/reflection.ts) and the API document (lib/asyncapi/) are built from. Never on a hot path:
// it is assembled when asked, from the dealer's and broker's own tables, so it cannot drift from what is served.

/** One procedure a client of the realm can call. */
export interface ProcedureEntry {
  readonly uri: string
  readonly match: MatchPolicy
  /** `application`: `register()`ed by the app; `client`: a client's REGISTER routed to the others (router mode). */
  readonly provider: 'application' | 'client'
  /** As registered (application) or described with `describeProcedure()` (client); undefined: not described. */
  readonly schema: PayloadSchema | undefined
  /** The invocation policy of a client registration. */
  readonly invoke: InvokePolicy | undefined
  /** An application procedure that takes streamed input (`input: 'stream'`). */
  readonly streamed: boolean
}

/** One topic of the realm. */
export interface TopicEntry {
  readonly uri: string
  /** The first schema a `subscribe(topic, schema, handler)` gave, overridden field by field by `describeTopic()`'s. */
  readonly schema: PayloadSchema | undefined
  /** The application handles client publications to it (`subscribe(topic, …)`). */
  readonly handled: boolean
  /** The application described it with `describeTopic()` (it publishes there). */
  readonly described: boolean
}

export class Catalog {
  private readonly realm: Realm
  /** `describeTopic()`: topics the application publishes to, with their payload schemas. */
  private readonly topicSchemas: Map<string, PayloadSchema>
  /** `describeProcedure()`: schemas of procedures that clients provide (router mode). */
  private readonly procedureSchemas: Map<string, PayloadSchema>

  constructor (realm: Realm) {
    this.realm = realm
    this.topicSchemas = new Map()
    this.procedureSchemas = new Map()
  }

  describeTopic (topic: string, schema: PayloadSchema): void {
    if (!isValidUri(topic)) throw new FST_WAMP_INVALID_URI(topic, 'a topic')
    checkSchema(topic, schema)
    this.topicSchemas.set(topic, schema)
  }

  describeProcedure (uri: string, schema: PayloadSchema, match: MatchPolicy = 'exact'): void {
    if (!isValidUri(uri, match)) throw new FST_WAMP_INVALID_URI(uri, 'a procedure')
    checkSchema(uri, schema)
    this.procedureSchemas.set(key(uri, match), schema)
  }

  /** Every procedure clients can call, by URI then match policy. The application's win over a client's of the same URI. */
  procedures (): ProcedureEntry[] {
    const entries = new Map<string, ProcedureEntry>()
    for (const p of this.realm.dealer.list()) {
      entries.set(key(p.uri, p.match), { uri: p.uri, match: p.match, provider: 'application', schema: p.schema, invoke: undefined, streamed: p.streamed })
    }
    if (this.realm.dealer.router !== undefined) {
      for (const r of this.realm.dealer.registry.byId.values()) {
        const k = key(r.uri, r.match)
        if (!r.routed || entries.has(k)) continue
        entries.set(k, { uri: r.uri, match: r.match, provider: 'client', schema: this.procedureSchemas.get(k), invoke: r.invoke, streamed: false })
      }
    }
    return [...entries.values()].sort(byUri)
  }

  /** The procedure registered as exactly (uri, match), if clients can call it. */
  procedure (uri: string, match: MatchPolicy = 'exact'): ProcedureEntry | undefined {
    return this.procedures().find((p) => p.uri === uri && p.match === match)
  }

  /** Every topic the application handles or described, by URI. */
  topics (): TopicEntry[] {
    const entries = new Map<string, TopicEntry>()
    for (const [uri, schema] of this.realm.broker.handlers.handled()) {
      const described = this.topicSchemas.get(uri)
      const merged = described === undefined ? schema : { ...schema, ...described }
      entries.set(uri, { uri, schema: merged, handled: true, described: described !== undefined })
    }
    for (const [uri, schema] of this.topicSchemas) {
      if (!entries.has(uri)) entries.set(uri, { uri, schema, handled: false, described: true })
    }
    return [...entries.values()].sort(byUri)
  }

  topic (uri: string): TopicEntry | undefined {
    return this.topics().find((t) => t.uri === uri)
  }
}

function key (uri: string, match: MatchPolicy): string {
  return `${match} ${uri}`
}

function byUri (a: { uri: string, match?: MatchPolicy }, b: { uri: string, match?: MatchPolicy }): number {
  if (a.uri !== b.uri) return a.uri < b.uri ? -1 : 1
  return (a.match ?? '') < (b.match ?? '') ? -1 : (a.match ?? '') > (b.match ?? '') ? 1 : 0
}

function checkSchema (uri: string, schema: unknown): void {
  if (!isDict(schema)) throw new FST_WAMP_INVALID_OPTION(`"${uri}": the schema must be an object { args?, kwargs?, result?, description?, errors? }`)
  if (schema.description !== undefined && typeof schema.description !== 'string') {
    throw new FST_WAMP_INVALID_OPTION(`"${uri}": description must be a string`)
  }
  if (schema.errors !== undefined && !isDict(schema.errors)) {
    throw new FST_WAMP_INVALID_OPTION(`"${uri}": errors must be an object of descriptions or schemas by error URI`)
  }
}
