import Type from 'typebox'
import { defineContract } from '../../lib/contract/index.js'

// The contract the contract tests share: a procedure with a one-value result and a declared error, one with several
// result values and kwargs, one without schemas, and two topics. `clientApi` is what clients implement (a contract's
// procedures are all implemented on one side).
export const api = defineContract({
  procedures: {
    'com.test.add': {
      description: 'Adds two numbers.',
      args: Type.Tuple([Type.Number(), Type.Number()]),
      result: { args: Type.Tuple([Type.Number()]) },
      errors: { 'com.test.overflow': { args: Type.Tuple([Type.Number()]), description: 'the sum exceeds 1000' } }
    },
    'com.test.pair': {
      kwargs: Type.Object({ name: Type.String() }),
      result: { args: Type.Tuple([Type.String(), Type.Integer()]), kwargs: Type.Object({ ok: Type.Boolean() }) }
    },
    'com.test.free': {}
  },
  topics: {
    'com.test.tick': { args: Type.Tuple([Type.Integer()]), kwargs: Type.Object({ at: Type.String() }) },
    'com.test.note': { args: Type.Tuple([Type.String()]) }
  }
})

export const clientApi = defineContract({
  procedures: {
    'com.test.client.ask': { args: Type.Tuple([Type.String()]), result: { args: Type.Tuple([Type.String()]) } }
  }
})
