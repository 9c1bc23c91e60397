// The example's API contract, imported by the server (examples/app.ts implements it) and by the browser page
// (examples/browser/app.ts calls it through the typed client). Nothing here is Node-only.
import Type from 'typebox'
import { defineContract } from '../lib/contract/index.js'

export const exampleApi = defineContract({
  procedures: {
    'com.example.add': {
      description: 'Adds two numbers.',
      args: Type.Tuple([Type.Number(), Type.Number()]),
      result: { args: Type.Tuple([Type.Number()]) }
    },
    'com.example.greet': {
      description: 'Greets a person by name.',
      kwargs: Type.Object({ name: Type.String({ minLength: 1 }) }),
      result: { args: Type.Tuple([Type.String()]) },
      errors: { 'com.example.error.unknown_person': { args: Type.Tuple([Type.String()]), description: 'nobody by that name' } }
    }
  },
  topics: {
    'com.example.news': {
      description: 'Pushed by POST /api/notify.',
      args: Type.Tuple([Type.String()]),
      kwargs: Type.Object({ at: Type.String() })
    }
  }
})

/** What each browser page implements and the server calls (POST /api/ask-browser). */
export const pageApi = defineContract({
  procedures: {
    'com.example.browser.ask': { args: Type.Tuple([Type.String()]), result: { args: Type.Tuple([Type.String()]) } }
  }
})
