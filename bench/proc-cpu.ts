import { readFileSync } from 'node:fs'

/** CPU milliseconds (user + system) process `pid` has used so far, from Linux /proc (clock ticks of 10 ms). */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
