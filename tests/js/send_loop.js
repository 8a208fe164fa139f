#!/usr/bin/env node
// tests/js/send_loop.js - Azure's own JavaScript client (@azure/event-hubs, pinned here) sending
// the events of a JSON Lines file in full batches, as an application with a retry policy does, for
// the receiver's kill -9 test and tools/bench/amqp_ingest.sh.
//
//   node send_loop.js --cs CONNECTION_STRING --events FILE [--ack-log FILE] [--inflight N]
//                     [--key-field F] [--duration S] [--skip N] [--retries N] [--give-up-s S]
//                     [--max-batch N] [--rate EVENTS_PER_S] [--ready-file F]
//
// Each line is one event: body = the line's bytes, properties event_id, device_id, kind, schema
// (from the line's JSON, when there). Batches: createBatch({partitionKey: line[F]}) with F the
// --key-field (default device_id; "none": no key, the receiver spreads them), tryAdd until full
// or until the next event's key differs, then sendBatch. --inflight batches are sent at once
// (default 1), each from its own EventHubProducerClient-wide sender.
//
// The client's own retry policy (--retries, default 10; 200 ms to 2 s back-off; 10 s per try)
// retries a send over reconnects. A send that still fails is counted by error code and its events
// go back to be sent again (an application that must not lose events does this), until
// --give-up-s (default 300) seconds passed without any send succeeding.
//
// --ack-log: after each sendBatch resolves, the event_ids of that batch, one a line (written
// before the next send starts). --duration S: go round the file again and again for S seconds
// (a benchmark; then ids repeat); --skip N: start at line N (parallel benchmark producers).
// --max-batch N: at most N events a batch (default: as many as fit); --rate R: start no more
// than R events a second. --ready-file F: connect and authorize first (getEventHubProperties),
// then create F and wait for SIGUSR1 before the clock starts (a benchmark starts its producers
// together, connected). SIGTERM: start no new batch, finish (and log) those in flight, print
// the summary and exit 0.
//
// Prints one JSON line: {"events": acked, "batches": B, "seconds": S, "eps": R,
//   "failed_sends": F, "errors": {code: n}, "cpu_s": user+system of this process from the start
//   of sending (after the ready file) to the end,
//   "max_batch": the most events one batch held}.
"use strict";
const fs = require("fs");
const path = require("path");
const { EventHubProducerClient } = require(path.join(__dirname, "node_modules/@azure/event-hubs"));

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2)
    a[argv[i].replace(/^--/, "")] = argv[i + 1];
  return a;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const a = args(process.argv.slice(2));
  const keyField = a["key-field"] ?? "device_id";
  const inflight = Number(a.inflight ?? 1);
  const duration = a.duration ? Number(a.duration) * 1000 : 0;
  const giveUpMs = Number(a["give-up-s"] ?? 300) * 1000;
  const maxBatch = Number(a["max-batch"] ?? 4096);
  const rate = Number(a.rate ?? 0);
  let stopping = false;
  process.on("SIGTERM", () => { stopping = true; });
  const lines = fs.readFileSync(a.events, "utf8").split("\n").filter((l) => l);
  const events = lines.map((l) => {
    let j = {};
    try {
      j = JSON.parse(l);
    } catch (e) {
      // not JSON: sent as it is, without properties
    }
    const props = {};
    for (const k of ["event_id", "device_id", "kind", "schema"])
      if (j[k] !== undefined)
        props[k] = j[k];
    return { ev: { body: Buffer.from(l), properties: props }, id: j.event_id, key: keyField === "none" ? undefined : j[keyField] };
  });
  const ack = a["ack-log"] ? fs.openSync(a["ack-log"], "a") : null;
  const producer = new EventHubProducerClient(a.cs, {
    retryOptions: { maxRetries: Number(a.retries ?? 10), retryDelayInMs: 200, maxRetryDelayInMs: 2000, timeoutInMs: 10000 },
  });

  if (a["ready-file"]) {
    const go = new Promise((r) => process.once("SIGUSR1", r));
    await producer.getEventHubProperties();
    fs.writeFileSync(a["ready-file"], "ready\n");
    await go;
  }
  const cpu0 = process.cpuUsage(); // the sending's CPU, not node's start-up
  let next = Number(a.skip ?? 0) % events.length, taken = 0;
  const retry = []; // batches (arrays of events) whose send failed, to send again
  const t0 = Date.now();
  let lastOk = Date.now(), acked = 0, batches = 0, failed = 0, biggest = 0, started = 0;
  const errors = {};
  const more = () => !stopping && (retry.length || (duration ? Date.now() - t0 < duration : taken < events.length));
  // the next events to send: a failed batch again, else the following lines with the same key
  function take() {
    if (retry.length)
      return retry.shift();
    const first = events[next], out = [];
    for (let i = 0; i < maxBatch && (duration || taken < events.length); i++) {
      const e = events[next];
      if (e.key !== first.key)
        break;
      out.push(e);
      next = (next + 1) % events.length;
      taken++;
    }
    return out;
  }

  async function worker() {
    while (more()) {
      if (rate) // pace: the events started so far may not run ahead of rate × elapsed time
        while (!stopping && started > rate * (Date.now() - t0) / 1000)
          await sleep(10);
      if (stopping)
        break;
      let group = take();
      if (!group.length)
        break;
      started += group.length;
      try {
        const batch = await producer.createBatch(group[0].key === undefined ? {} : { partitionKey: group[0].key });
        let n = 0;
        while (n < group.length && batch.tryAdd(group[n].ev))
          n++;
        if (n === 0)
          throw new Error("an event does not fit an empty batch");
        if (n < group.length) // what did not fit goes first next time
          retry.unshift(group.slice(n));
        group = group.slice(0, n);
        await producer.sendBatch(batch);
      } catch (e) {
        failed++;
        errors[e.code || e.name] = (errors[e.code || e.name] || 0) + 1;
        retry.push(group);
        if (Date.now() - lastOk > giveUpMs)
          throw new Error(`no send succeeded for ${giveUpMs / 1000} s; the last error: ${e.code}: ${e.message}`);
        await sleep(200);
        continue;
      }
      lastOk = Date.now();
      if (ack) {
        const ids = group.map((e) => e.id).filter((id) => id !== undefined);
        if (ids.length)
          fs.writeSync(ack, ids.join("\n") + "\n");
      }
      acked += group.length;
      batches++;
      biggest = Math.max(biggest, group.length);
    }
  }

  await Promise.all(Array.from({ length: inflight }, worker));
  const secs = (Date.now() - t0) / 1000;
  await producer.close();
  if (ack)
    fs.closeSync(ack);
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({
    events: acked, batches, seconds: secs, eps: Math.round(acked / secs), failed_sends: failed, errors,
    cpu_s: (cpu.user + cpu.system) / 1e6, max_batch: biggest,
  }));
}

main().catch((e) => {
  console.error(`send_loop.js: ${e.name}: ${e.message}`);
  process.exit(1);
});
