// Cross-instance RPC through Redis next to local RPC: two fastify-wamp instances (A, B) with
// RedisFanout({ rpc: true }) on one prefix, one WebSocket callee on each. `A.wamp.call()` to the callee on A
// (local) and to the callee on B (through Redis), with C calls in flight. By default everything runs in this one
// process (both instances, both callees, the driver), so the two figures share one CPU and compare like for like;
// that is the worst case for the cross-instance call (this process pays for both ends, and sits idle while Redis
// carries the calls). `--split` runs B and its callee in a child process, as instances are deployed; CPU per call
// then counts both processes.
// Redis traffic is measured from Redis itself (INFO stats/commandstats deltas) and divided by the calls made.
// The two are measured in `--rounds` alternating rounds (local, remote, local, …): every figure printed is the median
// over the rounds, and `ratio` the median of each round's remote/local calls/s, so one unlucky round on a shared
// machine does not decide the result (`rounds` lists each round's).
// Prints one JSON line: { remote: {calls_per_s, p50_ms, p99_ms, cpu_us_per_call, redis_cpu_us_per_call}, local: {…},
// ratio, rounds: [{ratio, p99_ratio}…], redis_per_call: {…} }. CPU per call (this process, and the Redis server) tells
// more than calls/s on a busy machine.
// Usage: npx tsx bench/cluster-rpc.ts [--calls 20000] [--concurrency 50] [--rounds 3] [--redis redis://127.0.0.1:6379] [--quick] [--split]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { Redis } from 'ioredis'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import fastifyWamp, { RedisFanout } from '../index.js'
import { cpuMs } from './proc-cpu.js'

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    quick: { type: 'boolean', default: false },
    split: { type: 'boolean', default: false },
    /** Internal: this process is instance B of a --split run, on this prefix. */
    'serve-b': { type: 'string' }
  }
})
const calls = flags.quick ? 2000 : Number(flags.calls)
const concurrency = Number(flags.concurrency)
const rounds = flags.quick ? 1 : Math.max(1, Number(flags.rounds))
const prefix = flags['serve-b'] ?? `bench:${randomBytes(4).toString('hex')}:`

async function instance (): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { fanout: new RedisFanout({ redis: flags.redis, prefix, rpc: true }), maxCallsPerSession: 100_000 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  return { app, url: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/ws` }
}

/** A JSON WebSocket client that registers `uri` and answers every INVOCATION with its first argument. */
async function callee (url: string, uri: string): Promise<WebSocket> {
  const ws = new WebSocket(url, 'wamp.2.json')
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const registered = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as unknown[]
      if (msg[0] === 2) ws.send(JSON.stringify([64, 1, {}, uri]))
      else if (msg[0] === 65) resolve()
      else if (msg[0] === 68) ws.send(JSON.stringify([70, msg[1], {}, msg[4] ?? []]))
    })
  })
  ws.send(JSON.stringify([1, 'realm1', { roles: { callee: { features: {} } } }]))
  await registered
  return ws
}

interface Figure { calls_per_s: number, p50_ms: number, p99_ms: number, cpu_us_per_call: number, redis_cpu_us_per_call: number }

async function run (app: FastifyInstance, uri: string, n: number): Promise<Figure> {
  const latencies = new Float64Array(n)
  let next = 0
  const redisCpu0 = await redisCpu()
  const child0 = childCpu()
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const t0 = process.hrtime.bigint()
      await app.wamp.call(uri, [i])
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const childMicros = childCpu() - child0
  const redisSeconds = (await redisCpu()) - redisCpu0
  latencies.sort()
  const at = (q: number): number => Math.round(latencies[Math.min(n - 1, Math.floor(q * n))] * 1000) / 1000
  return {
    calls_per_s: Math.round(n / seconds),
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    cpu_us_per_call: Math.round(((cpu.user + cpu.system + childMicros) / n) * 100) / 100,
    redis_cpu_us_per_call: Math.round((redisSeconds * 1e6 / n) * 100) / 100
  }
}

function median (xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Each figure's median over the rounds. */
function medianFigure (figures: Figure[]): Figure {
  const pick = (key: keyof Figure): number => median(figures.map((f) => f[key]))
  return { calls_per_s: pick('calls_per_s'), p50_ms: pick('p50_ms'), p99_ms: pick('p99_ms'), cpu_us_per_call: pick('cpu_us_per_call'), redis_cpu_us_per_call: pick('redis_cpu_us_per_call') }
}

/** Seconds of CPU the Redis server has used (INFO cpu), to tell its share of a cross-instance call. */
async function redisCpu (): Promise<number> {
  const info = await redis.info('cpu')
  const field = (re: RegExp): number => Number(re.exec(info)?.[1] ?? 0)
  return field(/used_cpu_sys:([\d.]+)/) + field(/used_cpu_user:([\d.]+)/)
}

async function redisCounters (redis: Redis): Promise<{ commands: number, publish: number, netIn: number, netOut: number }> {
  const info = await redis.info('all')
  const field = (re: RegExp): number => Number(re.exec(info)?.[1] ?? 0)
  return {
    commands: field(/total_commands_processed:(\d+)/),
    publish: field(/cmdstat_publish:calls=(\d+)/),
    netIn: field(/total_net_input_bytes:(\d+)/),
    netOut: field(/total_net_output_bytes:(\d+)/)
  }
}

/** The --split child (instance B), whose CPU counts with ours. */
let childPid: number | undefined
/** CPU microseconds the --split child has used so far (0 without one). */
function childCpu (): number {
  return childPid === undefined ? 0 : cpuMs(childPid) * 1000
}

if (flags['serve-b'] !== undefined) {
  // Instance B of a --split run: its callee, then wait to be killed.
  const b = await instance()
  const ws = await callee(b.url, 'bench.remote')
  process.stdout.write('ready\n')
  process.once('SIGTERM', () => { ws.close(); b.app.close().then(() => process.exit(0), () => process.exit(1)) })
  await new Promise(() => {})
}

const redis = new Redis(flags.redis)
const a = await instance()
let closeB: () => Promise<unknown>
const sockets = [await callee(a.url, 'bench.local')]
if (flags.split) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-b', prefix, '--redis', flags.redis],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  childPid = child.pid
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('ready')) resolve() })
    child.once('exit', (code) => reject(new Error(`instance B exited with ${String(code)}`)))
  })
  process.once('exit', () => child.kill('SIGKILL'))
  closeB = async () => child.kill('SIGTERM')
} else {
  const b = await instance()
  sockets.push(await callee(b.url, 'bench.remote'))
  closeB = async () => await b.app.close()
}
while (await redis.hlen(`${prefix}rpc:reg:realm1:bench.remote`) === 0) await new Promise((resolve) => setTimeout(resolve, 10))

await run(a.app, 'bench.remote', Math.min(5000, calls)) // warm-up (the remote path takes longer to reach steady state)
await run(a.app, 'bench.local', Math.min(5000, calls))
const locals: Figure[] = []
const remotes: Figure[] = []
const counted = { commands: 0, publish: 0, netIn: 0, netOut: 0 }
for (let r = 0; r < rounds; r++) {
  locals.push(await run(a.app, 'bench.local', calls))
  const before = await redisCounters(redis)
  remotes.push(await run(a.app, 'bench.remote', calls))
  const after = await redisCounters(redis)
  // Our INFO call itself is one command; heartbeats over the run are a few more, spread over thousands of calls.
  counted.commands += after.commands - before.commands - 1
  counted.publish += after.publish - before.publish
  counted.netIn += after.netIn - before.netIn
  counted.netOut += after.netOut - before.netOut
}
const per = (x: number): number => Math.round((x / (calls * rounds)) * 100) / 100
const round3 = (x: number): number => Math.round(x * 1000) / 1000
const perRound = remotes.map((remote, i) => ({
  ratio: round3(remote.calls_per_s / locals[i].calls_per_s),
  p99_ratio: round3(remote.p99_ms / locals[i].p99_ms)
}))
console.log(JSON.stringify({
  calls,
  concurrency,
  split: flags.split,
  remote: medianFigure(remotes),
  local: medianFigure(locals),
  ratio: median(perRound.map((r) => r.ratio)),
  p99_ratio: median(perRound.map((r) => r.p99_ratio)),
  rounds: perRound,
  redis_per_call: {
    commands: per(counted.commands),
    publish: per(counted.publish),
    bytes_in: per(counted.netIn),
    bytes_out: per(counted.netOut)
  }
}))
for (const ws of sockets) ws.close()
redis.disconnect()
await Promise.all([a.app.close(), closeB()])
