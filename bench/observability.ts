// The cost of observability (issue 20), measured in ONE run so that the machine's noise hits every variant alike:
// bench/server.ts of the main checkout (before this work, if BENCH_BASE_DIR points at it) and of this tree with
// nothing subscribed, with no-op subscribers on every tracing channel (BENCH_TRACE=1), and with `metrics: true`
// (BENCH_METRICS=1); each driven by bench/wampbench (rpc, json, and fanout), variants interleaved per round.
// Usage: node --import tsx bench/observability.ts [--rounds 3] [--seconds 3] [--base /path/to/other/checkout]
// Prints one JSON line per measurement and a Markdown table of medians and ratios to the first variant.
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, base: { type: 'string' } } })
const rounds = Number(flags.rounds)
const seconds = flags.seconds

interface Variant { name: string, dir: string, env: Record<string, string> }
const variants: Variant[] = [
  ...(flags.base !== undefined ? [{ name: 'before (main)', dir: resolve(flags.base), env: {} }] : []),
  { name: 'nothing subscribed', dir: root, env: {} },
  { name: 'channels subscribed', dir: root, env: { BENCH_TRACE: '1' } },
  { name: 'metrics: true', dir: root, env: { BENCH_METRICS: '1' } }
]
type Measure = 'rpc_calls_per_s' | 'rpc_cpu_us_per_call' | 'fanout_events_per_s' | 'fanout_cpu_us_per_event'
const results = new Map<string, Record<Measure, number[]>>()

async function server (v: Variant): Promise<{ port: number, pid: number, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(v.dir, 'bench', 'server.ts')], { cwd: v.dir, env: { ...process.env, ...v.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); const m = /listening (\d+)/.exec(out); if (m !== null) resolve(Number(m[1])) })
    child.once('exit', (code) => reject(new Error(`server exited with ${String(code)}`)))
  })
  return { port, pid: child.pid as number, stop: async () => { child.kill('SIGTERM'); await new Promise((resolve) => child.once('exit', resolve)) } }
}

async function wampbench (mode: 'rpc' | 'fanout', port: number, pid: number, label: string): Promise<Record<string, unknown>> {
  const args = [join(root, 'bench', 'wampbench', 'wampbench.mjs'), mode, '--url', `ws://127.0.0.1:${port}/ws`, '--serializer', 'json', '--pid', String(pid), '--label', label,
    ...(mode === 'rpc' ? ['-D', seconds, '--warmup', '1'] : ['-S', '100', '-n', '1000', '--rounds', '2'])]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  await new Promise((resolve) => child.once('close', resolve))
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor(s.length / 2)] }
// On a shared machine contention only ever adds CPU time per call: the least of the rounds is the steadiest estimate.
const least = (xs: number[]): number => Math.min(...xs)

for (let round = 1; round <= rounds; round++) {
  for (const v of variants) {
    const s = await server(v)
    try {
      const rpc = await wampbench('rpc', s.port, s.pid, v.name)
      const fanout = await wampbench('fanout', s.port, s.pid, v.name)
      const r = results.get(v.name) ?? { rpc_calls_per_s: [], rpc_cpu_us_per_call: [], fanout_events_per_s: [], fanout_cpu_us_per_event: [] }
      r.rpc_calls_per_s.push(Number(rpc.calls_per_s))
      r.rpc_cpu_us_per_call.push(Number(rpc.server_cpu_us_per_call))
      r.fanout_events_per_s.push(Number(fanout.events_per_s))
      r.fanout_cpu_us_per_event.push(Number(fanout.server_cpu_us_per_event))
      results.set(v.name, r)
      console.log(JSON.stringify({ round, variant: v.name, calls_per_s: rpc.calls_per_s, cpu_us_per_call: rpc.server_cpu_us_per_call, events_per_s: fanout.events_per_s, cpu_us_per_event: fanout.server_cpu_us_per_event }))
    } finally {
      await s.stop()
    }
  }
}

const first = results.get(variants[0].name) as Record<Measure, number[]>
const ratio = (m: Measure, r: Record<Measure, number[]>): string => `${((least(r[m]) / least(first[m]) - 1) * 100).toFixed(1)} %`
console.log('\n| variant | RPC calls/s (median) | RPC server CPU µs/call (least) | Δ | fan-out events/s (median) | fan-out CPU µs/event (least) | Δ |\n| --- | --- | --- | --- | --- | --- | --- |')
for (const [name, r] of results) {
  console.log(`| ${name} | ${median(r.rpc_calls_per_s).toFixed(0)} | ${least(r.rpc_cpu_us_per_call).toFixed(2)} | ${ratio('rpc_cpu_us_per_call', r)} | ${median(r.fanout_events_per_s).toFixed(0)} | ${least(r.fanout_cpu_us_per_event).toFixed(2)} | ${ratio('fanout_cpu_us_per_event', r)} |`)
}
