// Pattern URIs (prefix and wildcard) indexed by URI component, so that finding the patterns a URI matches costs
// in proportion to the URI's length and the number of matches, not to the number of patterns (issue 15).
//
// WAMP prefix matching is by string, not by component (`com.myapp` matches `com.myapp2.foo`): a prefix is stored
// at the node of its complete components, keyed by its last, possibly partial (or empty) component; a URI looks
// up every string prefix of its component at each node on its path.

export type PatternMatch = 'prefix' | 'wildcard'

interface Node<V> {
  children: Map<string, Node<V>> | undefined
  /** Prefix trie: prefixes ending here, by their last (partial) component. */
  ends: Map<string, V> | undefined
  /** Wildcard trie: the pattern whose components lead exactly here. */
  value: V | undefined
}

function node<V> (): Node<V> {
  return { children: undefined, ends: undefined, value: undefined }
}

/** `a1.b2..d4.e5` → [2, 2]; `..c` → [0, 0, 1]: the lengths of the literal runs between wildcards. */
export function literalRuns (uri: string): number[] {
  const runs = [0]
  for (const part of uri.split('.')) {
    if (part === '') runs.push(0)
    else runs[runs.length - 1]++
  }
  return runs
}

/** Wildcard precedence (spec "Pattern-based Registrations"): longer literal runs, left to right, win. */
export function compareRuns (a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (b[i] ?? 0) - (a[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** One value per (pattern, match policy). */
export class PatternIndex<V> {
  private readonly prefixes: Node<V>
  private readonly wildcards: Node<V>
  private readonly runs: Map<V, number[]>
  private count: number

  constructor () {
    this.prefixes = node()
    this.wildcards = node()
    this.runs = new Map()
    this.count = 0
  }

  get size (): number {
    return this.count
  }

  get (pattern: string, match: PatternMatch): V | undefined {
    const parts = pattern.split('.')
    if (match === 'wildcard') return this.walk(this.wildcards, parts, false)?.value
    const last = parts.pop() as string
    return this.walk(this.prefixes, parts, false)?.ends?.get(last)
  }

  /** Adds or replaces the value of (pattern, match). */
  set (pattern: string, match: PatternMatch, value: V): void {
    const parts = pattern.split('.')
    let at: Node<V>
    let previous: V | undefined
    if (match === 'wildcard') {
      at = this.walk(this.wildcards, parts, true) as Node<V>
      previous = at.value
      at.value = value
      this.runs.set(value, literalRuns(pattern))
    } else {
      const last = parts.pop() as string
      at = this.walk(this.prefixes, parts, true) as Node<V>
      at.ends ??= new Map()
      previous = at.ends.get(last)
      at.ends.set(last, value)
    }
    if (previous === undefined) this.count++
    else if (previous !== value) this.runs.delete(previous)
  }

  /** Removes (pattern, match) and the nodes left empty; true if it was there. */
  delete (pattern: string, match: PatternMatch): boolean {
    const parts = pattern.split('.')
    const last = match === 'prefix' ? parts.pop() as string : ''
    const path: Node<V>[] = [match === 'prefix' ? this.prefixes : this.wildcards]
    for (const part of parts) {
      const next = path[path.length - 1].children?.get(part)
      if (next === undefined) return false
      path.push(next)
    }
    const at = path[path.length - 1]
    let removed: V | undefined
    if (match === 'wildcard') {
      removed = at.value
      at.value = undefined
    } else {
      removed = at.ends?.get(last)
      at.ends?.delete(last)
      if (at.ends?.size === 0) at.ends = undefined
    }
    if (removed === undefined) return false
    this.runs.delete(removed)
    this.count--
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]
      if (n.value !== undefined || n.ends !== undefined || (n.children !== undefined && n.children.size > 0)) break
      path[i - 1].children?.delete(parts[i - 1])
    }
    return true
  }

  /** Calls `fn` with every prefix `uri` starts with, shortest first, then every wildcard pattern it matches. */
  forEachMatch (uri: string, fn: (value: V) => void): void {
    this.matchPrefixes(uri, fn)
    if (this.wildcards.children !== undefined) this.matchWildcards(this.wildcards, uri, 0, fn)
  }

  /** The spec's precedence for a CALL: the longest matching prefix, else the wildcard with the longest literal runs. */
  best (uri: string): V | undefined {
    let found: V | undefined
    this.matchPrefixes(uri, (v) => { found = v })
    if (found !== undefined || this.wildcards.children === undefined) return found
    let rank: number[] | undefined
    this.matchWildcards(this.wildcards, uri, 0, (v) => {
      const r = this.runs.get(v) as number[]
      if (rank === undefined || compareRuns(r, rank) < 0) {
        found = v
        rank = r
      }
    })
    return found
  }

  /** Every value, prefixes first (not on any hot path: reflection and API documents list them). */
  * values (): Generator<V> {
    const stack: Array<Node<V>> = [this.prefixes, this.wildcards]
    for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
      if (at.value !== undefined) yield at.value
      if (at.ends !== undefined) yield * at.ends.values()
      if (at.children !== undefined) stack.push(...at.children.values())
    }
  }

  private walk (root: Node<V>, parts: string[], create: boolean): Node<V> | undefined {
    let at = root
    for (const part of parts) {
      let next = at.children?.get(part)
      if (next === undefined) {
        if (!create) return undefined
        next = node()
        at.children ??= new Map()
        at.children.set(part, next)
      }
      at = next
    }
    return at
  }

  private matchPrefixes (uri: string, fn: (value: V) => void): void {
    let at: Node<V> | undefined = this.prefixes
    let start = 0
    while (at !== undefined) {
      const dot = uri.indexOf('.', start)
      const end = dot === -1 ? uri.length : dot
      if (at.ends !== undefined) matchEnds(at.ends, uri, start, end, fn)
      if (dot === -1 || at.children === undefined) return
      at = at.children.get(uri.slice(start, end))
      start = dot + 1
    }
  }

  private matchWildcards (at: Node<V>, uri: string, start: number, fn: (value: V) => void): void {
    if (start > uri.length) {
      if (at.value !== undefined) fn(at.value)
      return
    }
    const children = at.children
    if (children === undefined) return
    const dot = uri.indexOf('.', start)
    const end = dot === -1 ? uri.length : dot
    const next = dot === -1 ? uri.length + 1 : dot + 1
    const literal = children.get(uri.slice(start, end))
    if (literal !== undefined) this.matchWildcards(literal, uri, next, fn)
    const wild = children.get('')
    if (wild !== undefined && end > start) this.matchWildcards(wild, uri, next, fn)
  }
}

/**
 * The prefixes ending at one node that the component `uri[start, end)` starts with, shortest first. Looking up every
 * string prefix of the component hashes each of them: quadratic in its length (a 1 024-character topic cost 1.8 ms
 * with one root prefix subscription such as `""`). So when the node holds fewer prefixes than the component has
 * string prefixes, each is compared instead (`startsWith` stops at the first difference).
 */
function matchEnds<V> (ends: Map<string, V>, uri: string, start: number, end: number, fn: (value: V) => void): void {
  if (ends.size > end - start) {
    for (let i = start; i <= end; i++) {
      const v = ends.get(uri.slice(start, i))
      if (v !== undefined) fn(v)
    }
    return
  }
  let found: Array<[string, V]> | undefined
  for (const entry of ends) {
    if (entry[0].length <= end - start && uri.startsWith(entry[0], start)) (found ??= []).push(entry)
  }
  if (found === undefined) return
  if (found.length > 1) found.sort((a, b) => a[0].length - b[0].length)
  for (const [, v] of found) fn(v)
}
