import type { Details, Kwargs } from '../lib/wire/messages.js'
import type { WampSession } from './session.js'

/** What a topic handler receives besides the publication's arguments. */
export interface PublishContext {
  /** The publishing session. */
  readonly session: WampSession
  readonly topic: string
  readonly publicationId: number
  /** PUBLISH.Options as the client sent them. */
  readonly details: Readonly<Details>
}

/** Handles client PUBLISHes to a topic (`fastify.wamp.subscribe`). */
export type TopicHandler<A = unknown[], K = Kwargs> = (args: A, kwargs: K, ctx: PublishContext) => unknown
