#!/usr/bin/env node
// tools/bench/ship_js.js - the official JavaScript client (@azure/event-hubs, from
// tests/js/package-lock.json) sending the events of a JSON Lines file to Event Hubs over AMQP,
// as the agent ships them: body = the line's bytes, properties event_id/device_id/kind/schema,
// partition key = device_id; full batches (createBatch, tryAdd until full), one sendBatch at a
// time, as the agent has one batch in flight. For tools/bench/ship.sh.
//
//   node ship_js.js --cs CONNECTION_STRING --events FILE [--count N]
// (the client from $HC_JS_DIR/node_modules, default tests/js: `npm ci` there first)
//
// Prints one JSON line: {"events": N, "seconds": S, "eps": R, "batches": B}.
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");
const JS_DIR = process.env.HC_JS_DIR || path.join(__dirname, "../../tests/js");
const { EventHubProducerClient } = require(path.join(JS_DIR, "node_modules/@azure/event-hubs"));

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2)
    a[argv[i].replace(/^--/, "")] = argv[i + 1];
  return a;
}

async function main() {
  const a = args(process.argv.slice(2));
  const count = Number(a.count ?? Infinity);
  const lines = [];
  const rl = readline.createInterface({ input: fs.createReadStream(a.events) });
  for await (const l of rl) {
    if (lines.length >= count)
      break;
    if (l)
      lines.push(l);
  }
  rl.close();
  const producer = new EventHubProducerClient(a.cs);
  const first = JSON.parse(lines[0]);
  await producer.getEventHubProperties(); // connect and authorize before the clock starts
  const t0 = process.hrtime.bigint();
  let batch = await producer.createBatch({ partitionKey: first.device_id });
  let batches = 0, sent = 0;
  for (const l of lines) {
    const e = JSON.parse(l);
    const ev = {
      body: Buffer.from(l),
      properties: { event_id: e.event_id, device_id: e.device_id, kind: e.kind, schema: e.schema },
    };
    if (!batch.tryAdd(ev)) {
      await producer.sendBatch(batch);
      sent += batch.count;
      batches++;
      batch = await producer.createBatch({ partitionKey: e.device_id });
      if (!batch.tryAdd(ev))
        throw new Error("an event does not fit an empty batch");
    }
  }
  if (batch.count) {
    await producer.sendBatch(batch);
    sent += batch.count;
    batches++;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await producer.close();
  console.log(JSON.stringify({ events: sent, seconds: secs, eps: Math.round(sent / secs), batches }));
}

main().catch((e) => {
  console.error(`ship_js: ${e.name}: ${e.message}`);
  process.exit(1);
});
