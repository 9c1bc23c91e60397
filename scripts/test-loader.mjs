// tap's --import for every test process (package.json "tap"): files from the compiled mirror (tmp/test-build,
// made by scripts/build-tests.ts) run as plain JavaScript; the few test files run from their .ts source, because
// they compile or load the checkout's TypeScript themselves, get tsx.
if (process.argv[1]?.endsWith('.ts')) await import('tsx')
