import type { Hub, SessionHook } from '../lib/hub.js'

export type { FastifyWampOptions } from '../lib/options.js'
export type { Hub as FastifyWamp, SessionHook } from '../lib/hub.js'
export type { Realm, RealmOptions } from '../lib/realm.js'
export type { Session, SessionData } from '../lib/session.js'
export type { CallContext, Chunk } from '../lib/call.js'
export type { ProcedureHandler, ProcedureOptions, ClientRegistration } from '../lib/dealer.js'
export type { TopicHandler, PublishContext } from '../lib/broker.js'
export type { CallResult, ClientCallOptions } from '../lib/outgoing-call.js'
export type { PayloadSchema, ArgsOf, KwargsOf, ValidationIssue } from '../lib/validation.js'
export type { Serializer } from '../lib/serializers/index.js'
export type { ServiceMemberOptions } from '../lib/service.js'
export type { Kwargs, Details } from '../lib/messages.js'
export type { MatchPolicy } from '../lib/uris.js'
export type { AuthAnswer, AuthContext, AuthIdentity, CryptosignOptions, RealmAuthOptions, Refusal, TicketOptions, WampCraOptions, WampCraUser } from '../lib/auth/index.js'
export type { AuthorizeAction, AuthorizeHook, Permission, Permissions } from '../lib/authorize.js'
export type { FanoutAdapter, FanoutEvents, FanoutHost, FanoutStats, FanoutStatus, PublishFailure, RemotePublication } from '../lib/fanout/index.js'
export type { RedisFanoutOptions } from '../lib/fanout/redis.js'
export type { PublishOptions, PublishRules } from '../lib/publish-filter.js'
export type { RouterAllow, RouterOptions, RouterRule } from '../lib/router.js'
export type { InvokePolicy } from '../lib/registry.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The WAMP endpoint: procedures, topics, sessions and realms. */
    wamp: Hub
  }
}

export type { SessionHook as WampSessionHook }
