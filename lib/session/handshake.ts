import { isDict } from '../wire/messages.js'
import type { Details, WampMessage } from '../wire/messages.js'
import { ErrorUri, isValidUri, quoted } from '../wire/uris.js'
import type { Session } from './session.js'
import { beginAuthentication, shutdownAbort } from './auth/index.js'
import { anonymousAuthid, welcome } from './welcome.js'

// HELLO → WELCOME | ABORT (PROTOCOL §1.3–1.5). Authentication adds CHALLENGE/AUTHENTICATE in ./auth/; both end in
// ./welcome.ts, so the dependencies point one way: session → handshake → auth → welcome.

const CLIENT_ROLES = ['caller', 'callee', 'publisher', 'subscriber']

export function hello (session: Session, msg: WampMessage): void {
  stopHelloTimer(session)
  if (session.draining) return shutdownAbort(session)
  const realmName = msg[1] as string
  const details = msg[2] as Details
  if (!isValidUri(realmName)) return session.violation(`HELLO realm ${quoted(realmName)} is not a valid URI`)
  const roles = details.roles
  if (!isDict(roles) || !CLIENT_ROLES.some((role) => isDict(roles[role]))) {
    return session.violation('HELLO.Details.roles must announce at least one client role')
  }
  const realm = session.hub.realms.get(realmName)
  if (realm === undefined) return session.abort(ErrorUri.noSuchRealm, `realm ${quoted(realmName)} is not served here`)
  session.roles = clientRoles(roles)
  if (realm.auth !== undefined) return beginAuthentication(session, realm, details)
  welcome(session, realm, {
    authid: anonymousAuthid(),
    authrole: 'anonymous',
    authmethod: 'anonymous',
    authprovider: 'static'
  })
}

/** Most features kept per role: a client announces a dozen or so. */
const MAX_FEATURES = 64

/**
 * What the session keeps of HELLO.Details.roles: the client roles it announced, each with the features it announced
 * as `true` (names up to 100 characters, at most MAX_FEATURES) — what the router decides by. The rest of what a
 * client wrote there (up to maxPayload) is not kept for the whole session.
 */
function clientRoles (announced: Details): Details {
  const roles: Details = {}
  for (const role of CLIENT_ROLES) {
    const r = announced[role]
    if (!isDict(r)) continue
    const features: Details = {}
    let kept = 0
    if (isDict(r.features)) {
      for (const name in r.features) {
        if (r.features[name] !== true || name.length > 100) continue
        features[name] = true
        if (++kept === MAX_FEATURES) break
      }
    }
    roles[role] = { features }
  }
  return roles
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
