#!/usr/bin/env node
// tools/bench/consume_js.js - Azure's own JavaScript client (@azure/event-hubs, tests/js) for
// tools/bench/consume.sh. Two modes, each prints one JSON line:
//
//   node consume_js.js backlog --cs CS --partition P --count N [--ready-file F]
//     EventHubConsumerClient.subscribe to partition P from the earliest event ($Default,
//     maxBatchSize 300) until N events arrived: {"events", "seconds" (first subscribe to the
//     Nth event), "eps", "bytes"}. With --ready-file: connect first (getPartitionIds), create F
//     and wait for SIGUSR1 before subscribing (the script starts its consumers together).
//
//   node consume_js.js latency --cs CS --partition P --rate R --seconds S
//     a consumer subscribed at latest on P and, once it is open, a producer
//     (EventHubProducerClient, batches to partition P every 10 ms, R events a second, each
//     event's body its number) in this one process, on one clock: for every event, the time
//     from its sendBatch resolving (acknowledged: on disk) to the consumer getting it. Events a
//     consumer got before their acknowledgement came count 0 ms (and are counted in
//     "before_ack"). {"sent", "received", "p50_ms", "p99_ms", "max_ms", "before_ack",
//     "send_eps"}.
"use strict";
const fs = require("fs");
const path = require("path");
const JS_DIR = process.env.HC_JS_DIR || path.join(__dirname, "../../tests/js");
const { EventHubConsumerClient, EventHubProducerClient, earliestEventPosition,
  latestEventPosition } = require(path.join(JS_DIR, "node_modules/@azure/event-hubs"));

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2)
    a[argv[i].replace(/^--/, "")] = argv[i + 1];
  return a;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

async function backlog(a) {
  const want = Number(a.count);
  const client = new EventHubConsumerClient("$Default", a.cs);
  await client.getPartitionIds();
  if (a["ready-file"]) {
    const go = new Promise((r) => process.once("SIGUSR1", r));
    fs.writeFileSync(a["ready-file"], "");
    await go;
  }
  let n = 0, bytes = 0, t1 = 0, err = null;
  const t0 = now();
  let done;
  const finished = new Promise((r) => { done = r; });
  const sub = client.subscribe(a.partition, {
    processEvents: async (events) => {
      for (const e of events)
        bytes += Buffer.isBuffer(e.body) ? e.body.length : JSON.stringify(e.body).length;
      n += events.length;
      if (n >= want && !t1) {
        t1 = now();
        done();
      }
    },
    processError: async (e) => { err = String(e && (e.code || e.message)); },
  }, { startPosition: earliestEventPosition, maxBatchSize: 300, maxWaitTimeInSeconds: 1,
    skipParsingBodyAsJson: true });
  await finished;
  await sub.close();
  await client.close();
  const s = (t1 - t0) / 1e3;
  console.log(JSON.stringify({ events: n, seconds: +s.toFixed(3), eps: Math.round(n / s), bytes,
    error: err }));
}

async function latency(a) {
  const rate = Number(a.rate), secs = Number(a.seconds), per = Math.max(1, Math.round(rate / 100));
  const consumer = new EventHubConsumerClient("$Default", a.cs);
  const producer = new EventHubProducerClient(a.cs);
  const acked = new Map(), got = new Map();
  let opened;
  const isOpen = new Promise((r) => { opened = r; });
  const sub = consumer.subscribe(a.partition, {
    processEvents: async (events) => {
      const t = now();
      for (const e of events)
        got.set(Number(Buffer.isBuffer(e.body) ? e.body.toString() : e.body), t);
    },
    processError: async () => {},
    processInitialize: async () => opened(),
  }, { startPosition: latestEventPosition, maxBatchSize: 300, maxWaitTimeInSeconds: 1,
    skipParsingBodyAsJson: true });
  await isOpen;
  await producer.getPartitionIds();
  await sleep(1000); // the link is attached and has credit
  let seq = 0;
  const inflight = new Set();
  const t0 = now();
  while (now() - t0 < secs * 1e3) {
    const due = Math.floor((now() - t0) / 1e3 * rate);
    while (seq < due) {
      const batch = await producer.createBatch({ partitionId: a.partition });
      const ids = [];
      while (ids.length < per && seq < due) {
        if (!batch.tryAdd({ body: Buffer.from(String(seq)) }))
          break;
        ids.push(seq++);
      }
      const p = producer.sendBatch(batch).then(() => {
        const t = now();
        for (const id of ids)
          acked.set(id, t);
      }).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 8)
        await Promise.race(inflight);
    }
    await sleep(2);
  }
  await Promise.all(inflight);
  const sendS = (now() - t0) / 1e3;
  for (let i = 0; i < 100 && got.size < acked.size; i++)
    await sleep(50);
  await sub.close();
  await consumer.close();
  await producer.close();
  const lat = [];
  let before = 0;
  for (const [id, ta] of acked) {
    const tr = got.get(id);
    if (tr === undefined)
      continue;
    if (tr < ta)
      before++;
    lat.push(Math.max(0, tr - ta));
  }
  lat.sort((x, y) => x - y);
  const q = (f) => lat.length ? +lat[Math.min(lat.length - 1, Math.floor(f * lat.length))].toFixed(2) : null;
  console.log(JSON.stringify({ sent: acked.size, received: lat.length, p50_ms: q(0.5),
    p99_ms: q(0.99), max_ms: lat.length ? +lat[lat.length - 1].toFixed(2) : null,
    before_ack: before, send_eps: Math.round(acked.size / sendS) }));
}

const a = args(process.argv.slice(3));
(process.argv[2] === "latency" ? latency(a) : backlog(a))
  .catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
