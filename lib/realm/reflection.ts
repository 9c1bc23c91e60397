import Type from 'typebox'
import type { TSchema } from 'typebox'
import type { Details } from '../wire/messages.js'
import { ErrorUri, MATCH_POLICIES } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { ArgsSchema, ErrorSchema, PayloadSchema } from '../validation.js'
import type { Session } from '../session/session.js'
import type { CallContext } from '../../types/call.js'
import { visibleTo } from './authorize.js'
import type { ProcedureEntry, TopicEntry } from './catalog.js'
import type { Realm } from './realm.js'

// Interface reflection (spec "Interface Reflection", feature status sketch): the `wamp.reflection.*` procedures
// describe the realm's procedures, topics and application errors with JSON Schema, built from the catalog
// (lib/realm/catalog.ts). The spec names the procedures but not their arguments or results; ours are in
// docs/reflection.md. A session sees only what its authorization lets it use: a procedure if it may call it, a
// topic if it may subscribe or publish to it, an error if a procedure it sees declares it. What it may not see
// is answered exactly like what does not exist. Opt-in (`reflection: true`); the procedures are ordinary
// application procedures, so `permissions`/`authorize` also decide who may call them.

export const ReflectionUri = {
  procedureList: 'wamp.reflection.procedure.list',
  procedureDescribe: 'wamp.reflection.procedure.describe',
  topicList: 'wamp.reflection.topic.list',
  topicDescribe: 'wamp.reflection.topic.describe',
  errorList: 'wamp.reflection.error.list',
  errorDescribe: 'wamp.reflection.error.describe'
} as const

const NoArgs = { args: Type.Tuple([]) }
const UriArg = Type.String({ minLength: 1, maxLength: 1024 })
const ByUri = { args: Type.Tuple([UriArg]) }
const ByUriAndMatch = {
  args: Type.Union([
    Type.Tuple([UriArg]),
    Type.Tuple([UriArg, Type.Object({ match: Type.Optional(Type.Union(MATCH_POLICIES.map((m) => Type.Literal(m)))) })])
  ])
}

const UriList = Type.Tuple([Type.Array(Type.String())])
const Description = Type.Tuple([Type.Object({ uri: Type.String() }, { additionalProperties: true })])

/** Registers the reflection procedures on `realm` and announces them in its WELCOME roles. */
export function enableReflection (realm: Realm): void {
  realm.register(ReflectionUri.procedureList, { ...NoArgs, description: 'The URIs of the procedures this session may call.', result: { args: UriList } },
    async (_args, _kwargs, ctx) => (await visibleProcedures(realm, ctx)).map((p) => p.uri).filter(unique))
  realm.register(ReflectionUri.procedureDescribe, { ...ByUriAndMatch, description: 'A procedure: its arguments, result and errors as JSON Schema.', result: { args: Description } },
    async ([uri, options], _kwargs, ctx) => describeProcedure(pickProcedure(await visibleProcedures(realm, ctx), uri, options?.match)))
  realm.register(ReflectionUri.topicList, { ...NoArgs, description: 'The URIs of the topics this session may subscribe or publish to.', result: { args: UriList } },
    async (_args, _kwargs, ctx) => (await visibleTopics(realm, ctx)).map((t) => t.uri))
  realm.register(ReflectionUri.topicDescribe, { ...ByUri, description: 'A topic: its payload as JSON Schema.', result: { args: Description } },
    async ([uri], _kwargs, ctx) => describeTopic(pickTopic(await visibleTopics(realm, ctx), uri)))
  realm.register(ReflectionUri.errorList, { ...NoArgs, description: 'The application errors the procedures this session may call declare.', result: { args: UriList } },
    async (_args, _kwargs, ctx) => [...errorsOf(await visibleProcedures(realm, ctx)).keys()].sort())
  realm.register(ReflectionUri.errorDescribe, { ...ByUri, description: 'An application error: its payload as JSON Schema and the procedures that declare it.', result: { args: Description } },
    async ([uri], _kwargs, ctx) => describeError(uri, errorsOf(await visibleProcedures(realm, ctx)).get(uri)))
  const dealer = realm.roles.dealer as { features: Details }
  const broker = realm.roles.broker as { features: Details }
  // The spec's feature table names procedure_reflection (dealer) and topic_reflection (broker); its prose asks
  // for `reflection` on both roles. Both are announced, and both are true: every procedure answers on either.
  dealer.features.procedure_reflection = true
  dealer.features.reflection = true
  broker.features.topic_reflection = true
  broker.features.reflection = true
}

// ---- what a session may see ------------------------------------------------------------------------------

function visibleProcedures (realm: Realm, ctx: CallContext): Promise<ProcedureEntry[]> {
  return visibleTo(realm, ctx.session as Session, realm.catalog.procedures(), ['call'], patternOf)
}

function visibleTopics (realm: Realm, ctx: CallContext): Promise<TopicEntry[]> {
  return visibleTo(realm, ctx.session as Session, realm.catalog.topics(), ['subscribe', 'publish'], patternOf)
}

function patternOf (entry: { uri: string, match?: MatchPolicy }): [string, MatchPolicy] {
  return [entry.uri, entry.match ?? 'exact']
}

function unique (uri: string, i: number, all: string[]): boolean {
  return i === 0 || all[i - 1] !== uri
}

function pickProcedure (entries: ProcedureEntry[], uri: string, match: MatchPolicy | undefined): ProcedureEntry {
  const same = entries.filter((p) => p.uri === uri)
  const found = match !== undefined
    ? same.find((p) => p.match === match)
    : same.find((p) => p.match === 'exact') ?? (same.length === 1 ? same[0] : undefined)
  if (found === undefined) throw new WampError(ErrorUri.noSuchProcedure, [`no procedure "${uri}"${match === undefined ? '' : ` (${match})`} to describe`])
  return found
}

function pickTopic (entries: TopicEntry[], uri: string): TopicEntry {
  const found = entries.find((t) => t.uri === uri)
  if (found === undefined) throw new WampError(ErrorUri.noSuchTopic, [`no topic "${uri}" to describe`])
  return found
}

// ---- descriptions: JSON Schema ----------------------------------------------------------------------------

/** A TypeBox schema as plain JSON Schema: TypeBox's symbol keys and non-JSON values do not survive. */
export function jsonSchema (schema: TSchema): Details {
  return JSON.parse(JSON.stringify(schema)) as Details
}

/** `{ args?, kwargs? }` as JSON Schema, omitting what is not given. */
export function payloadSchemas (schema: ArgsSchema | undefined): Details {
  const out: Details = {}
  if (schema?.args !== undefined) out.args = jsonSchema(schema.args)
  if (schema?.kwargs !== undefined) out.kwargs = jsonSchema(schema.kwargs)
  return out
}

/** An error declaration as `{ description?, args?, kwargs? }`. */
export function errorDetails (declared: ErrorSchema): Details {
  if (typeof declared === 'string') return { description: declared }
  const out: Details = {}
  if (typeof declared.description === 'string') out.description = declared.description
  return Object.assign(out, payloadSchemas(declared))
}

export function describeProcedure (p: ProcedureEntry): Details {
  const schema: PayloadSchema | undefined = p.schema
  const out: Details = { uri: p.uri, match: p.match, provider: p.provider }
  if (p.invoke !== undefined) out.invoke = p.invoke
  if (p.streamed) out.progressive_call_invocations = true
  if (typeof schema?.description === 'string') out.description = schema.description
  Object.assign(out, payloadSchemas(schema))
  if (schema?.result !== undefined) out.result = payloadSchemas(schema.result)
  if (schema?.errors !== undefined) {
    const errors: Details = {}
    for (const [uri, declared] of Object.entries(schema.errors)) errors[uri] = errorDetails(declared)
    out.errors = errors
  }
  return out
}

export function describeTopic (t: TopicEntry): Details {
  const out: Details = { uri: t.uri, handled: t.handled, described: t.described }
  if (typeof t.schema?.description === 'string') out.description = t.schema.description
  return Object.assign(out, payloadSchemas(t.schema))
}

interface DeclaredError { declared: ErrorSchema, procedures: string[] }

/** The errors the procedures declare, by URI; the first declaration of a URI describes it. */
export function errorsOf (procedures: ProcedureEntry[]): Map<string, DeclaredError> {
  const errors = new Map<string, DeclaredError>()
  for (const p of procedures) {
    for (const [uri, declared] of Object.entries(p.schema?.errors ?? {})) {
      const known = errors.get(uri)
      if (known === undefined) errors.set(uri, { declared, procedures: [p.uri] })
      else if (!known.procedures.includes(p.uri)) known.procedures.push(p.uri)
    }
  }
  return errors
}

function describeError (uri: string, error: DeclaredError | undefined): Details {
  if (error === undefined) throw new WampError(ErrorUri.noSuchError, [`no error "${uri}" to describe`])
  return { uri, ...errorDetails(error.declared), procedures: error.procedures }
}
