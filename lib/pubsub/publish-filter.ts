import type { Details, Kwargs } from '../wire/messages.js'
import { isId } from '../wire/ids.js'
import type { Session } from '../session/session.js'

// Who may receive a publication (PROTOCOL §4.6, spec "Subscriber Black- and Whitelisting" and "Publisher
// Exclusion"), and the EVENT details that disclose a publisher ("Publisher Identification").

/** One publication as the broker forwards it to other instances or keeps it (retention, history). */
export interface Publication {
  readonly topic: string
  /** The same publication id on every instance. */
  readonly publicationId: number
  readonly args: unknown[] | undefined
  readonly kwargs: Kwargs | undefined
  /** EVENT.Details publisher fields when the publisher disclosed itself. */
  readonly publisher: Details | undefined
  /** Who may receive it (eligible/exclude by session id, authid, authrole, publisher exclusion); undefined = everyone. */
  readonly filter: PublishFilter | undefined
}

/** The receiver rules of a publication, as lists (the form they take on the wire and between instances). */
export interface PublishRules {
  eligible?: number[]
  exclude?: number[]
  eligibleAuthid?: string[]
  excludeAuthid?: string[]
  eligibleAuthrole?: string[]
  excludeAuthrole?: string[]
}

/** Options of `publishToAll()`: receiver rules; a single id or name may be given instead of a list. */
export interface PublishOptions {
  eligible?: number | number[]
  exclude?: number | number[]
  eligibleAuthid?: string | string[]
  excludeAuthid?: string | string[]
  eligibleAuthrole?: string | string[]
  excludeAuthrole?: string | string[]
  /**
   * Keep this publication as the topic's retained event (spec "Event Retention"), sent to later subscribers that
   * ask for it with `get_retained` — only to those these rules admit. Ignored where the realm's retention is off.
   */
  retain?: boolean
}

/** A subscriber receives an event iff every present rule admits it; resolved into sets once per publication. */
export class PublishFilter {
  /** The publishing session's id when it is excluded from its own publication (0 = nobody). */
  readonly skip: number
  readonly eligible: Set<number> | undefined
  readonly exclude: Set<number> | undefined
  readonly eligibleAuthid: Set<string> | undefined
  readonly excludeAuthid: Set<string> | undefined
  readonly eligibleAuthrole: Set<string> | undefined
  readonly excludeAuthrole: Set<string> | undefined

  constructor (rules: PublishRules, skip = 0) {
    this.skip = skip
    this.eligible = toSet(rules.eligible)
    this.exclude = toSet(rules.exclude)
    this.eligibleAuthid = toSet(rules.eligibleAuthid)
    this.excludeAuthid = toSet(rules.excludeAuthid)
    this.eligibleAuthrole = toSet(rules.eligibleAuthrole)
    this.excludeAuthrole = toSet(rules.excludeAuthrole)
  }

  /** True when the only rule is the publisher's own exclusion (nothing to tell other instances). */
  get onlySkips (): boolean {
    return this.eligible === undefined && this.exclude === undefined && this.eligibleAuthid === undefined &&
      this.excludeAuthid === undefined && this.eligibleAuthrole === undefined && this.excludeAuthrole === undefined
  }

  admits (session: Session): boolean {
    const id = session.id
    if (id === this.skip) return false
    if (this.eligible !== undefined && !this.eligible.has(id)) return false
    if (this.exclude !== undefined && this.exclude.has(id)) return false
    if (this.eligibleAuthid !== undefined && !this.eligibleAuthid.has(session.authid)) return false
    if (this.excludeAuthid !== undefined && this.excludeAuthid.has(session.authid)) return false
    if (this.eligibleAuthrole !== undefined && !this.eligibleAuthrole.has(session.authrole)) return false
    if (this.excludeAuthrole !== undefined && this.excludeAuthrole.has(session.authrole)) return false
    return true
  }

  /** The rules as lists, without the publisher's own exclusion (which only matters where it is connected). */
  rules (): PublishRules {
    return {
      eligible: toList(this.eligible),
      exclude: toList(this.exclude),
      eligibleAuthid: toList(this.eligibleAuthid),
      excludeAuthid: toList(this.excludeAuthid),
      eligibleAuthrole: toList(this.eligibleAuthrole),
      excludeAuthrole: toList(this.excludeAuthrole)
    }
  }
}

function toSet<T> (list: T[] | undefined): Set<T> | undefined {
  return list === undefined ? undefined : new Set(list)
}

function toList<T> (set: Set<T> | undefined): T[] | undefined {
  return set === undefined ? undefined : [...set]
}

export interface ClientPublication {
  /** undefined when nobody would be filtered out. */
  readonly filter: PublishFilter | undefined
  /** EVENT.Details publisher fields when the publisher asked `disclose_me`, else undefined. */
  readonly publisher: Details | undefined
  /** PUBLISH.Options.retain, where the realm retains events (else always false). */
  readonly retain: boolean
}

const RULES: Array<[keyof PublishRules, string, 'id' | 'string']> = [
  ['eligible', 'eligible', 'id'],
  ['exclude', 'exclude', 'id'],
  ['eligibleAuthid', 'eligible_authid', 'string'],
  ['excludeAuthid', 'exclude_authid', 'string'],
  ['eligibleAuthrole', 'eligible_authrole', 'string'],
  ['excludeAuthrole', 'exclude_authrole', 'string']
]

/**
 * Reads a client's PUBLISH.Options: `exclude_me` (default true), `disclose_me`, `retain` and the six receiver lists.
 * Returns a message saying what is wrong, or the resolved publication. Keys holding `undefined` (msgpack and cbor
 * clients send them) count as absent.
 */
export function readPublishOptions (session: Session, options: Details, retains = false): ClientPublication | string {
  const excludeMe = options.exclude_me
  if (excludeMe !== undefined && typeof excludeMe !== 'boolean') return 'PUBLISH.Options.exclude_me must be a boolean'
  const discloseMe = options.disclose_me
  if (discloseMe !== undefined && typeof discloseMe !== 'boolean') return 'PUBLISH.Options.disclose_me must be a boolean'
  const retain = options.retain
  if (retain !== undefined && typeof retain !== 'boolean') return 'PUBLISH.Options.retain must be a boolean'
  const rules = readRules(options, 1)
  if (typeof rules === 'string') return rules
  const skip = excludeMe === false ? 0 : session.id
  return {
    filter: rules === undefined && skip === 0 ? undefined : new PublishFilter(rules ?? {}, skip),
    publisher: discloseMe === true
      ? { publisher: session.id, publisher_authid: session.authid, publisher_authrole: session.authrole }
      : undefined,
    retain: retains && retain === true
  }
}

const OPTION_NAMES: ReadonlySet<string> = new Set([...RULES.map((rule) => rule[0]), 'retain'])

/**
 * Checks the options of `publishToAll()`; throws a TypeError naming the bad option. An unknown one too: a receiver rule
 * spelled as on the wire (`eligible_authrole`) would otherwise be ignored, and the publication reach everyone.
 */
export function filterFromOptions (options: PublishOptions | undefined): PublishFilter | undefined {
  if (options === undefined) return undefined
  for (const key of Object.keys(options)) {
    if (OPTION_NAMES.has(key)) continue
    const camel = RULES.find((rule) => rule[1] === key)?.[0]
    throw new TypeError(`publishToAll: unknown option "${key}"${camel === undefined ? '' : ` (the receiver rule is "${camel}")`}`)
  }
  const rules = readRules(options as Record<string, unknown>, 0)
  if (typeof rules === 'string') throw new TypeError(`publishToAll: ${rules}`)
  if (options.retain !== undefined && typeof options.retain !== 'boolean') throw new TypeError('publishToAll: retain must be a boolean')
  return rules === undefined ? undefined : new PublishFilter(rules)
}

/** `wire` 1: snake_case PUBLISH.Options keys; 0: the camelCase keys of PublishOptions. */
function readRules (options: Record<string, unknown>, wire: 0 | 1): PublishRules | string | undefined {
  let rules: PublishRules | undefined
  for (const rule of RULES) {
    const name = wire === 1 ? rule[1] : rule[0]
    const value = options[name]
    if (value === undefined) continue
    const list = Array.isArray(value) ? value : [value]
    const ok = rule[2] === 'id' ? list.every(isId) : list.every((v) => typeof v === 'string')
    if (!ok) return `${wire === 1 ? 'PUBLISH.Options.' : ''}${name} must be ${rule[2] === 'id' ? 'a session id or a list of session ids' : 'a string or a list of strings'}`
    rules ??= {}
    ;(rules[rule[0]] as unknown[]) = list
  }
  return rules
}
