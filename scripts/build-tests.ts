// `npm test` step 1: transpile the TypeScript once (esbuild, as tsx would) into a mirror of the checkout at
// tmp/test-build/, so tap starts each test file with plain node. Under `--import tsx` every test process paid
// ~2 s of CPU (loader thread, hooks on every import) before its first assertion; 70+ processes made that minutes.
// The mirror is the checkout: each compiled file has its .js beside a copy of its .ts, everything else (docs,
// examples/browser, package.json, node_modules …) is a symlink, so paths a test derives from import.meta still work.
import { copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('../', import.meta.url))
export const OUT = join(root, 'tmp', 'test-build')
// Not mirrored at all (build output, caches, the mirror itself).
const SKIP = new Set(['.git', '.tap', 'dist', 'coverage', 'tmp', 'test/artifacts'])
// Linked as a whole: browser code (bundled by esbuild at run time from its .ts), vendored or generated trees.
const OPAQUE = new Set(['node_modules', 'examples/browser', 'bench/wampbench', 'bench/results'])

const compiled: string[] = []

function hasTypeScript (dir: string): boolean {
  return readdirSync(join(root, dir), { withFileTypes: true }).some((e) => {
    const path = join(dir, e.name)
    if (SKIP.has(path) || OPAQUE.has(path)) return false
    return e.isDirectory() ? hasTypeScript(path) : isSource(e.name)
  })
}

function isSource (name: string): boolean {
  return name.endsWith('.ts') && !name.endsWith('.d.ts')
}

function mirror (dir: string): void {
  mkdirSync(join(OUT, dir), { recursive: true })
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, e.name)
    if (SKIP.has(path)) continue
    if (e.isDirectory() && !OPAQUE.has(path) && hasTypeScript(path)) {
      mirror(path)
      continue
    }
    if (e.isFile() && isSource(e.name)) {
      // A copy, not a link: a .ts run by tsx from the mirror (examples/app.ts in examples.test) must see its own
      // path in import.meta.url, which node would resolve to the link's target.
      copyFileSync(join(root, path), join(OUT, path))
      compiled.push(path)
    } else {
      symlinkSync(relative(join(OUT, dir), join(root, path)), join(OUT, path))
    }
  }
}

const started = Date.now()
rmSync(OUT, { recursive: true, force: true })
mirror('')
await build({
  entryPoints: compiled.map((p) => join(root, p)),
  outdir: OUT,
  outbase: root,
  format: 'esm',
  platform: 'node',
  // tsx's settings, so the code that runs is the code tsx would run (names kept for errors and stack traces).
  target: `node${process.versions.node}`,
  tsconfig: join(root, 'tsconfig.json'),
  sourcemap: 'inline',
  keepNames: true,
  logLevel: 'warning'
})
console.log(`build-tests: ${compiled.length} files → ${relative(root, OUT)}/ in ${Date.now() - started} ms`)
