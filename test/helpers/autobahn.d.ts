// Minimal typings for autobahn@22 (CommonJS, ships no types), covering what
// the tests use. Source: node_modules/autobahn/lib/{connection,session,serializer}.js

declare module 'autobahn' {
  namespace autobahn {
    type Dict = Record<string, unknown>

    interface Serializer {
      SERIALIZER_ID: string
      BINARY: boolean
      serialize (obj: unknown): unknown
      unserialize (payload: unknown): unknown
    }

    interface TransportOptions {
      type: 'websocket' | 'longpoll' | 'rawsocket'
      url?: string
      serializers?: Serializer[]
      protocols?: string[]
      /** Node only: extra HTTP headers for the upgrade request (passed to ws). */
      headers?: Record<string, string>
      [key: string]: unknown
    }

    type ChallengeResponse = string | [string, Dict]

    interface ConnectionOptions {
      realm: string
      url?: string
      transports?: TransportOptions[]
      serializers?: Serializer[]
      protocols?: string[]
      authmethods?: string[]
      authid?: string
      authextra?: Dict
      onchallenge?: (session: Session, method: string, extra: Dict) => ChallengeResponse | Promise<ChallengeResponse>
      max_retries?: number
      retry_if_unreachable?: boolean
      initial_retry_delay?: number
      max_retry_delay?: number
      use_es6_promises?: boolean
      on_user_error?: (error: unknown, message?: string) => void
      on_internal_error?: (error: unknown, message?: string) => void
      /** seconds */
      autoping_interval?: number
      /** seconds */
      autoping_timeout?: number
      [key: string]: unknown
    }

    interface CloseDetails {
      /** WAMP reason URI from ABORT/GOODBYE, or null */
      reason: string | null
      message: string | null
      retry_delay: number | null
      retry_count: number | null
      will_retry: boolean
    }

    /** 'unreachable' (never connected), 'lost' (unclean close), 'closed', 'unsupported' */
    type CloseReason = 'unreachable' | 'lost' | 'closed' | 'unsupported'

    class Connection {
      constructor (options: ConnectionOptions)
      open (): void
      close (reason?: string, message?: string): void
      onopen: ((session: Session, details: Dict) => void) | null
      onclose: ((reason: CloseReason, details: CloseDetails) => boolean | void) | null
      readonly session: Session | null
      readonly isOpen: boolean
      readonly isConnected: boolean
      readonly isRetrying: boolean
      readonly transport: { info: { type: string, url: string | null, protocol: string | null } }
    }

    /** when.js promise (not a native Promise) returned by Session.call; also carries cancel(). */
    interface CallPromise<T> extends Promise<T> {
      cancel (options?: { mode?: 'skip' | 'kill' | 'killnowait', [key: string]: unknown }): void
      /** progressive results (requires options.receive_progress) */
      progress (onProgress: (value: unknown) => void): CallPromise<T>
    }

    class Invocation {
      procedure: string
      progress: ((args?: unknown[], kwargs?: Dict) => void) | null
      caller?: number
      caller_authid?: string
      caller_authrole?: string
    }

    class Event {
      publication: number
      topic: string
      publisher?: number
      publisher_authid?: string
      publisher_authrole?: string
      retained: boolean
      forward_for?: unknown
    }

    class Result {
      constructor (args?: unknown[], kwargs?: Dict)
      args: unknown[]
      kwargs: Dict
    }

    /** Not a subclass of the built-in Error: has no message/stack. */
    class Error {
      constructor (error: string, args?: unknown[], kwargs?: Dict)
      error: string
      args: unknown[]
      kwargs: Dict
    }

    class Subscription {
      topic: string
      id: number
      options: Dict
      active: boolean
      on_unsubscribe: Promise<unknown>
      unsubscribe (): Promise<boolean>
    }

    class Registration {
      procedure: string
      id: number
      options: Dict
      active: boolean
      on_unregister: Promise<unknown>
      unregister (): Promise<void>
    }

    class Publication {
      id: number
    }

    type EventHandler = (args: unknown[], kwargs: Dict, details: Event, subscription: Subscription) => void
    type Endpoint = (args: unknown[], kwargs: Dict, details: Invocation) => unknown

    class Session {
      readonly id: number | null
      readonly realm: string | null
      readonly isOpen: boolean
      readonly features: Dict | null
      caller_disclose_me: boolean
      publisher_disclose_me: boolean
      join (realm: string, authmethods?: string[], authid?: string, authextra?: Dict): void
      leave (reason?: string, message?: string): void
      /** Resolves with args[0] for a single positional result, a Result for several args/kwargs, null for none. */
      call<T = unknown> (procedure: string, args?: unknown[] | null, kwargs?: Dict | null, options?: Dict): CallPromise<T>
      /** Returns a promise only when options.acknowledge is truthy. */
      publish (topic: string, args?: unknown[] | null, kwargs?: Dict | null, options?: Dict): Promise<Publication> | undefined
      subscribe (topic: string, handler: EventHandler, options?: Dict): Promise<Subscription>
      register (procedure: string, endpoint: Endpoint, options?: Dict): Promise<Registration>
      unsubscribe (subscription: Subscription): Promise<boolean>
      unregister (registration: Registration): Promise<void>
      prefix (prefix: string, uri?: string | null): void
      resolve (curie: string): string
    }

    const version: string
    const serializer: {
      JSONSerializer: new (replacer?: unknown, reviver?: unknown) => Serializer
      MsgpackSerializer?: new () => Serializer
      CBORSerializer?: new () => Serializer
    }
    const log: {
      debug: (...args: unknown[]) => void
      warn: (...args: unknown[]) => void
    }
  }

  export = autobahn
}
