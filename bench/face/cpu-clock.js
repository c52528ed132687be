// Preloaded into the reference (node -r) by bench/face/run when
// BENCH_FACE_REF_CLOCK=cpu: performance.now() then returns the CPU time of
// the main thread (where tfjs-wasm computes; /proc/thread-self/schedstat,
// nanoseconds), so the reference's --time medians become CPU-time medians:
// what they would be on an idle core, comparable with custos's CPU-time
// column when the machine is shared.  V8's helper threads (GC, compilation)
// are not counted.
'use strict';
const fs = require('fs');
const buf = Buffer.alloc(128);
const fd = fs.openSync('/proc/thread-self/schedstat', 'r');
performance.now = function now() {
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  const ns = buf.toString('latin1', 0, n).split(' ')[0];
  return Number(ns) / 1e6;
};
