// Generates docs/api.md from the public types: every export of the package entry points, with its signature and
// its doc comment, read by the TypeScript compiler. `npm run docs:api` writes docs/api.md; `npm run docs:api --
// --check` only says whether it is current (exit 1 if not), as test/api-docs.test.ts does.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('../', import.meta.url))
const ENTRIES = [
  { file: 'index.ts', title: '`fastify-wamp`' },
  { file: 'lib/testing/index.ts', title: '`fastify-wamp/testing`' }
]
// Members tagged `@internal` are left out, and so are class sections whose members are plumbing, not API (a `// ---- <name>` comment starts a section).
const INTERNAL_SECTIONS = /----\s*(internals|receiving|cleanup)\b/

let checker: ts.TypeChecker

function docOf (node: ts.Node): string {
  const jsdoc = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc)
  return jsdoc.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n').replace(/\s*\n\s*/g, ' ').trim()
}

/** The declaration's own text without a body or initializer, on one line. */
function signature (node: ts.Node): string {
  const source = node.getSourceFile()
  let end = node.getEnd()
  const body = (node as { body?: ts.Node }).body
  if (body !== undefined && !ts.isModuleDeclaration(node)) end = body.getStart(source)
  let text = source.text.slice(node.getStart(source), end)
  if (ts.isVariableDeclaration(node)) text = `const ${node.name.getText(source)}: ${checker.typeToString(checker.getTypeAtLocation(node))}`
  return text.replace(/\s*\n\s*/g, ' ').replace(/\s*[{;]\s*$/, '').trim()
}

function isPublicMember (member: ts.ClassElement | ts.TypeElement): boolean {
  const flags = ts.getCombinedModifierFlags(member as unknown as ts.Declaration)
  if ((flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) return false
  const name = member.name?.getText()
  return name !== undefined && !name.startsWith('#') && !name.startsWith('[')
}

function renderMembers (members: ts.NodeArray<ts.ClassElement | ts.TypeElement>): string[] {
  const lines: string[] = []
  let internal = false
  const overloaded = new Set<string>()
  for (const m of members) if (ts.isMethodDeclaration(m) && m.body === undefined) overloaded.add(m.name.getText())
  for (const member of members) {
    const leading = ts.getLeadingCommentRanges(member.getSourceFile().text, member.getFullStart()) ?? []
    for (const range of leading) {
      const comment = member.getSourceFile().text.slice(range.pos, range.end)
      if (comment.includes('----')) internal = INTERNAL_SECTIONS.test(comment)
    }
    if (internal || !isPublicMember(member) || ts.isConstructorDeclaration(member)) continue
    if (ts.getJSDocTags(member).some((tag) => tag.tagName.text === 'internal')) continue
    if (ts.isMethodDeclaration(member) && member.body !== undefined && overloaded.has(member.name.getText())) continue
    const doc = docOf(member)
    lines.push(`- \`${signature(member)}\`${doc === '' ? '' : ` — ${doc}`}`)
  }
  return lines
}

function render (symbol: ts.Symbol): string | undefined {
  const target = (symbol.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(symbol) : symbol
  const decl = target.declarations?.[0]
  if (decl === undefined) return undefined
  const name = symbol.getName()
  const from = decl.getSourceFile().fileName.slice(root.length)
  if (ts.isSourceFile(decl)) {
    const members = checker.getExportsOfModule(target).map((s) => s.getName()).sort()
    return [`### ${name}`, '', `*namespace* — \`${from}\``, '', ...members.map((m) => `- \`${name}.${m}\``)].join('\n')
  }
  const kind = ts.isClassDeclaration(decl)
    ? 'class'
    : ts.isInterfaceDeclaration(decl) ? 'interface' : ts.isTypeAliasDeclaration(decl) ? 'type' : ts.isFunctionDeclaration(decl) ? 'function' : 'const'
  const out = [`### ${name}`, '', `*${kind}* — defined in \`${from}\`${name !== target.getName() ? ` (as \`${target.getName()}\`)` : ''}`, '']
  const doc = docOf(ts.isVariableDeclaration(decl) ? decl.parent.parent : decl)
  if (doc !== '') out.push(doc, '')
  if (ts.isClassDeclaration(decl) || ts.isInterfaceDeclaration(decl)) {
    out.push(...renderMembers(decl.members as ts.NodeArray<ts.ClassElement | ts.TypeElement>))
  } else if (ts.isFunctionDeclaration(decl) && target.declarations !== undefined) {
    const decls = target.declarations.filter((d) => ts.isFunctionDeclaration(d))
    const shown = decls.length > 1 ? decls.filter((d) => (d as ts.FunctionDeclaration).body === undefined) : decls
    out.push('```ts', ...shown.map((d) => signature(d)), '```')
  } else {
    out.push('```ts', signature(decl), '```')
  }
  return out.join('\n')
}

/** The text of docs/api.md for the current source. */
export function apiDocs (): string {
  const program = ts.createProgram(ENTRIES.map((e) => root + e.file), {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true
  })
  checker = program.getTypeChecker()
  const sections: string[] = [
    '# API reference',
    '',
    '<!-- Generated by `npm run docs:api` from the TypeScript declarations and their doc comments. Do not edit. -->',
    ''
  ]
  for (const entry of ENTRIES) {
    const source = program.getSourceFile(root + entry.file)
    const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    if (moduleSymbol === undefined) throw new Error(`cannot read ${entry.file}`)
    const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => a.getName().localeCompare(b.getName()))
    sections.push(`## ${entry.title}`, '', exports.map((s) => `[${s.getName()}](#${s.getName().toLowerCase()})`).join(' · '), '')
    for (const symbol of exports) {
      const text = render(symbol)
      if (text !== undefined) sections.push(text, '')
    }
  }
  return sections.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = apiDocs()
  if (process.argv.includes('--check')) {
    const current = readFileSync(root + 'docs/api.md', 'utf8') === text
    console.log(current ? 'docs/api.md is current' : 'docs/api.md is stale: run npm run docs:api')
    process.exitCode = current ? 0 : 1
  } else {
    writeFileSync(root + 'docs/api.md', text)
    console.log('docs/api.md written')
  }
}
