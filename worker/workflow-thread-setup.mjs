// Loaded by `node --import` into the worker process; Node runs it in every thread the process starts,
// Temporal's workflow threads among them.
//
// Those threads record a stack trace for every promise workflow code creates (a V8 promise hook, mapped
// through the bundle's source map), only to answer the `__stack_trace` query (the Web UI's "Stack Trace"
// tab). Replaying a lease measured 0.5x the workflow thread's CPU without it (bench/README.md). The SDK
// runs without the hook where promise hooks are missing (Bun, Deno): its hook alone is refused here, so
// Node's own (AsyncLocalStorage, which the SDK's update handling uses) stays. The query then answers that
// stack traces are off. SCAIVAULT_WORKFLOW_STACK_TRACES=true keeps them, for debugging a stuck workflow.
import v8 from 'node:v8';

if (process.env.SCAIVAULT_WORKFLOW_STACK_TRACES !== 'true') {
  const createHook = v8.promiseHooks.createHook;
  v8.promiseHooks.createHook = function (hooks) {
    if (/\bGlobalHandlers\.setPromiseHook\b/.test(new Error().stack ?? '')) {
      quietOnce(console, 'warn', /^v8\.promiseHooks\.createHook is not available/);
      throw new Error('workflow stack traces are off (SCAIVAULT_WORKFLOW_STACK_TRACES)');
    }
    return createHook.call(this, hooks);
  };
}

/** The SDK says, once per thread, that promise hooks are "not available": true here by choice, not news. */
function quietOnce(target, method, message) {
  const original = target[method];
  target[method] = function (...args) {
    target[method] = original;
    if (typeof args[0] === 'string' && message.test(args[0])) return;
    return original.apply(this, args);
  };
}
