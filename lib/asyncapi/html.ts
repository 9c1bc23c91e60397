import type { Details } from '../wire/messages.js'

// A readable page of the API, rendered from the AsyncAPI document alone: one self-contained HTML file (inline
// CSS, no script, no CDN), so it works offline and under a strict Content-Security-Policy.

const CSS = `
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:960px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:28px}h2{margin:32px 0 8px;border-bottom:2px solid #d9dde5;padding-bottom:4px}
h3{margin:0;font-size:17px;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
section.item{background:#fff;border:1px solid #d9dde5;border-radius:8px;padding:14px 16px;margin:12px 0}
.tag{display:inline-block;font-size:12px;border-radius:10px;padding:1px 8px;margin-left:6px;background:#e8ecf3;color:#344}
.tag.receive{background:#e3f3e8}.tag.send{background:#e6eefc}
pre{background:#f1f3f7;border-radius:6px;padding:8px 10px;overflow:auto;font-size:13px;margin:4px 0 8px}
dt{font-weight:600;margin-top:6px}dd{margin:0 0 0 12px}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.muted{color:#5b6475}
`

function escape (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function json (value: unknown): string {
  return `<pre>${escape(JSON.stringify(value, null, 2))}</pre>`
}

function asDetails (value: unknown): Details {
  return typeof value === 'object' && value !== null ? value as Details : {}
}

/** A message payload `{ args, kwargs }`: only the parts the application described. */
function payloadBlock (message: Details, label: string, quiet = false): string {
  const properties = asDetails(asDetails(message.payload).properties)
  const parts: string[] = []
  const args = asDetails(properties.args)
  const kwargs = asDetails(properties.kwargs)
  if (Object.keys(args).length > 0 && !(Object.keys(args).length === 1 && args.type === 'array')) parts.push(`<dt>${label} args</dt><dd>${json(args)}</dd>`)
  if (Object.keys(kwargs).length > 0 && !(Object.keys(kwargs).length === 1 && kwargs.type === 'object')) parts.push(`<dt>${label} kwargs</dt><dd>${json(kwargs)}</dd>`)
  if (parts.length > 0) return parts.join('')
  return quiet ? '' : `<dt>${label}</dt><dd class="muted">not described</dd>`
}

interface Action { readonly label: string, readonly action: string }

function channelSection (id: string, channel: Details, actions: Action[]): string {
  const messages = asDetails(channel.messages)
  const kind = channel['x-wamp-kind']
  const tags = actions.map((a) => `<span class="tag ${escape(a.action)}">${escape(a.label)}</span>`).join('')
  const match = channel['x-wamp-match'] !== undefined && channel['x-wamp-match'] !== 'exact' ? `<span class="tag">${escape(channel['x-wamp-match'])}</span>` : ''
  const provider = channel['x-wamp-provider'] === 'client' ? '<span class="tag">provided by a client</span>' : ''
  let body = ''
  if (kind === 'procedure') {
    body += `<dl>${payloadBlock(asDetails(messages.call), 'Arguments')}${payloadBlock(asDetails(messages.result), 'Result')}`
    const errors = Object.entries(messages).filter(([key]) => key.startsWith('error'))
    for (const [, m] of errors) {
      const error = asDetails(m)
      body += `<dt>Error <code>${escape(error.title)}</code></dt><dd>${escape(error.summary ?? '')}</dd>`
      body += payloadBlock(error, 'Error', true)
    }
    body += '</dl>'
  } else {
    body += `<dl>${payloadBlock(asDetails(messages.event), 'Payload')}</dl>`
  }
  const description = channel.description === undefined ? '' : `<p>${escape(channel.description)}</p>`
  return `<section class="item" id="${escape(id)}"><h3>${escape(channel.title)}${match}${tags}${provider}</h3>${description}${body}</section>`
}

/** The HTML page of an AsyncAPI document made by `asyncApiDocument()`. */
export function asyncApiHtml (doc: Details, jsonUrl?: string): string {
  const info = asDetails(doc.info)
  const server = asDetails(asDetails(doc.servers).wamp)
  const channels = asDetails(doc.channels)
  const operations = Object.values(asDetails(doc.operations)).map(asDetails)
  const actionsOf = (id: string): Action[] => operations
    .filter((o) => asDetails(o.channel).$ref === `#/channels/${id}`)
    .map((o) => o.action === 'send' ? { label: 'the server publishes', action: 'send' } : { label: 'clients publish', action: 'receive' })
  const entries = Object.entries(channels).map(([id, c]) => [id, asDetails(c)] as const)
  const procedures = entries.filter(([, c]) => c['x-wamp-kind'] === 'procedure')
  const topics = entries.filter(([, c]) => c['x-wamp-kind'] === 'topic')
  const schemes = Object.entries(asDetails(asDetails(doc.components).securitySchemes))
  const url = `${escape(server.protocol)}://${escape(server.host)}${escape(server.pathname ?? '')}`
  const subprotocols = Array.isArray(server['x-wamp-subprotocols']) ? server['x-wamp-subprotocols'] as unknown[] : []
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(info.title)}</title><style>${CSS}</style></head>
<body><main>
<h1>${escape(info.title)} <span class="tag">${escape(info.version)}</span></h1>
${info.description === undefined ? '' : `<p>${escape(info.description)}</p>`}
<h2>Connection</h2>
<dl><dt>WebSocket</dt><dd><code>${url}</code></dd>
<dt>Realm</dt><dd><code>${escape(server['x-wamp-realm'])}</code></dd>
<dt>Subprotocols</dt><dd>${subprotocols.map((s) => `<code>${escape(s)}</code>`).join(', ')}</dd>
${schemes.length === 0 ? '<dt>Authentication</dt><dd>anonymous</dd>' : schemes.map(([name, s]) => `<dt>Authentication: <code>${escape(name)}</code></dt><dd>${escape(asDetails(s).description ?? asDetails(s).type)}</dd>`).join('\n')}
${jsonUrl === undefined ? '' : `<dt>AsyncAPI document</dt><dd><a href="${escape(jsonUrl)}">${escape(jsonUrl)}</a></dd>`}
</dl>
<h2>Procedures</h2>
${procedures.length === 0 ? '<p class="muted">none</p>' : procedures.map(([id, c]) => channelSection(id, c, [])).join('\n')}
<h2>Topics</h2>
${topics.length === 0 ? '<p class="muted">none</p>' : topics.map(([id, c]) => channelSection(id, c, actionsOf(id))).join('\n')}
</main></body></html>
`
}
