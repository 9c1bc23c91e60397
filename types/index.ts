// The public surface: what a user of the plugin touches. Interfaces, so that the implementation (lib/) stays
// private — nothing internal is reachable from these types without a cast.
import type { FastifyWamp } from './wamp.js'

export type { FastifyWamp } from './wamp.js'
export type { WampCounters, WampStats } from './stats.js'
export type { WampSession, PendingSession, SessionData, SessionHook, RegistrationHook, SubscriptionHook, RegistrationInfo, SubscriptionInfo, TransportInfo, TransportKind, WaitOptions } from './session.js'
export type { Realm, RealmApi, ProcedureOptions, KillOptions } from './realm.js'
export type { CallContext, Chunk, ProcedureHandler, CallResult, ClientCallOptions } from './call.js'
export type { PublishContext, TopicHandler } from './pubsub.js'
export type { ContractHandler, ContractHandlers, ImplementOptions, TopicPublisher } from './contract.js'
export type {
  AnyContract, Contract, ErrorContract, ErrorUri, HandlerReturn, MessageSchema, Payload, PayloadWith, ProcedureContract,
  ProcedureUri, ResultOf, StandardErrorUri, TopicContract, TopicUri, TypedResult, TypedWampError
} from '../lib/contract/types.js'
export type { FastifyWampOptions } from '../lib/options.js'
export type { RawSocketOptions } from '../lib/transports/rawsocket-options.js'
export type { RealmOptions } from '../lib/realm/realm.js'
export type { PayloadSchema, ArgsSchema, ErrorSchema, ArgsOf, KwargsOf, ValidationIssue } from '../lib/validation.js'
export type { Serializer } from '../lib/wire/serializers/index.js'
export type { ServiceMemberOptions } from '../lib/realm/service.js'
export type { Kwargs, Details } from '../lib/wire/messages.js'
export type { MatchPolicy } from '../lib/wire/uris.js'
export type { AuthAnswer, AuthContext, AuthIdentity, CryptosignOptions, RealmAuthOptions, Refusal, TicketOptions, WampCraOptions, WampCraUser } from '../lib/session/auth/index.js'
export type { AuthorizeAction, AuthorizeHook, Permission, Permissions } from '../lib/realm/authorize.js'
export type { FanoutAdapter, FanoutEvents, FanoutHost, FanoutStats, FanoutStatus, PublishFailure, RemotePublication } from '../lib/cluster/fanout.js'
export type { RedisFanoutOptions } from '../lib/cluster/redis-fanout.js'
export type { Publication, PublishOptions, PublishRules } from '../lib/pubsub/publish-filter.js'
export type { RouterAllow, RouterOptions, RouterRule } from '../lib/rpc/router.js'
export type { InvokePolicy } from '../lib/rpc/registry.js'
export type { RetentionOptions } from '../lib/pubsub/retention.js'
export type { HistoryRule } from '../lib/pubsub/history.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The WAMP endpoint: procedures, topics, sessions and realms. */
    wamp: FastifyWamp
  }
}
