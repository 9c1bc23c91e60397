import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isDict } from '../wire/messages.js'
import type { Details } from '../wire/messages.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import type { Hub } from '../hub.js'
import { asyncApiDocument } from './document.js'
import type { AsyncApiInfo } from './document.js'
import { asyncApiHtml } from './html.js'

export type { AsyncApiInfo }

/** The `asyncapi` option: serve an AsyncAPI 3 document of a realm, and an HTML page of it. */
export interface AsyncApiOptions {
  /** Route of the JSON document. Default `/asyncapi.json`. */
  path?: string
  /** Route of the HTML page; `false` for none. Default `/asyncapi.html`. */
  htmlPath?: string | false
  /** The realm documented. Default: the default realm. */
  realm?: string
  info?: AsyncApiInfo
  /** `host[:port]` in the document's server. Default: the request's Host header. */
  host?: string
  /** Security schemes to add or replace, by name (AsyncAPI 3 Security Scheme Objects). */
  securitySchemes?: Record<string, Details>
  /** Also document the reserved `wamp.*` procedures (meta API, reflection). Default false. */
  includeReserved?: boolean
}

export interface NormalizedAsyncApi {
  path: string
  htmlPath: string | undefined
  realm: string | undefined
  info: AsyncApiInfo
  host: string | undefined
  securitySchemes: Record<string, Details>
  includeReserved: boolean
}

const KNOWN = new Set(['path', 'htmlPath', 'realm', 'info', 'host', 'securitySchemes', 'includeReserved'])

function fail (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(`asyncapi: ${message}`)
}

/** Validates the `asyncapi` option at register time; undefined when it is off (the default). */
export function normalizeAsyncApi (option: unknown): NormalizedAsyncApi | undefined {
  if (option === undefined || option === false) return undefined
  if (option === true) option = {}
  if (!isDict(option)) fail('must be true, false or { path?, htmlPath?, realm?, info?, host?, securitySchemes?, includeReserved? }')
  for (const key of Object.keys(option)) if (!KNOWN.has(key)) fail(`unknown option "${key}"`)
  const route = (name: string, value: unknown, fallback: string): string => {
    const path = value ?? fallback
    if (typeof path !== 'string' || !path.startsWith('/')) fail(`${name} must start with "/", got ${String(path)}`)
    return path
  }
  const info = option.info ?? {}
  if (!isDict(info) || Object.entries(info).some(([k, v]) => !['title', 'version', 'description'].includes(k) || typeof v !== 'string')) {
    fail('info must be { title?, version?, description? } of strings')
  }
  const schemes = option.securitySchemes ?? {}
  if (!isDict(schemes) || Object.values(schemes).some((s) => !isDict(s) || typeof s.type !== 'string')) fail('securitySchemes must be security scheme objects by name, each with a type')
  if (option.realm !== undefined && typeof option.realm !== 'string') fail('realm must be a realm name')
  if (option.host !== undefined && typeof option.host !== 'string') fail('host must be a string such as "api.example.com:443"')
  if (option.includeReserved !== undefined && typeof option.includeReserved !== 'boolean') fail('includeReserved must be true or false')
  const path = route('path', option.path, '/asyncapi.json')
  const htmlPath = option.htmlPath === false ? undefined : route('htmlPath', option.htmlPath, '/asyncapi.html')
  if (htmlPath === path) fail('path and htmlPath must differ')
  return {
    path,
    htmlPath,
    realm: option.realm,
    info: info as AsyncApiInfo,
    host: option.host,
    securitySchemes: schemes as Record<string, Details>,
    includeReserved: option.includeReserved === true
  }
}

/**
 * The two routes. They are ordinary routes of the app (the plugin has no encapsulation of its own), so the app's
 * hooks guard them like any other route.
 */
export function addAsyncApiRoutes (fastify: FastifyInstance, hub: Hub, options: NormalizedAsyncApi, prefix: (path: string) => string, wsPath: string, subprotocols: string[]): void {
  const realm = options.realm === undefined ? hub.realms.values().next().value : hub.realm(options.realm)
  if (realm === undefined) return
  const jsonPath = prefix(options.path)
  const build = (request: FastifyRequest): Details => asyncApiDocument({
    realm,
    info: options.info,
    host: options.host ?? request.host,
    protocol: request.protocol === 'https' ? 'wss' : 'ws',
    pathname: wsPath,
    subprotocols,
    securitySchemes: options.securitySchemes,
    includeReserved: options.includeReserved
  })
  fastify.get(jsonPath, async (request, reply) => {
    reply.type('application/json; charset=utf-8')
    return build(request)
  })
  if (options.htmlPath !== undefined) {
    fastify.get(prefix(options.htmlPath), async (request, reply) => {
      reply.type('text/html; charset=utf-8')
      return asyncApiHtml(build(request), jsonPath)
    })
  }
}
