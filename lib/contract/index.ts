import { isValidUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { Kwargs } from '../wire/messages.js'
import type { Contract, ProcedureContracts, TopicContracts } from './types.js'

// Contracts: the procedures and topics of an API declared once with TypeBox, imported by the server (which
// implements them) and by clients (which call them with types). Browser-safe: no Node module is reachable from here.
//
//   export const api = defineContract({
//     procedures: { 'com.app.add': { args: Type.Tuple([Type.Number(), Type.Number()]), result: { args: Type.Tuple([Type.Number()]) } } },
//     topics: { 'com.app.tick': { args: Type.Tuple([Type.Integer()]) } }
//   })

/**
 * Declares a contract. URIs are checked here (a malformed one throws a TypeError); the schemas are kept as given,
 * so the same objects serve validation, types and reflection.
 */
export function defineContract<P extends ProcedureContracts = Record<never, never>, T extends TopicContracts = Record<never, never>> (
  spec: { procedures?: P, topics?: T }
): Contract<P, T> {
  const procedures = spec.procedures ?? ({} as P)
  const topics = spec.topics ?? ({} as T)
  for (const [what, entries] of [['procedure', procedures], ['topic', topics]] as const) {
    if (entries === null || typeof entries !== 'object') throw new TypeError(`contract: ${what}s must be an object`)
    for (const [uri, entry] of Object.entries(entries)) {
      if (!isValidUri(uri)) throw new TypeError(`contract: "${uri}" is not a valid ${what} URI`)
      if (entry === null || typeof entry !== 'object') throw new TypeError(`contract: ${what} "${uri}" must be an object`)
    }
  }
  const errors = new Set<string>()
  for (const [uri, procedure] of Object.entries(procedures)) {
    for (const error of Object.keys(procedure.errors ?? {})) {
      if (!isValidUri(error)) throw new TypeError(`contract: procedure "${uri}" declares an invalid error URI "${error}"`)
      errors.add(error)
    }
  }
  return Object.freeze({
    procedures,
    topics,
    error (uri: string, args?: unknown[], kwargs?: Kwargs) {
      if (!errors.has(uri)) throw new TypeError(`contract: "${uri}" is not an error this contract declares`)
      return new WampError(uri, args, kwargs)
    },
    isError (err: unknown, uri: string) {
      return err instanceof Error && (err as { uri?: unknown }).uri === uri
    }
  }) as unknown as Contract<P, T>
}

export { WampError, WampResult } from '../wire/wamp-error.js'
export type {
  AnyContract, Contract, ErrorContract, ErrorUri, HandlerReturn, MessageSchema, Payload, PayloadWith, ProcedureContract,
  ProcedureContracts, ProcedureUri, ResultOf, StandardErrorUri, TopicContract, TopicContracts, TopicUri, TypedResult,
  TypedWampError
} from './types.js'
export type { ArgsOf, KwargsOf } from '../validation.js'
