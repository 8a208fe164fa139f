#!/usr/bin/env node
// tests/js/producer.js - Azure's own JavaScript client (@azure/event-hubs, pinned by
// package-lock.json here) running a plan of producer calls against an Event Hubs endpoint, for the
// receiver's AMQP tests. Nothing is mocked: the client talks AMQP 1.0 to whatever the connection
// string names.
//
//   node producer.js --cs CONNECTION_STRING --plan PLAN.json [--retries N] [--timeout-ms MS]
//
// PLAN.json is an array of steps, run in order on one EventHubProducerClient:
//   {"op": "hub_props"}                         getEventHubProperties()
//   {"op": "partition_props", "partition": "2"} getPartitionProperties("2")
//   {"op": "batch", "events": [EV...], "partitionKey"?: K, "partitionId"?: P}
//        createBatch({partitionKey | partitionId}), tryAdd every event (a step fails when one
//        does not fit), sendBatch(batch)
//   {"op": "array", "events": [EV...], "partitionKey"?: K, "partitionId"?: P}
//        sendBatch(events, {partitionKey | partitionId}) (the array form; one event = a single send)
// EV: {"body": "text"} (sent as the UTF-8 bytes, a Buffer), {"body_b64": "…"} (those bytes) or
// {"body_json": VALUE} (the client JSON-encodes it), and "properties": {name: value}; a value {"$bytes": "<base64>"} is sent as a
// Buffer (AMQP binary), other JSON values as they are (rhea: string, uint/int, double, boolean).
//
// Prints one JSON line per step: {"step": i, "op": ..., "ok": true, "result": {...}} or
// {"step": i, "op": ..., "ok": false, "error": {"name", "code", "retryable", "message"}}; every
// value of a properties result comes with its JavaScript type in "types" (Date as "Date", arrays
// as "array<T>"). Exits 0 when the plan ran (whatever the steps' outcomes), 2 on a bad plan.
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

function typeOf(v) {
  if (v instanceof Date)
    return "Date";
  if (Array.isArray(v))
    return `array<${[...new Set(v.map(typeOf))].join("|")}>`;
  if (v === null)
    return "null";
  return typeof v;
}

// The properties object as JSON with the type of each value beside it.
function typed(o) {
  const result = {}, types = {};
  for (const [k, v] of Object.entries(o)) {
    result[k] = v instanceof Date ? v.toISOString() : v;
    types[k] = typeOf(v);
  }
  return { result, types };
}

function toEvent(ev) {
  const e = {};
  if ("body_json" in ev)
    e.body = ev.body_json;
  else if ("body_b64" in ev)
    e.body = Buffer.from(ev.body_b64, "base64");
  else
    e.body = Buffer.from(ev.body, "utf8");
  if (ev.properties) {
    e.properties = {};
    for (const [k, v] of Object.entries(ev.properties))
      e.properties[k] = v && typeof v === "object" && "$bytes" in v ? Buffer.from(v.$bytes, "base64") : v;
  }
  return e;
}

// An error as the client surfaced it; an AggregateError (the client tried several addresses)
// with the errors inside it.
function describe(e) {
  const d = { name: e.name, code: e.code, retryable: e.retryable, message: e.message };
  if (Array.isArray(e.errors))
    d.errors = e.errors.map(describe);
  return d;
}

function sendOptions(step) {
  const o = {};
  if (step.partitionKey !== undefined)
    o.partitionKey = step.partitionKey;
  if (step.partitionId !== undefined)
    o.partitionId = step.partitionId;
  return o;
}

async function run(producer, step) {
  switch (step.op) {
  case "hub_props":
    return typed(await producer.getEventHubProperties());
  case "partition_props":
    return typed(await producer.getPartitionProperties(step.partition));
  case "batch": {
    const batch = await producer.createBatch(sendOptions(step));
    for (const ev of step.events)
      if (!batch.tryAdd(toEvent(ev)))
        throw new Error(`event ${batch.count} does not fit the batch (maxSizeInBytes ${batch.maxSizeInBytes})`);
    await producer.sendBatch(batch);
    return { result: { count: batch.count, maxSizeInBytes: batch.maxSizeInBytes } };
  }
  case "array":
    await producer.sendBatch(step.events.map(toEvent), sendOptions(step));
    return { result: { count: step.events.length } };
  default:
    throw new Error(`unknown op ${step.op}`);
  }
}

async function main() {
  const a = args(process.argv.slice(2));
  let plan;
  try {
    plan = JSON.parse(fs.readFileSync(a.plan, "utf8"));
  } catch (e) {
    console.error(`producer.js: cannot read the plan ${a.plan}: ${e.message}`);
    process.exit(2);
  }
  const retryOptions = { maxRetries: Number(a.retries ?? 2), retryDelayInMs: 200, maxRetryDelayInMs: 1000 };
  if (a["timeout-ms"])
    retryOptions.timeoutInMs = Number(a["timeout-ms"]);
  const producer = new EventHubProducerClient(a.cs, { retryOptions });
  for (let i = 0; i < plan.length; i++) {
    const step = plan[i];
    const line = { step: i, op: step.op };
    try {
      Object.assign(line, { ok: true }, await run(producer, step));
    } catch (e) {
      line.ok = false;
      line.error = describe(e);
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  }
  await producer.close();
}

main().catch((e) => {
  console.error(`producer.js: ${e.name}: ${e.message}`);
  process.exit(1);
});
