/** A session's states: establishing (before WELCOME) → open → closing (GOODBYE or ABORT sent) → closed. */
export const State = { establishing: 0, open: 1, closing: 2, closed: 3 } as const
export type StateValue = typeof State[keyof typeof State]
