import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import fastifyWamp from '../../index.js'
import type { FastifyWampOptions } from '../../index.js'
import type { WampSession } from '../../index.js'
import type { Hub } from '../../lib/hub.js'
import type { Session as InternalSession } from '../../lib/session/session.js'
import { connectRaw } from './raw-client.js'
import type { RawClient } from './raw-client.js'

export interface TestApp {
  app: FastifyInstance
  url: string
  port: number
}

interface Teardown { teardown (fn: () => unknown): void }

/**
 * Builds an app with the plugin on 127.0.0.1, port 0, lets `setup` add procedures and routes, and closes it when
 * the test ends — asserting that no session is left behind.
 */
export async function startApp (t: Teardown, options: FastifyWampOptions = {}, setup?: (app: FastifyInstance) => unknown,
  fastifyOptions: FastifyServerOptions = { logger: false }): Promise<TestApp> {
  const app = Fastify(fastifyOptions)
  await app.register(fastifyWamp, { shutdownGrace: 500, ...options })
  if (setup !== undefined) await setup(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  t.teardown(async () => {
    await app.close()
    if (app.wamp.sessions.size !== 0) throw new Error(`${app.wamp.sessions.size} sessions left after close`)
  })
  return { app, url: `ws://127.0.0.1:${port}${options.path ?? '/ws'}`, port }
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves once `check` is true (polling every 5 ms), or rejects after `ms`. */
export async function until (check: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** The rejection reason of `promise`; throws if it resolves instead. */
export async function rejection (promise: Promise<unknown>): Promise<unknown> {
  return promise.then((value) => { throw new Error(`expected a rejection, got ${JSON.stringify(value)}`) }, (err: unknown) => err)
}

/** The plugin's implementation behind `app.wamp` (tests only: users see the FastifyWamp interface). */
export function hubOf (app: FastifyInstance): Hub {
  return app.wamp as unknown as Hub
}

/** The implementation behind a public session (tests only). */
export function internal (session: WampSession | undefined): InternalSession {
  return session as InternalSession
}

/** An `onSessionOpen` hook for authorization tests: the session's authrole is its upgrade's `x-authrole` header. */
export function roleFromHeader (session: WampSession): void {
  const role = session.request?.headers['x-authrole']
  if (typeof role === 'string') internal(session).authrole = role
}

/** A raw client joined with authrole `role` (with `roleFromHeader` as the app's onSessionOpen). */
export async function joinAs (url: string, role: string): Promise<RawClient> {
  return (await connectRaw(url, { headers: { 'x-authrole': role } })).client
}
