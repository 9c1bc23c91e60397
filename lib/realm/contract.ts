import type { AnyContract, MessageSchema, ProcedureContract } from '../contract/types.js'
import type { ContractHandlers, ImplementOptions, TopicPublisher } from '../../types/contract.js'
import type { ProcedureHandler } from '../rpc/dealer.js'
import type { CallContext } from '../rpc/incoming-call.js'
import type { PublishOptions } from '../pubsub/publish-filter.js'
import type { Kwargs } from '../wire/messages.js'
import { ErrorUri, isValidUri } from '../wire/uris.js'
import { WampError, WampResult } from '../wire/wamp-error.js'
import { isThenable } from '../thenable.js'
import { describeIssues, validatorFor } from '../validation.js'
import type { PayloadSchema, PayloadValidator } from '../validation.js'
import { FST_WAMP_INVALID_HANDLER, FST_WAMP_INVALID_OPTION, FST_WAMP_INVALID_URI } from '../errors.js'
import type { Realm } from './realm.js'

// The server side of a contract: `implement()` registers its procedures with their schemas, `topic()` publishes
// with typed payloads. Everything is resolved here, at registration; a call costs what a plain `register` costs,
// plus the result check when `validateResults` asks for it.

function isContract (value: unknown): value is AnyContract {
  return value !== null && typeof value === 'object' &&
    typeof (value as AnyContract).procedures === 'object' && typeof (value as AnyContract).topics === 'object'
}

/** What `register` receives for a contract procedure: the payload schemas plus what reflection describes. */
function schemaOf (procedure: ProcedureContract): PayloadSchema {
  const schema: PayloadSchema = {}
  if (procedure.args !== undefined) schema.args = procedure.args
  if (procedure.kwargs !== undefined) schema.kwargs = procedure.kwargs
  if (procedure.result !== undefined) schema.result = procedure.result
  if (procedure.errors !== undefined) schema.errors = procedure.errors
  if (procedure.description !== undefined) schema.description = procedure.description
  return schema
}

export function implementContract<C extends AnyContract> (realm: Realm, contract: C, handlers: ContractHandlers<C>, options: ImplementOptions = {}): void {
  if (!isContract(contract)) throw new FST_WAMP_INVALID_OPTION('implement(): the first argument must be a contract from defineContract()')
  if (handlers === null || typeof handlers !== 'object') throw new FST_WAMP_INVALID_OPTION('implement(): handlers must be an object')
  const procedures = contract.procedures as Record<string, ProcedureContract>
  const given = handlers as Record<string, unknown>
  for (const uri of Object.keys(given)) {
    if (!Object.hasOwn(procedures, uri)) throw new FST_WAMP_INVALID_OPTION(`implement(): "${uri}" is not a procedure of the contract`)
  }
  for (const uri of Object.keys(procedures)) {
    if (typeof given[uri] !== 'function') throw new FST_WAMP_INVALID_HANDLER(uri)
  }
  const done: string[] = []
  try {
    for (const [uri, procedure] of Object.entries(procedures)) {
      let handler = given[uri] as ProcedureHandler
      if (options.validateResults === true && hasPayload(procedure.result)) handler = checkingResults(handler, validatorFor(procedure.result))
      realm.register(uri, schemaOf(procedure), handler)
      done.push(uri)
    }
  } catch (err) {
    for (const uri of done) realm.unregister(uri)
    throw err
  }
  // The topics go to the realm's catalog: reflection and the API document list them with their payloads.
  for (const [topic, schema] of Object.entries(contract.topics as Record<string, MessageSchema>)) realm.describeTopic(topic, schema)
}

export function contractTopic<S extends MessageSchema> (realm: Realm, contract: AnyContract, topic: string): TopicPublisher<S> {
  if (!isContract(contract)) throw new FST_WAMP_INVALID_OPTION('topic(): the first argument must be a contract from defineContract()')
  if (!isValidUri(topic) || !Object.hasOwn(contract.topics, topic)) throw new FST_WAMP_INVALID_URI(topic, 'a topic of the contract')
  return {
    topic,
    publish: (args?: unknown[], kwargs?: Kwargs, options?: PublishOptions) => realm.publishToAll(topic, args, kwargs, options)
  } as unknown as TopicPublisher<S>
}

function hasPayload (schema: MessageSchema | undefined): schema is MessageSchema {
  return schema !== undefined && (schema.args !== undefined || schema.kwargs !== undefined)
}

function checkingResults (handler: ProcedureHandler, validator: PayloadValidator): ProcedureHandler {
  return (args, kwargs, ctx) => {
    const value = handler(args, kwargs, ctx)
    return isThenable(value) ? Promise.resolve(value).then((resolved) => checked(resolved, validator, ctx)) : checked(value, validator, ctx)
  }
}

/** The value itself when it matches the result schema; progressive (async iterator) results are not checked. */
function checked (value: unknown, validator: PayloadValidator, ctx: CallContext): unknown {
  if (value !== null && typeof value === 'object' && Symbol.asyncIterator in value) return value
  const [args, kwargs] = value instanceof WampResult
    ? [value.args ?? [], value.kwargs ?? {}]
    : [value === undefined ? [] : [value], {}]
  const issues = validator.check(args, kwargs)
  if (issues === undefined) return value
  ctx.session.log.error({ procedure: ctx.procedure, issues }, 'fastify-wamp: a result does not match its contract')
  throw new WampError(ErrorUri.runtimeError, [`result: ${describeIssues(issues)}`], { errors: issues })
}
