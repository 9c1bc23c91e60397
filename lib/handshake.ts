import { EMPTY, isDict, MessageType as T } from './messages.js'
import type { Details, WampMessage } from './messages.js'
import { ErrorUri, isValidUri } from './uris.js'
import { randomId, uniqueId } from './ids.js'
import { State } from './session.js'
import type { Session } from './session.js'
import type { Realm } from './realm.js'
import { beginAuthentication, shutdownAbort } from './auth/index.js'

// HELLO → WELCOME | ABORT (PROTOCOL §1.3–1.5). Authentication adds CHALLENGE/AUTHENTICATE in lib/auth/.

const CLIENT_ROLES = ['caller', 'callee', 'publisher', 'subscriber']

export interface Identity {
  authid: string
  authrole: string
  authmethod: string
  authprovider: string
  authextra?: Details
}

export function hello (session: Session, msg: WampMessage): void {
  stopHelloTimer(session)
  if (session.draining) return shutdownAbort(session)
  const realmName = msg[1] as string
  const details = msg[2] as Details
  if (!isValidUri(realmName)) return session.violation(`HELLO realm "${realmName}" is not a valid URI`)
  const roles = details.roles
  if (!isDict(roles) || !CLIENT_ROLES.some((role) => isDict(roles[role]))) {
    return session.violation('HELLO.Details.roles must announce at least one client role')
  }
  const realm = session.hub.realms.get(realmName)
  if (realm === undefined) return session.abort(ErrorUri.noSuchRealm, `realm "${realmName}" is not served here`)
  session.roles = roles
  if (realm.auth !== undefined) return beginAuthentication(session, realm, details)
  welcome(session, realm, {
    authid: anonymousAuthid(),
    authrole: 'anonymous',
    authmethod: 'anonymous',
    authprovider: 'static'
  })
}

export function welcome (session: Session, realm: Realm, identity: Identity): void {
  // An authentication that finished after the session began closing (shutdown ABORTed it) welcomes nobody.
  if (session.state !== State.establishing) return
  const hub = session.hub
  // WAMP-CRA draws the id early, for its challenge; a clash with a session welcomed meanwhile draws again.
  if (session.id === 0 || hub.sessions.has(session.id)) session.id = uniqueId(hub.sessions)
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
  session.send([T.WELCOME, session.id, details])
  hub.runOpenHooks(session)
}

export function helloTimedOut (session: Session): void {
  session.helloTimer = undefined
  session.violation(`no HELLO received within ${session.hub.options.helloTimeout} ms`)
  // A peer silent this long will not complete a close handshake either: free its maxSessions slot now (the
  // ABORT and the close frame were already handed to the kernel).
  session.transport.terminate()
}

function stopHelloTimer (session: Session): void {
  if (session.helloTimer !== undefined) clearTimeout(session.helloTimer)
  session.helloTimer = undefined
}

export function anonymousAuthid (): string {
  return 'anonymous-' + randomId().toString(36)
}
