import { EMPTY, MessageType as T } from '../wire/messages.js'
import type { Details } from '../wire/messages.js'
import { randomId, uniqueId } from '../wire/ids.js'
import { State } from './state.js'
import type { Session } from './session.js'
import type { Realm } from '../realm/realm.js'

// The end of every successful handshake: the session gets its id and identity, joins its realm, WELCOME goes out.

export interface Identity {
  authid: string
  authrole: string
  authmethod: string
  authprovider: string
  authextra?: Details
}

export function welcome (session: Session, realm: Realm, identity: Identity): void {
  // An authentication that finished after the session began closing (shutdown ABORTed it) welcomes nobody.
  if (session.state !== State.establishing) return
  const hub = session.hub
  // WAMP-CRA draws the id early, for its challenge; a clash with a session welcomed meanwhile draws again.
  if (session.id === 0 || hub.sessions.has(session.id)) session.id = uniqueId(hub.sessions)
  const details: Details = {
    realm: realm.name,
    authid: identity.authid,
    authrole: identity.authrole,
    authmethod: identity.authmethod,
    authprovider: identity.authprovider,
    agent: hub.agent,
    roles: realm.roles
  }
  if (identity.authextra !== undefined) details.authextra = identity.authextra
  // WELCOME goes out before the session joins: a peer that cannot take it (a RawSocket client announcing the
  // smallest maximum message length, 512 octets; an authextra that cannot be encoded) gets an ABORT saying so
  // instead of waiting for a WELCOME that never comes on a session open only on our side.
  if (!session.send([T.WELCOME, session.id, details])) return session.abortUnsent('the WELCOME')
  session.joined = realm
  session.connectedAt = new Date()
  session.authid = identity.authid
  session.authrole = identity.authrole
  session.authmethod = identity.authmethod
  session.authprovider = identity.authprovider
  session.authextra = identity.authextra ?? EMPTY
  session.state = State.open
  realm.join(session)
  hub.sessionOpened(session)
  hub.runOpenHooks(session)
}

export function anonymousAuthid (): string {
  return 'anonymous-' + randomId().toString(36)
}
