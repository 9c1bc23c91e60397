// Every URI the plugin itself puts on the wire, and URI validation (WAMP spec "URIs").

export const ErrorUri = {
  protocolViolation: 'wamp.error.protocol_violation',
  noSuchRealm: 'wamp.error.no_such_realm',
  noSuchProcedure: 'wamp.error.no_such_procedure',
  noSuchRegistration: 'wamp.error.no_such_registration',
  noSuchSubscription: 'wamp.error.no_such_subscription',
  noSuchSession: 'wamp.error.no_such_session',
  procedureAlreadyExists: 'wamp.error.procedure_already_exists',
  procedureExistsWithDifferentInvocationPolicy: 'wamp.error.procedure_exists_with_different_invocation_policy',
  featureNotSupported: 'wamp.error.feature_not_supported',
  invalidUri: 'wamp.error.invalid_uri',
  invalidArgument: 'wamp.error.invalid_argument',
  runtimeError: 'wamp.error.runtime_error',
  canceled: 'wamp.error.canceled',
  timeout: 'wamp.error.timeout',
  /** The cluster's engine (Redis) is unreachable, so a call to another instance cannot be made or answered. */
  networkFailure: 'wamp.error.network_failure',
  notAuthorized: 'wamp.error.not_authorized',
  authenticationFailed: 'wamp.error.authentication_failed',
  noAuthMethod: 'wamp.error.no_auth_method',
  payloadSizeExceeded: 'wamp.error.payload_size_exceeded',
  /**
   * A per-session limit (in-flight calls, registrations, subscriptions) was reached. The spec defines no URI for
   * this, and `wamp.*` is reserved for the ones it defines, so it lives in the plugin's own namespace.
   */
  limitExceeded: 'fastify_wamp.error.limit_exceeded',
  /** Reflection: no topic of that URI that the session may see (`wamp.reflection.topic.describe`). */
  noSuchTopic: 'fastify_wamp.error.no_such_topic',
  /** Reflection: no declared error of that URI that the session may see (`wamp.reflection.error.describe`). */
  noSuchError: 'fastify_wamp.error.no_such_error'
} as const

export const CloseUri = {
  goodbyeAndOut: 'wamp.close.goodbye_and_out',
  systemShutdown: 'wamp.close.system_shutdown',
  closeRealm: 'wamp.close.close_realm',
  /** The application ended the session (`session.kill()`, meta API `wamp.session.kill`). */
  killed: 'wamp.close.killed'
} as const

export type MatchPolicy = 'exact' | 'prefix' | 'wildcard'

/** Every match policy, in the order the spec lists them. */
export const MATCH_POLICIES: readonly MatchPolicy[] = ['exact', 'prefix', 'wildcard']
const matchPolicies: ReadonlySet<unknown> = new Set(MATCH_POLICIES)

/** True for 'exact', 'prefix' and 'wildcard'. */
export function isMatchPolicy (value: unknown): value is MatchPolicy {
  return matchPolicies.has(value)
}

// Loose URIs (spec §URIs): components without whitespace, '.' or '#'.
const looseUri = /^([^\s.#]+\.)*([^\s.#]+)$/
// Prefix patterns may end with '.'; wildcard patterns may have empty components.
const loosePrefix = /^([^\s.#]+\.)*([^\s.#]*)$/
const looseWildcard = /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/

/**
 * Longest URI accepted, in UTF-16 code units. The spec sets none; without one, a session's subscriptions and
 * registrations (1 000 each by default) could each pin a topic of maxPayload bytes: 2 GB for one client.
 */
export const MAX_URI_LENGTH = 1024

/** A client's URI quoted in an error message: at most 200 characters of it (the message goes back on the wire). */
export function quoted (uri: unknown): string {
  return `"${truncated(String(uri), 200)}"`
}

/**
 * At most `max` UTF-16 code units of `text`, then an ellipsis — never cut inside a surrogate pair (a lone surrogate
 * is not Unicode: msgpack and CBOR would write bytes that are not UTF-8).
 */
export function truncated (text: string, max: number): string {
  if (text.length <= max) return text
  const code = text.charCodeAt(max - 1)
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max) + '…'
}

/** Valid as a URI of `match`: an exact URI, a prefix (`''` is the prefix of everything) or a wildcard pattern. */
export function isValidUri (uri: unknown, match: MatchPolicy = 'exact'): uri is string {
  if (typeof uri !== 'string' || (uri.length === 0 && match !== 'prefix') || uri.length > MAX_URI_LENGTH) return false
  switch (match) {
    case 'exact': return looseUri.test(uri)
    case 'prefix': return loosePrefix.test(uri)
    case 'wildcard': return looseWildcard.test(uri)
  }
}

/** True when `uri` matches a wildcard pattern such as `com..update` (empty component = any one component). */
export function matchesWildcard (pattern: string[], uri: string): boolean {
  const parts = uri.split('.')
  if (parts.length !== pattern.length) return false
  for (let i = 0; i < parts.length; i++) {
    if (pattern[i] !== '' && pattern[i] !== parts[i]) return false
  }
  return true
}
