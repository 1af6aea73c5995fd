// Loaded by `node --import` into the product processes the bench starts (never by the product itself):
// on SIGWINCH every JavaScript thread of the process (main, Temporal's workflow threads, helpers) runs a
// full garbage collection and appends its heap figures to $SCAIVAULT_BENCH_HEAP_FILE, one JSON line each.
// SIGWINCH because its default is to be ignored and Temporal's runtime does not take it (SIGUSR2 is one of
// the worker's shutdown signals).
//
// RSS alone cannot tell a process that keeps something per lease from one whose heaps have not yet been
// collected: V8 grows a heap lazily, so the same code read 1.03x and 1.13x from 10,000 to 30,000 live
// leases in two runs. The heap left after a full collection is what the process keeps.
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const file = process.env.SCAIVAULT_BENCH_HEAP_FILE;
if (file) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  v8.setFlagsFromString('--no-expose-gc'); // contexts made later (workflow code's) get no `gc` global
  const measure = (request) => {
    gc();
    const line = { request, threadId, used: v8.getHeapStatistics().used_heap_size };
    appendFileSync(file, JSON.stringify(line) + '\n');
  };
  const channel = new BroadcastChannel('scaivault-bench-heap');
  channel.unref();
  channel.onmessage = (event) => measure(event.data);
  if (isMainThread) {
    let request = 0;
    process.on('SIGWINCH', () => {
      request += 1;
      channel.postMessage(request);
      measure(request);
    });
  }
}
