// The admin dashboard: one self-contained HTML document (no CDN, no build step). Every value from the server is
// written with textContent (authids, URIs and addresses come from clients). Rows are updated in place, keyed by
// id, so focus and the session being inspected survive the live updates.

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5b6472;--line:#d5d9e0;--accent:#0b62d6;--bad:#b42318;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ee;--bg:#0f1216;--muted:#9aa4b2;--line:#2b313a;--accent:#5aa2ff;--bad:#ff6b5e;--card:#171b21}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1rem;align-items:baseline;padding:.75rem 1.25rem;border-bottom:1px solid var(--line)}
h1{font-size:1.15rem;margin:0}h2{font-size:1rem;margin:1.25rem 0 .5rem}h3{font-size:.95rem;margin:.5rem 0}
main{padding:0 1.25rem 2rem;max-width:1400px}#conn{margin:0;color:var(--muted)}#conn.down{color:var(--bad)}
.numbers{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:.5rem;margin:0}
.numbers div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem}
.numbers dt{color:var(--muted);font-size:.8rem}.numbers dd{margin:0;font-size:1.2rem;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:.75rem}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem}
figcaption{display:flex;justify-content:space-between;color:var(--muted);font-size:.8rem}figcaption b{color:var(--fg)}
svg{width:100%;height:56px;display:block}polyline{fill:none;stroke:var(--accent);stroke-width:1.5}.err polyline{stroke:var(--bad)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}caption{text-align:left;color:var(--muted);padding:.25rem 0}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600}
td.n{text-align:right}.wrap{overflow-x:auto}button{font:inherit;padding:.1rem .5rem;cursor:pointer}
button.kill{color:var(--bad)}input{font:inherit;padding:.2rem .4rem}.cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
@media (max-width:900px){.cols{grid-template-columns:1fr}}#inspect{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem;margin-top:.5rem}
#inspect dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}#inspect dd{margin:0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
`

const SCRIPT = `
const base = document.body.dataset.base
const HISTORY = 300
const $ = (id) => document.getElementById(id)
let history = []
let last
let inspected
const fmt = (n) => n >= 1e9 ? (n / 1e9).toFixed(1) + ' G' : n >= 1e6 ? (n / 1e6).toFixed(1) + ' M' : n >= 1e4 ? (n / 1e3).toFixed(1) + ' k' : String(Math.round(n * 10) / 10)
function setText (el, text) { if (el.textContent !== text) el.textContent = text }

function numbers (s) {
  const r = s.rates || { callsPerSecond: 0, eventsPerSecond: 0, errorsPerSecond: 0, p99Ms: 0 }
  const values = {
    sessions: s.sessions, connections: s.connections, calls: r.callsPerSecond, events: r.eventsPerSecond,
    errors: r.errorsPerSecond, p99: r.p99Ms + ' ms', registrations: s.registrations, subscriptions: s.subscriptions,
    inflight: s.callsInFlight + s.invocationsInFlight, bytesin: fmt(s.counters.bytesIn) + 'B', bytesout: fmt(s.counters.bytesOut) + 'B',
    buffered: fmt(s.bufferedBytes) + 'B'
  }
  for (const [key, value] of Object.entries(values)) setText($('n-' + key), typeof value === 'number' ? fmt(value) : value)
}

function chart (name, values, unit) {
  const svg = $('c-' + name)
  const max = Math.max(1, ...values)
  const w = 300
  const step = w / (HISTORY - 1)
  const offset = (HISTORY - values.length) * step
  const points = values.map((v, i) => (offset + i * step).toFixed(1) + ',' + (54 - (v / max) * 50).toFixed(1)).join(' ')
  svg.querySelector('polyline').setAttribute('points', points)
  const now = values.length > 0 ? values[values.length - 1] : 0
  setText($('v-' + name), fmt(now) + unit)
  svg.setAttribute('aria-label', name + ' over the last ' + values.length + ' seconds: now ' + fmt(now) + unit + ', peak ' + fmt(Math.max(0, ...values)) + unit)
}

/** Keyed rows: created once (with their buttons), cells updated in place, removed when gone. */
function rows (tbody, items, key, cells, create) {
  const seen = new Set()
  let prev = null
  for (const item of items) {
    const k = key(item)
    seen.add(k)
    let tr = tbody.querySelector('tr[data-key="' + CSS.escape(k) + '"]')
    const values = cells(item)
    if (tr === null) {
      tr = document.createElement('tr')
      tr.dataset.key = k
      for (let i = 0; i < values.length; i++) {
        const td = document.createElement(i === 0 ? 'th' : 'td')
        if (i === 0) td.scope = 'row'
        if (typeof values[i] === 'number') td.className = 'n'
        tr.appendChild(td)
      }
      if (create) create(tr, item)
    }
    values.forEach((v, i) => setText(tr.children[i], typeof v === 'number' ? fmt(v) : String(v)))
    const want = prev === null ? tbody.firstChild : prev.nextSibling
    if (want !== tr) tbody.insertBefore(tr, want)
    prev = tr
  }
  for (const tr of [...tbody.children]) if (!seen.has(tr.dataset.key)) tr.remove()
}

function button (label, text, cls, onClick) {
  const td = document.createElement('td')
  const b = document.createElement('button')
  b.type = 'button'
  b.textContent = text
  b.className = cls
  b.setAttribute('aria-label', label)
  b.addEventListener('click', onClick)
  td.appendChild(b)
  return td
}

function sessions (snapshot) {
  const q = $('filter').value.trim().toLowerCase()
  const list = snapshot.sessions.filter((s) => q === '' || [s.id, s.realm, s.authid, s.authrole, s.address, s.protocol].some((v) => String(v).toLowerCase().includes(q)))
  rows($('sessions'), list, (s) => String(s.id), (s) => [String(s.id), s.realm, s.authid, s.authrole, s.protocol, s.address, s.registrations, s.subscriptions, s.callsInFlight + s.invocationsInFlight, s.bytesIn, s.bytesOut],
    (tr, s) => {
      tr.appendChild(button('Inspect session ' + s.id, 'Inspect', 'inspect', () => { inspected = s.id; inspect() }))
      tr.appendChild(button('Kill session ' + s.id, 'Kill', 'kill', () => kill(s.id)))
    })
  const hidden = snapshot.sessionsHidden
  setText($('sessions-note'), (list.length === snapshot.sessions.length ? '' : list.length + ' of ' + snapshot.sessions.length + ' shown. ') + (hidden > 0 ? hidden + ' older sessions not listed.' : ''))
}

function inspect () {
  const box = $('inspect')
  const s = last && last.sessions.find((x) => x.id === inspected)
  if (inspected === undefined) { box.hidden = true; return }
  box.hidden = false
  setText($('inspect-title'), s ? 'Session ' + s.id : 'Session ' + inspected + ' has ended')
  const dl = $('inspect-fields')
  dl.replaceChildren()
  if (!s) return
  for (const [k, v] of Object.entries(s)) {
    const dt = document.createElement('dt'); dt.textContent = k
    const dd = document.createElement('dd'); dd.textContent = String(v)
    dl.append(dt, dd)
  }
  const regs = last.procedures.filter((p) => p.callees.includes(s.id)).map((p) => p.uri)
  const subs = last.subscriptions.filter((p) => p.subscribers.includes(s.id)).map((p) => p.topic)
  for (const [k, v] of [['registered', regs.join(', ') || '—'], ['subscribed', subs.join(', ') || '—']]) {
    const dt = document.createElement('dt'); dt.textContent = k
    const dd = document.createElement('dd'); dd.textContent = v
    dl.append(dt, dd)
  }
}

async function kill (id) {
  if (!confirm('Kill session ' + id + '?')) return
  const res = await fetch(base + '/sessions/' + id + '/kill', { method: 'POST', headers: { 'x-wamp-admin': 'kill' } })
  setText($('notice'), res.status === 204 ? 'Session ' + id + ' killed.' : 'Could not kill session ' + id + ' (HTTP ' + res.status + ').')
}

function render (snapshot) {
  last = snapshot
  history = history.concat(snapshot.history).slice(-HISTORY)
  numbers(snapshot.stats)
  chart('calls', history.map((h) => h.calls), '/s')
  chart('events', history.map((h) => h.events), '/s')
  chart('errors', history.map((h) => h.errors), '/s')
  chart('p99', history.map((h) => h.p99Ms), ' ms')
  sessions(snapshot)
  inspect()
  rows($('procedures'), snapshot.procedures, (p) => p.realm + ' ' + p.kind + ' ' + p.match + ' ' + p.uri, (p) => [p.uri, p.realm, p.match, p.kind, p.kind === 'app' ? 'the app' : p.callees.join(', ')])
  rows($('subscriptions'), snapshot.subscriptions, (s) => s.realm + ' ' + s.match + ' ' + s.topic, (s) => [s.topic, s.realm, s.match, s.subscribers.join(', ')])
  const c = snapshot.cluster
  const f = snapshot.stats.fanout
  setText($('cl-status'), c.status)
  setText($('cl-rpc'), c.rpc ? 'on' : 'off')
  setText($('cl-fanout'), 'published ' + fmt(f.published) + ', received ' + fmt(f.received) + ', failed ' + fmt(f.publishFailed))
  setText($('cl-error'), c.error || '—')
  rows($('instances'), c.instances || [{ instance: 'this instance (no Redis)', sessions: snapshot.stats.sessions, self: true }], (i) => i.instance, (i) => [i.instance + (i.self ? ' (this one)' : ''), i.sessions])
  setText($('updated'), new Date(snapshot.time).toLocaleTimeString())
}

$('filter').addEventListener('input', () => { if (last) sessions(last) })
const events = new EventSource(base + '/events')
events.onopen = () => { $('conn').className = ''; setText($('conn'), 'Live') }
events.onerror = () => { $('conn').className = 'down'; setText($('conn'), 'Disconnected — retrying…') }
events.onmessage = (e) => render(JSON.parse(e.data))
`

function figure (name: string, title: string, error = false): string {
  return `<figure${error ? ' class="err"' : ''}><figcaption><span id="l-${name}">${title}</span><b id="v-${name}">0</b></figcaption>` +
    `<svg id="c-${name}" viewBox="0 0 300 56" preserveAspectRatio="none" role="img" aria-label="${title}"><polyline points=""/></svg></figure>`
}

function number (id: string, label: string): string {
  return `<div><dt>${label}</dt><dd id="n-${id}">–</dd></div>`
}

/** The page, for the dashboard served at `base`; `nonce` is the CSP nonce of its inline style and script. */
export function adminPage (base: string, nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fastify-wamp admin</title><style nonce="${nonce}">${STYLE}</style></head>
<body data-base="${base.replace(/[^A-Za-z0-9/_.~-]/g, '')}">
<header><h1>fastify-wamp admin</h1><p id="conn" role="status">Connecting…</p><p>Updated <span id="updated">–</span></p></header>
<main>
<section aria-labelledby="h-now"><h2 id="h-now">Now</h2>
<dl class="numbers" aria-live="polite" aria-atomic="false">
${number('sessions', 'Sessions')}${number('connections', 'Connections')}${number('calls', 'Calls/s')}${number('events', 'Events/s')}
${number('errors', 'Errors/s')}${number('p99', 'p99 latency')}${number('inflight', 'Calls in flight')}${number('registrations', 'Registrations')}
${number('subscriptions', 'Subscriptions')}${number('bytesin', 'Received')}${number('bytesout', 'Sent')}${number('buffered', 'Buffered')}
</dl></section>
<section aria-labelledby="h-charts"><h2 id="h-charts">Last five minutes</h2><div class="charts">
${figure('calls', 'Calls/s')}${figure('events', 'Events/s')}${figure('errors', 'Errors/s', true)}${figure('p99', 'p99 latency')}
</div></section>
<section aria-labelledby="h-sessions"><h2 id="h-sessions">Sessions</h2>
<p><label for="filter">Filter sessions</label> <input id="filter" type="search" placeholder="id, authid, role, realm, address"></p>
<p id="notice" role="status" aria-live="polite"></p>
<div class="wrap"><table><caption>Open sessions on this instance, newest first. <span id="sessions-note"></span></caption>
<thead><tr><th scope="col">Id</th><th scope="col">Realm</th><th scope="col">Authid</th><th scope="col">Authrole</th><th scope="col">Protocol</th>
<th scope="col">Address</th><th scope="col">Reg.</th><th scope="col">Subs.</th><th scope="col">In flight</th><th scope="col">Received</th><th scope="col">Sent</th>
<th scope="col"><span class="visually-hidden">Inspect</span></th><th scope="col"><span class="visually-hidden">Kill</span></th></tr></thead>
<tbody id="sessions"></tbody></table></div>
<section id="inspect" hidden aria-labelledby="inspect-title"><h3 id="inspect-title"></h3><dl id="inspect-fields"></dl></section>
</section>
<div class="cols">
<section aria-labelledby="h-procedures"><h2 id="h-procedures">Procedures</h2><div class="wrap"><table><caption>App procedures and client registrations with their callees</caption>
<thead><tr><th scope="col">URI</th><th scope="col">Realm</th><th scope="col">Match</th><th scope="col">Kind</th><th scope="col">Callees</th></tr></thead><tbody id="procedures"></tbody></table></div></section>
<section aria-labelledby="h-subscriptions"><h2 id="h-subscriptions">Subscriptions</h2><div class="wrap"><table><caption>Client subscriptions with their subscribers</caption>
<thead><tr><th scope="col">Topic</th><th scope="col">Realm</th><th scope="col">Match</th><th scope="col">Subscribers</th></tr></thead><tbody id="subscriptions"></tbody></table></div></section>
</div>
<section aria-labelledby="h-cluster"><h2 id="h-cluster">Cluster</h2>
<dl class="numbers"><div><dt>Fan-out</dt><dd id="cl-status">–</dd></div><div><dt>Cluster RPC</dt><dd id="cl-rpc">–</dd></div>
<div><dt>Publications</dt><dd id="cl-fanout">–</dd></div><div><dt>Last error</dt><dd id="cl-error">–</dd></div></dl>
<div class="wrap"><table><caption>Live instances</caption><thead><tr><th scope="col">Instance</th><th scope="col">Sessions</th></tr></thead><tbody id="instances"></tbody></table></div>
</section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body></html>`
}
