// When queued messages leave: at the check phase of the event loop, after the poll phase has read every socket that
// had data, so a session's answers to all of it go out in one write. One immediate drains every transport written
// in the iteration (not one per socket), in the order they were first written.

/** A transport whose queued messages `flush()` hands to the kernel; `terminate()` if that throws. */
export interface Flushable {
  flush (): void
  terminate (): void
}

let queue: Flushable[] = []
let spare: Flushable[] = []
let scheduled = false

/** `transport` has messages waiting: flush it at this iteration's check phase. Call once per iteration and transport. */
export function flushSoon (transport: Flushable): void {
  queue.push(transport)
  if (!scheduled) {
    scheduled = true
    setImmediate(flushAll)
  }
}

function flushAll (): void {
  scheduled = false
  const due = queue
  queue = spare
  for (let i = 0; i < due.length; i++) run(due[i])
  due.length = 0
  spare = due
}

function run (transport: Flushable): void {
  try {
    transport.flush()
  } catch {
    transport.terminate()
  }
}
