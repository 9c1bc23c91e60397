// `npm test` step 1: transpile the TypeScript once (esbuild, as tsx would) into a mirror of the checkout at
// tmp/test-build/, so tap starts each test file with plain node. Under `--import tsx` every test process paid
// ~2 s of CPU (loader thread, hooks on every import) before its first assertion; 70+ processes made that minutes.
// The mirror is the checkout: each compiled file has its .js beside a copy of its .ts, everything else (docs,
// examples/browser, package.json, node_modules …) is a symlink, so paths a test derives from import.meta still work.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('../', import.meta.url))
export const OUT = join(root, 'tmp', 'test-build')
// Not mirrored at all (build output, caches, the mirror itself).
const SKIP = new Set(['.git', '.tap', 'dist', 'coverage', 'tmp', 'test/artifacts'])
// Linked as a whole: browser code (bundled by esbuild at run time from its .ts), vendored or generated trees.
const OPAQUE = new Set(['examples/browser', 'bench/wampbench', 'bench/results'])
// typebox ships ~680 ES modules, and nearly every test process loads them all (lib imports typebox). tap's module hook
// (@tapjs/processinfo, off the main thread on node 20) makes each ES module cost a round trip: ~1.4 s of CPU per test
// file. The mirror's node_modules links every package but these, which it replaces with an esbuild bundle of the same
// entry points (code splitting keeps one copy of each module, so `typebox` and `typebox/compile` share their state).
const BUNDLED = ['typebox']

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
    if (path === 'node_modules') {
      nodeModules()
      continue
    }
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

const bundles: Array<Promise<unknown>> = []

function nodeModules (): void {
  const dir = join(OUT, 'node_modules')
  mkdirSync(dir)
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (!BUNDLED.includes(name)) symlinkSync(relative(dir, join(root, 'node_modules', name)), join(dir, name))
  }
  for (const name of BUNDLED) bundles.push(bundle(name, join(dir, name)))
}

/** `name` as one package at `dir`: its package.json, with each export an esbuild bundle sharing split chunks. */
async function bundle (name: string, dir: string): Promise<void> {
  const manifest = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string, exports: Record<string, unknown> }
  const entry = (subpath: string): string => subpath === '.' ? 'index' : subpath.slice(2)
  const subpaths = Object.keys(manifest.exports).filter((subpath) => !subpath.includes('*') && subpath !== './package.json')
  await build({
    entryPoints: Object.fromEntries(subpaths.map((subpath) => [entry(subpath), `${name}${subpath.slice(1)}`])),
    outdir: dir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node}`,
    keepNames: true,
    logLevel: 'warning'
  })
  const exports = Object.fromEntries(subpaths.map((subpath) => [subpath, `./${entry(subpath)}.js`]))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: manifest.version, type: 'module', exports }, null, 2))
}

const started = Date.now()
rmSync(OUT, { recursive: true, force: true })
mirror('')
await Promise.all(bundles)
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
  // tap reads a failure's source excerpt from the .ts the map points at; a copy inside every compiled file only made
  // each test process decode twice the map text (tap's processinfo looks up every module's map): ~0.35 s of CPU a file.
  sourcesContent: false,
  keepNames: true,
  logLevel: 'warning'
})
console.log(`build-tests: ${compiled.length} files → ${relative(root, OUT)}/ in ${Date.now() - started} ms`)
