// Benchmark runner: fastify-wamp (bench/server.ts) against the bare-`ws` ceiling (bench/wampbench/servers/ws-raw.mjs),
// both driven by bench/wampbench/wampbench.mjs in ONE run, alternating the servers per mode so that noise hits both.
// Mode `router` (ours only; the reference has no router): bench/callee.ts registers bench.echo.client from its own
// sessions and wampbench's rpc mode calls it, so each call goes client → plugin → client and back.
// fox-wamp (npm, a Node WAMP router; bench/fox-server.mjs) is measured in mode `router` too when it is installed
// (json only: it speaks no other serializer); --no-fox skips it.
// Usage: npm run bench -- [--quick] [--serializers json,msgpack] [--modes conns,rpc,rpc-latency,fanout,router]
//        [--conns 10000] [--callees 4] [--no-typed] [--no-fox] [--verbose]      (env: BENCH_CONNS, BENCH_SHARED_DIR)
// --callees: bench/callee.ts sessions sharing bench.echo.client (roundrobin). Each one is another socket the server
// reads and writes per batch of calls, so the client→client CPU per call grows with it (BENCHMARKS.md, session six).
// Writes bench/results/latest.{json,md}; exits 1 on any error, lost event or crashed child.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'

type Mode = 'rpc' | 'rpc-latency' | 'fanout' | 'conns' | 'router'
type Result = Record<string, unknown>
interface Run { serializer: string, mode: Mode, server: string, exitCode: number | null, result: Result | null }

const MODES: readonly Mode[] = ['conns', 'rpc', 'rpc-latency', 'fanout', 'router'] // conns first: RSS of a fresh process
const SERIALIZERS = ['json', 'msgpack']
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// The load generator and the reference server, vendored (they import `ws` and `msgpackr` from this repo's node_modules).
const shared = resolve(process.env.BENCH_SHARED_DIR ?? join(root, 'bench', 'wampbench'))
const resultsDir = join(root, 'bench', 'results')

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    serializers: { type: 'string', default: SERIALIZERS.join(',') },
    modes: { type: 'string', default: MODES.join(',') },
    conns: { type: 'string' },
    callees: { type: 'string', default: '4' },
    'no-typed': { type: 'boolean', default: false },
    'no-fox': { type: 'boolean', default: false },
    'no-redis': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
})
const list = <T extends string>(raw: string, known: readonly T[], what: string): T[] => raw.split(',').map((x) => {
  if (!known.includes(x as T)) throw new Error(`unknown ${what} '${x}' (${known.join('|')})`)
  return x as T
})
const serializers = list(flags.serializers, SERIALIZERS, 'serializer')
const modes = list(flags.modes, MODES, 'mode')
const quick = flags.quick
const conns = flags.conns ?? process.env.BENCH_CONNS ?? (quick ? '500' : '2000')
const MODE_ARGS: Record<Mode, string[]> = {
  rpc: quick ? ['-D', '1', '--warmup', '0.3'] : [],
  'rpc-latency': quick ? ['-D', '1', '--warmup', '0.3'] : [],
  fanout: ['-S', '100', '-n', '1000', ...(quick ? ['--rounds', '1'] : [])],
  conns: ['-N', conns, ...(quick ? ['--settle-ms', '500'] : [])],
  router: ['--procedure', 'bench.echo.client', ...(quick ? ['-D', '1', '--warmup', '0.3'] : [])],
}
const CALLEE_SESSIONS = String(Math.max(1, Number(flags.callees) || 4))
const refCmd = [process.execPath, join(shared, 'servers', 'ws-raw.mjs')]
// BENCH_OURS_CMD (undocumented, for testing the runner): e.g. "node {shared}/servers/ws-raw.mjs".
const oursCmd = process.env.BENCH_OURS_CMD?.replaceAll('{shared}', shared).split(/\s+/) ??
  [process.execPath, '--import', 'tsx', join(root, 'bench', 'server.ts')] // one process, so --pid is the server

const foxCmd = [process.execPath, join(root, 'bench', 'fox-server.mjs')]
const foxInstalled = ((): boolean => {
  try {
    createRequire(import.meta.url).resolve('fox-wamp')
    return true
  } catch {
    return false
  }
})()

const children = new Set<ChildProcess>()
const failures: string[] = []
const fail = (msg: string): void => { failures.push(msg); console.error(`[run] FAIL ${msg}`) }
const log = (msg: string): void => { console.error(`[run] ${msg}`) }

class Server {
  readonly child: ChildProcess
  exited = false
  private stopping = false
  private tail = ''

  constructor (readonly name: string, readonly port: number, cmd: string[], env: Record<string, string> = {}) {
    this.child = spawn(cmd[0], cmd.slice(1), { cwd: root, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(this.child)
    const keep = (b: Buffer): void => { this.tail = (this.tail + b.toString()).slice(-2000) }
    this.child.stdout?.on('data', keep)
    this.child.stderr?.on('data', keep)
    this.child.on('exit', (code, signal) => {
      this.exited = true
      children.delete(this.child)
      if (!this.stopping) fail(`server ${name} (pid ${this.child.pid}) exited: code ${code}, signal ${signal}\n${this.tail}`)
    })
  }

  get url (): string { return `ws://127.0.0.1:${this.port}/ws` }

  async ready (timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now()
    while (Date.now() - t0 < timeoutMs) {
      if (this.exited) throw new Error(`server ${this.name} exited before listening`)
      if (await canConnect(this.port)) return
      await sleep(100)
    }
    throw new Error(`server ${this.name} not listening on ${this.port} after ${timeoutMs} ms\n${this.tail}`)
  }

  async stop (): Promise<void> {
    if (this.exited) return
    this.stopping = true
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    if (await Promise.race([exited.then(() => true), sleep(3000, false)])) return
    this.child.kill('SIGKILL')
    await exited
  }
}

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)) })
  })
}

/** bench/callee.ts against `server`: resolves once its sessions have registered; stop() ends it and checks its exit. */
async function startCallee (serializer: string, server: Server): Promise<{ stop: () => Promise<void> }> {
  const args = ['--import', 'tsx', join(root, 'bench', 'callee.ts'), '--url', server.url, '--serializer', serializer, '--sessions', CALLEE_SESSIONS]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stderr?.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000) })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => { children.delete(child); resolve(code) }))
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); if (out.startsWith('ready')) resolve() })
    exited.then((code) => reject(new Error(`bench/callee.ts exited with ${code} before registering\n${err}`)), () => {})
  })
  return {
    stop: async () => {
      child.kill('SIGTERM')
      const code = await exited
      if (code !== 0) fail(`${serializer} router: bench/callee.ts exited with ${code}\n${err}`)
    }
  }
}

async function bench (serializer: string, mode: Mode, server: Server): Promise<Run> {
  const callee = mode === 'router' ? await startCallee(serializer, server) : undefined
  try {
    return await runWampbench(serializer, mode, server)
  } finally {
    await callee?.stop()
  }
}

async function runWampbench (serializer: string, mode: Mode, server: Server): Promise<Run> {
  const args = [join(shared, 'wampbench.mjs'), mode === 'router' ? 'rpc' : mode, '--url', server.url, '--serializer', serializer,
    '--pid', String(server.child.pid), '--label', server.name, ...MODE_ARGS[mode]]
  const t0 = Date.now()
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', flags.verbose ? 'inherit' : 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout?.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr?.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000) })
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', resolve))
  children.delete(child)
  let result: Result | null = null
  try { result = JSON.parse(out.trim().split('\n').pop() ?? '') as Result } catch { result = null }
  const what = `${serializer} ${mode} ${server.name}`
  if (result === null) fail(`${what}: no result line (exit ${exitCode})\n${err}`)
  else {
    const bad = num(result, 'errors') + num(result, 'protocol_errors')
    if (bad > 0) fail(`${what}: ${bad} errors: ${JSON.stringify(result.error_samples)}`)
    if (num(result, 'events_lost') > 0) fail(`${what}: ${num(result, 'events_lost')} events lost`)
    if (bad === 0 && exitCode !== 0) fail(`${what}: wampbench exited with ${exitCode}`)
    log(`${what.padEnd(26)} ${((Date.now() - t0) / 1000).toFixed(1)}s ${HEADLINE[mode].map((k) => `${k}=${String(result?.[k])}`).join(' ')}`)
  }
  return { serializer, mode, server: server.name, exitCode, result }
}
const num = (r: Result | null | undefined, k: string): number => (typeof r?.[k] === 'number' ? r[k] as number : 0)
const HEADLINE: Record<Mode, string[]> = {
  rpc: ['calls_per_s', 'p99_ms', 'server_cpu_us_per_call'],
  'rpc-latency': ['p50_ms', 'p99_ms'],
  fanout: ['events_per_s', 'events_lost', 'server_cpu_us_per_event'],
  conns: ['succeeded', 'kb_per_session', 'handshake_p99_ms'],
  router: ['calls_per_s', 'p99_ms', 'server_cpu_us_per_call'],
}

// ---- table -------------------------------------------------------------------------------------------------
type Metric = [label: string, mode: Mode, key: string, lowerIsBetter: boolean]
const METRICS: Metric[] = [
  ['client→app calls/s', 'rpc', 'calls_per_s', false],
  ['rpc p99 ms', 'rpc', 'p99_ms', true],
  ['rpc server CPU µs/call', 'rpc', 'server_cpu_us_per_call', true],
  ['client→client calls/s (router mode)', 'router', 'calls_per_s', false],
  ['client→client p99 ms', 'router', 'p99_ms', true],
  ['client→client server CPU µs/call', 'router', 'server_cpu_us_per_call', true],
  ['rpc-latency p50 ms', 'rpc-latency', 'p50_ms', true],
  ['rpc-latency p99 ms', 'rpc-latency', 'p99_ms', true],
  ['fanout events/s', 'fanout', 'events_per_s', false],
  ['fanout lost events', 'fanout', 'events_lost', true],
  ['fanout server CPU µs/event', 'fanout', 'server_cpu_us_per_event', true],
  ['KB per idle session', 'conns', 'kb_per_session', true],
  ['conns handshake p99 ms', 'conns', 'handshake_p99_ms', true],
]
const fmt = (x: number | null): string => x === null ? '—' : Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(3)))
const ratio = (a: number | null, b: number | null): string => a === null || b === null || b === 0 ? '—' : (a / b).toFixed(2)
const get = (runs: Run[], s: string, m: Mode, server: string, k: string): number | null => {
  const v = runs.find((r) => r.serializer === s && r.mode === m && r.server === server)?.result?.[k]
  return typeof v === 'number' ? v : null
}
const mdTable = (head: string[], rows: string[][]): string => {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n')
}

function tables (runs: Run[]): { rows: string[][], typedRows: string[][], routerRows: string[][], foxRows: string[][], markdown: string } {
  const rows: string[][] = []
  const typedRows: string[][] = []
  const routerRows: string[][] = []
  const foxRows: string[][] = []
  for (const s of serializers) {
    for (const [label, mode, key, lower] of METRICS) {
      if (!modes.includes(mode)) continue
      const ref = get(runs, s, mode, 'ref', key)
      const ours = get(runs, s, mode, 'ours', key)
      rows.push([s, `${label} (${lower ? 'lower' : 'higher'} is better)`, fmt(ref), fmt(ours), ratio(ours, ref)])
    }
    const errs = (server: string): number => runs.filter((r) => r.serializer === s && r.server === server)
      .reduce((n, r) => n + num(r.result, 'errors') + num(r.result, 'protocol_errors'), 0)
    rows.push([s, 'errors (all modes)', String(errs('ref')), String(errs('ours')), '—'])
    if (modes.includes('router') && modes.includes('rpc')) {
      for (const [label, key] of [['calls/s', 'calls_per_s'], ['p99 ms', 'p99_ms'], ['server CPU µs/call', 'server_cpu_us_per_call']]) {
        const app = get(runs, s, 'rpc', 'ours', key)
        const client = get(runs, s, 'router', 'ours', key)
        routerRows.push([s, label, fmt(app), fmt(client), ratio(client, app)])
      }
    }
    if (runs.some((r) => r.serializer === s && r.server === 'fox')) {
      for (const [label, key] of [['calls/s', 'calls_per_s'], ['p99 ms', 'p99_ms'], ['server CPU µs/call', 'server_cpu_us_per_call']]) {
        const fox = get(runs, s, 'router', 'fox', key)
        const ours = get(runs, s, 'router', 'ours', key)
        foxRows.push([s, label, fmt(fox), fmt(ours), ratio(ours, fox)])
      }
    }
    if (!runs.some((r) => r.serializer === s && r.server === 'typed')) continue
    for (const [label, key] of [['rpc calls/s', 'calls_per_s'], ['rpc p99 ms', 'p99_ms'], ['rpc server CPU µs/call', 'server_cpu_us_per_call']]) {
      const plain = get(runs, s, 'rpc', 'ours', key)
      const typed = get(runs, s, 'rpc', 'typed', key)
      typedRows.push([s, label, fmt(plain), fmt(typed), ratio(typed, plain)])
    }
  }
  const markdown = [
    `# fastify-wamp vs ws-raw — ${new Date().toISOString()}`, '',
    `node ${process.version}, ${cpus().length} CPUs${quick ? ', --quick' : ''}; ours: \`${oursCmd.join(' ')}\``,
    'Ratios are ours/ref from the same run: for rates higher is better, for latency/CPU/memory lower is better.', '',
    mdTable(['serializer', 'metric', 'reference', 'fastify-wamp', 'ours/ref'], rows), '',
    ...(typedRows.length ? ['## Cost of TypeBox validation (bench.echo)', '', mdTable(['serializer', 'metric', 'untyped', 'typed', 'typed/untyped'], typedRows), ''] : []),
    ...(routerRows.length
      ? [`## Router mode: client→client (bench.echo.client, ${CALLEE_SESSIONS} roundrobin callees in bench/callee.ts) next to client→app (bench.echo)`, '',
          mdTable(['serializer', 'metric', 'client→app', 'client→client', 'client→client / client→app'], routerRows), '']
      : []),
    ...(foxRows.length
      ? ['## Router mode against fox-wamp (same callee, same load generator, same run)', '',
          mdTable(['serializer', 'metric', 'fox-wamp', 'fastify-wamp', 'fastify-wamp / fox-wamp'], foxRows), '']
      : []),
    failures.length ? `## FAILED\n\n${failures.map((f) => `- ${f.split('\n')[0]}`).join('\n')}\n` : '**OK**: no errors, no lost events, no crashed child.\n',
  ]
  return { rows, typedRows, routerRows, foxRows, markdown: markdown.join('\n') }
}

// ---- main --------------------------------------------------------------------------------------------------
function cleanup (): void {
  for (const c of children) c.kill('SIGTERM')
}
process.once('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { console.error(`[run] ${sig}: stopping`); process.exit(130) })

const runs: Run[] = []
for (const [si, serializer] of serializers.entries()) {
  const spawnServer = async (name: string, cmd: string[], env?: Record<string, string>): Promise<Server> => new Server(name, await freePort(), cmd, env)
  const servers = [await spawnServer('ref', refCmd), await spawnServer('ours', oursCmd)]
  if (modes.includes('rpc') && !flags['no-typed']) servers.push(await spawnServer('typed', oursCmd, { BENCH_TYPED: '1' }))
  if (modes.includes('router') && serializer === 'json' && foxInstalled && !flags['no-fox']) servers.push(await spawnServer('fox', foxCmd))
  try {
    const t0 = Date.now()
    await Promise.all(servers.map((s) => s.ready()))
    log(`${serializer}: ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${servers.map((s) => `${s.name} pid ${s.child.pid} :${s.port}`).join(', ')}`)
    for (const [mi, mode] of modes.entries()) {
      const order = servers.filter((s) => mode === 'router' ? s.name === 'ours' || s.name === 'fox' : s.name !== 'fox' && (mode === 'rpc' || s.name !== 'typed'))
      if ((si + mi) % 2 === 1) order.reverse()
      for (const server of order) if (!server.exited) runs.push(await bench(serializer, mode, server))
    }
  } catch (e) {
    fail(`${serializer}: ${(e as Error).message}`)
  }
  await Promise.all(servers.map((s) => s.stop()))
}

/** Runs one of the project's own bench scripts (bench/<file>) and parses the JSON line it ends with. */
async function script<T> (file: string, args: string[]): Promise<{ code: number | null, result: T | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', file), ...args, ...(quick ? ['--quick'] : [])],
    { cwd: root, stdio: ['ignore', 'pipe', flags.verbose ? 'inherit' : 'ignore'] })
  children.add(child)
  let out = ''
  child.stdout?.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  children.delete(child)
  try { return { code, result: JSON.parse(out.trim().split('\n').pop() ?? '') as T } } catch { return { code, result: null } }
}

// Cross-instance fan-out through Redis (bench/fanout-redis.ts: two instances, subscribers on B, publisher on A).
const redisRows: string[][] = []
if (!flags['no-redis']) {
  for (const serializer of serializers) {
    const { code, result } = await script<{ remote?: Result, local?: Result }>('fanout-redis.ts', ['--serializer', serializer])
    if (code !== 0 || result === null) { fail(`${serializer} fanout-redis: exit ${code}`); continue }
    for (const figure of [result.remote, result.local]) {
      if (num(figure, 'delivered') !== num(figure, 'expected')) fail(`${serializer} fanout-redis: ${num(figure, 'delivered')} of ${num(figure, 'expected')} events delivered`)
    }
    const remote = num(result.remote, 'events_per_s')
    const local = num(result.local, 'events_per_s')
    redisRows.push([serializer, fmt(local), fmt(remote), ratio(remote, local)])
    log(`${serializer} fanout-redis remote=${remote} local=${local}`)
  }
}

// Cross-instance RPC through Redis (bench/cluster-rpc.ts: app.wamp.call() on A to a callee on B, next to a local
// callee): B in this bench's process (both ends share one process: the worst case), then B in a process of its own.
const rpcRows: string[][] = []
if (!flags['no-redis']) {
  for (const [label, extra] of [['one process', []], ['B in its own process', ['--split']]] as const) {
    const { code, result } = await script<{ remote?: Result, local?: Result, redis_per_call?: Result, ratio?: number, p99_ratio?: number, rounds?: Array<{ ratio: number }> }>('cluster-rpc.ts', ['--concurrency', '64', ...extra])
    if (code !== 0 || result === null) { fail(`cluster-rpc ${label}: exit ${code}`); continue }
    for (const [name, figure] of [['same instance', result.local], ['across instances', result.remote]] as const) {
      rpcRows.push([label, name, fmt(num(figure, 'calls_per_s')), String(num(figure, 'p50_ms')), String(num(figure, 'p99_ms')), String(num(figure, 'cpu_us_per_call'))])
    }
    // The ratios are the medians of each round's (bench/cluster-rpc.ts alternates local and remote rounds).
    rpcRows.push([label, 'across / same (median of rounds)', String(result.ratio ?? '—'), '—', String(result.p99_ratio ?? '—'),
      ratio(num(result.remote, 'cpu_us_per_call'), num(result.local, 'cpu_us_per_call'))])
    rpcRows.push([label, 'calls/s ratio of each round', (result.rounds ?? []).map((r) => r.ratio).join(', '), '—', '—', '—'])
    rpcRows.push([label, 'Redis per cross-instance call', `${num(result.redis_per_call, 'commands')} commands`, `${num(result.redis_per_call, 'bytes_in')} B in`, `${num(result.redis_per_call, 'bytes_out')} B out`, '—'])
    log(`cluster-rpc (${label}) remote=${num(result.remote, 'calls_per_s')} local=${num(result.local, 'calls_per_s')}`)
  }
}

const { rows, typedRows, routerRows, foxRows, markdown: baseMarkdown } = tables(runs)
const markdown = (redisRows.length === 0
  ? baseMarkdown
  : baseMarkdown + '\n## Fan-out across 2 instances through Redis (events/s delivered, 100 subscribers on B, publisher on A)\n\n' +
    mdTable(['serializer', 'same instance', 'across instances', 'across/same'], redisRows) + '\n') +
  (rpcRows.length === 0
    ? ''
    : '\n## RPC across 2 instances through Redis (app.wamp.call() on A, 64 in flight)\n\n' +
      mdTable(['B runs in', 'callee', 'calls/s', 'p50 ms', 'p99 ms', 'CPU µs/call (all processes)'], rpcRows) + '\n')
mkdirSync(resultsDir, { recursive: true })
const report = { ts: new Date().toISOString(), node: process.version, cpus: cpus().length, quick, serializers, modes, modeArgs: MODE_ARGS, ours: oursCmd, ok: failures.length === 0, failures, table: rows, typedTable: typedRows, routerTable: routerRows, foxTable: foxRows, redisTable: redisRows, rpcTable: rpcRows, runs }
writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
writeFileSync(join(resultsDir, 'latest.md'), markdown)
console.log(markdown)
process.exitCode = failures.length ? 1 : 0
