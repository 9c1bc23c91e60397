import type { Details } from '../wire/messages.js'
import type { Realm } from '../realm/realm.js'
import type { ProcedureEntry, TopicEntry } from '../realm/catalog.js'
import { errorDetails, payloadSchemas } from '../realm/reflection.js'
import type { ArgsSchema } from '../validation.js'

// An AsyncAPI 3.0 document for one realm, built from its catalog (lib/realm/catalog.ts). It describes the server
// application: a procedure is a channel on which it receives CALLs and replies with a RESULT (or one of the
// declared ERRORs); a topic it describes (`describeTopic`) is a channel it sends EVENTs on; a topic it handles
// (`subscribe`) is one it receives PUBLISHes on. A message's payload is `{ args, kwargs }`, each the JSON Schema
// the application gave. The WAMP specifics (realm, subprotocols, match policy) are in `x-wamp-*` extensions.

/** What the document says about the API; the rest comes from the realm and the request. */
export interface AsyncApiInfo {
  /** Default: `<realm> (fastify-wamp)`. */
  title?: string
  /** The API's version. Default `1.0.0`. */
  version?: string
  description?: string
}

export interface DocumentInput {
  realm: Realm
  info: AsyncApiInfo
  /** `host[:port]` the clients connect to. */
  host: string
  protocol: 'ws' | 'wss'
  /** The WebSocket route's path. */
  pathname: string
  /** The subprotocols offered, e.g. `wamp.2.json`. */
  subprotocols: string[]
  /** Security schemes to add or replace, by name (AsyncAPI Security Scheme Objects). */
  securitySchemes: Record<string, Details>
  /** Also document the `wamp.*` procedures (meta API, reflection). */
  includeReserved: boolean
}

const ANY_PAYLOAD: ArgsSchema = {}

export function asyncApiDocument (input: DocumentInput): Details {
  const { realm } = input
  const channels: Details = {}
  const operations: Details = {}
  const ids = new Set<string>()
  for (const p of realm.catalog.procedures()) {
    if (!input.includeReserved && p.uri.startsWith('wamp.')) continue
    const id = uniqueId(ids, `procedure.${p.uri}`)
    channels[id] = procedureChannel(p)
    operations[id] = {
      action: 'receive',
      title: `Call ${p.uri}`,
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/call` }],
      reply: {
        channel: { $ref: `#/channels/${id}` },
        messages: replyMessageIds(p).map((m) => ({ $ref: `#/channels/${id}/messages/${m}` }))
      }
    }
  }
  for (const topic of realm.catalog.topics()) {
    const id = uniqueId(ids, `topic.${topic.uri}`)
    channels[id] = topicChannel(topic)
    if (topic.described) {
      operations[`${id}.event`] = { action: 'send', title: `Events on ${topic.uri}`, channel: { $ref: `#/channels/${id}` }, messages: [{ $ref: `#/channels/${id}/messages/event` }] }
    }
    if (topic.handled) {
      operations[`${id}.publish`] = { action: 'receive', title: `Publish to ${topic.uri}`, channel: { $ref: `#/channels/${id}` }, messages: [{ $ref: `#/channels/${id}/messages/event` }] }
    }
  }
  const securitySchemes = { ...authSchemes(realm), ...input.securitySchemes }
  const server: Details = {
    host: input.host,
    protocol: input.protocol,
    pathname: input.pathname,
    title: `WAMP realm ${realm.name}`,
    description: `WAMP v2 over WebSocket. Join realm \`${realm.name}\` with one of the subprotocols ${input.subprotocols.map((s) => `\`${s}\``).join(', ')}.`,
    'x-wamp-realm': realm.name,
    'x-wamp-subprotocols': input.subprotocols
  }
  const names = Object.keys(securitySchemes)
  const anonymous = realm.auth === undefined ? 'anonymous' : realm.auth.anonymousRole
  if (names.length > 0 && anonymous !== undefined) server.description += ` Without credentials a session joins as authrole \`${anonymous}\`.`
  if (names.length > 0) server.security = names.map((name) => ({ $ref: `#/components/securitySchemes/${name}` }))
  const info: Details = { title: input.info.title ?? `${realm.name} (fastify-wamp)`, version: input.info.version ?? '1.0.0' }
  if (input.info.description !== undefined) info.description = input.info.description
  return {
    asyncapi: '3.0.0',
    info,
    defaultContentType: 'application/json',
    servers: { wamp: server },
    channels,
    operations,
    components: { securitySchemes }
  }
}

/** Channel and component keys allow letters, digits, `.`, `-` and `_`; URIs allow more. */
function uniqueId (taken: Set<string>, wanted: string): string {
  const base = wanted.replace(/[^A-Za-z0-9._-]/g, '_')
  let id = base
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`
  taken.add(id)
  return id
}

/** `{ args, kwargs }` as the JSON Schema of a message payload. */
function payload (schema: ArgsSchema | undefined): Details {
  const parts = payloadSchemas(schema ?? ANY_PAYLOAD)
  return {
    type: 'object',
    properties: { args: parts.args ?? { type: 'array' }, kwargs: parts.kwargs ?? { type: 'object' } },
    additionalProperties: false
  }
}

/** A channel's address is a plain string: a URI with braces would read as a parameter, so it gets none. */
function address (uri: string): string | null {
  return /[{}]/.test(uri) ? null : uri
}

function replyMessageIds (p: ProcedureEntry): string[] {
  return ['result', ...Object.keys(p.schema?.errors ?? {}).map((_uri, i) => `error${i + 1}`)]
}

function procedureChannel (p: ProcedureEntry): Details {
  const schema = p.schema
  const messages: Details = {
    call: { name: 'CALL', title: `CALL ${p.uri}`, payload: payload(schema) },
    result: { name: 'RESULT', title: `RESULT of ${p.uri}`, payload: payload(schema?.result) }
  }
  Object.entries(schema?.errors ?? {}).forEach(([uri, declared], i) => {
    const details = errorDetails(declared)
    const message: Details = { name: 'ERROR', title: uri, payload: payload(typeof declared === 'string' ? undefined : declared), 'x-wamp-error': uri }
    if (typeof details.description === 'string') message.summary = details.description
    messages[`error${i + 1}`] = message
  })
  const channel: Details = {
    address: address(p.uri),
    title: p.uri,
    messages,
    'x-wamp-kind': 'procedure',
    'x-wamp-match': p.match,
    'x-wamp-provider': p.provider
  }
  if (schema?.description !== undefined) channel.description = schema.description
  if (p.invoke !== undefined) channel['x-wamp-invoke'] = p.invoke
  return channel
}

function topicChannel (topic: TopicEntry): Details {
  const channel: Details = {
    address: address(topic.uri),
    title: topic.uri,
    messages: { event: { name: 'EVENT', title: `EVENT on ${topic.uri}`, payload: payload(topic.schema) } },
    'x-wamp-kind': 'topic'
  }
  if (topic.schema?.description !== undefined) channel.description = topic.schema.description
  return channel
}

/** The realm's WAMP authentication methods as AsyncAPI security schemes (anonymous needs none). */
function authSchemes (realm: Realm): Record<string, Details> {
  const auth = realm.auth
  const schemes: Record<string, Details> = {}
  if (auth === undefined) return schemes
  if (auth.methods.has('ticket')) schemes.ticket = { type: 'userPassword', description: 'WAMP-Ticket: HELLO with authmethods ["ticket"] and the authid; the ticket answers the CHALLENGE.' }
  if (auth.methods.has('wampcra')) schemes.wampcra = { type: 'userPassword', description: 'WAMP-CRA: HELLO with authmethods ["wampcra"] and the authid; the HMAC-SHA256 of the challenge with the secret answers it.' }
  if (auth.methods.has('cryptosign')) schemes.cryptosign = { type: 'asymmetricEncryption', description: 'WAMP-Cryptosign: HELLO with authmethods ["cryptosign"] and authextra.pubkey; the Ed25519 signature of the challenge answers it.' }
  if (auth.options.fromRequest !== undefined) schemes.http = { type: 'httpApiKey', in: 'header', name: 'Authorization', description: 'The WebSocket upgrade request is authenticated by the application (authmethod `http`); the header or cookie it reads is its own.' }
  return schemes
}
