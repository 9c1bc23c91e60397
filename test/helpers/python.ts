import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// autobahn-python clients (Debian's python3-autobahn, installed by .ci/run): the helper scripts in this folder.

export const PYTHON = '/usr/bin/python3'

/** Whether Debian's python3 can import every module named. */
export function pythonHas (...modules: string[]): boolean {
  return spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0
}

/** Runs test/helpers/<script> with `args`: its exit code, its stderr, and the first JSON object line it printed. */
export async function runPythonHelper (script: string, args: string[]): Promise<{ code: number | null, err: string, line: unknown }> {
  const child = spawn(PYTHON, [join(dirname(fileURLToPath(import.meta.url)), script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, err, line: JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? 'null') as unknown }
}
