import type { preHandlerHookHandler } from 'fastify'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'

/** `admin`: the live dashboard (docs/observability.md, "Admin dashboard"). Off unless given. */
export interface AdminOptions {
  /** Where the page is served; its data routes live under it. Default `/wamp-admin`. */
  path?: string
  /**
   * Guards every dashboard route (a Fastify preHandler hook, or several: check the operator's credentials and
   * reply 401/403). Required unless `public: true`: the dashboard shows who is connected and can kill sessions.
   */
  preHandler?: preHandlerHookHandler | preHandlerHookHandler[]
  /**
   * Serve the dashboard without a preHandler of its own, because the app guards it (an `onRequest` hook of the
   * scope the plugin is registered in, a reverse proxy) or it is a development server. Default false.
   */
  public?: boolean
  /** Milliseconds between live updates. Default 1 000, at least 100. */
  interval?: number
  /** Most sessions listed (the newest); the counts cover them all. Default 500. */
  maxSessions?: number
}

export interface NormalizedAdminOptions {
  path: string
  preHandler: preHandlerHookHandler[]
  interval: number
  maxSessions: number
}

function fail (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

/** Never open by accident: a dashboard needs either a preHandler or an explicit `public: true`. */
export function adminOption (value: unknown): NormalizedAdminOptions | undefined {
  if (value === undefined || value === false) return undefined
  if (typeof value !== 'object' || value === null) fail('admin must be an object, e.g. { preHandler: checkOperator }')
  const admin = value as AdminOptions
  for (const key of Object.keys(admin)) if (!['path', 'preHandler', 'public', 'interval', 'maxSessions'].includes(key)) fail(`unknown option "admin.${key}"`)
  const path = admin.path ?? '/wamp-admin'
  if (typeof path !== 'string' || !path.startsWith('/') || path.endsWith('/')) fail(`admin.path must start with "/" and not end with one, got ${String(path)}`)
  const hooks = admin.preHandler === undefined ? [] : Array.isArray(admin.preHandler) ? admin.preHandler : [admin.preHandler]
  for (const hook of hooks) if (typeof hook !== 'function') fail('admin.preHandler must be a function or a list of functions')
  if (admin.public !== undefined && typeof admin.public !== 'boolean') fail('admin.public must be true or false')
  if (hooks.length === 0 && admin.public !== true) {
    fail('admin needs a preHandler that checks who asks (admin: { preHandler }) or, if the app already guards the route, admin.public: true — it is never open by accident')
  }
  const interval = admin.interval ?? 1000
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 100) fail(`admin.interval must be an integer ≥ 100, got ${String(interval)}`)
  const maxSessions = admin.maxSessions ?? 500
  if (typeof maxSessions !== 'number' || !Number.isInteger(maxSessions) || maxSessions < 1) fail(`admin.maxSessions must be an integer ≥ 1, got ${String(maxSessions)}`)
  return { path, preHandler: hooks, interval, maxSessions }
}
