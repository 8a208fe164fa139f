#!/usr/bin/env node
// tests/js/consumer.js - Azure's own JavaScript client (@azure/event-hubs, pinned by
// package-lock.json here) reading events back: EventHubConsumerClient.subscribe on the
// $Default group (or --group G), every partition (or one), from a start position, until COUNT
// events arrived or nothing arrived for IDLE_MS.
//
//   node consumer.js --cs CONNECTION_STRING --from earliest|latest|seq:N|offset:O|time:MS
//                    [--partition P] [--count N] [--idle-ms MS] [--timeout-ms MS]
//                    [--owner-level N]   (an epoch reader: a higher one takes the partition)
//                    [--group G]         (the consumer group, default $Default)
//                    [--exclusive 1]     (seq:N and offset:O start after N or O, not at it)
//                    [--stop-file F]     (with no --count: stop once F exists and nothing
//                                         arrived for IDLE_MS; before that, idle is no end)
//                    [--try-timeout-ms MS] (the client's retryOptions.timeoutInMs: how long one
//                                         try may hang, e.g. on a connection refused while
//                                         the receiver restarts; default the client's 60 s)
//                    [--max-batch N]     (maxBatchSize, default 100; the client's prefetch is 3N)
//                    [--pause-ms MS]     (processEvents takes this long per batch: a slow reader)
//                    [--track-last 1]    (trackLastEnqueuedEventProperties: each event's row
//                                         gets "last": the partition context's
//                                         lastEnqueuedEventProperties after its batch)
//
// Prints one JSON line per event: {"partition", "seq", "offset", "enq" (ms), "pkey", "body"
// (UTF-8 text), "props", "recv_ms" (the wall clock when the client handed it over)}, then
// {"done": true, "events": n, "errors": [...]}. With --from latest it prints {"ready": true}
// once every subscription is open (the caller sends after that).
"use strict";
const fs = require("fs");
const path = require("path");
const { EventHubConsumerClient, earliestEventPosition, latestEventPosition } = require(
  path.join(__dirname, "node_modules/@azure/event-hubs"));

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2)
    a[argv[i].replace(/^--/, "")] = argv[i + 1];
  return a;
}

function position(s, inclusive) {
  if (s === "earliest")
    return earliestEventPosition;
  if (s === "latest")
    return latestEventPosition;
  const [k, v] = s.split(":");
  if (k === "seq")
    return { sequenceNumber: Number(v), isInclusive: inclusive };
  if (k === "offset")
    return { offset: v, isInclusive: inclusive };
  if (k === "time")
    return { enqueuedOn: new Date(Number(v)) };
  throw new Error("bad --from " + s);
}

async function main() {
  const a = args(process.argv.slice(2));
  const want = Number(a.count || 0), idle = Number(a["idle-ms"] || 3000);
  const deadline = Date.now() + Number(a["timeout-ms"] || 60000);
  const client = new EventHubConsumerClient(a.group || "$Default", a.cs, a["try-timeout-ms"] ?
    { retryOptions: { timeoutInMs: Number(a["try-timeout-ms"]), maxRetries: 10 } } : {});
  const errors = [];
  let n = 0, last = Date.now(), opened = 0;
  const ids = a.partition !== undefined ? [a.partition] : await client.getPartitionIds();
  const handlers = {
    processEvents: async (events, ctx) => {
      const now = Date.now();
      const lp = a["track-last"] ? ctx.lastEnqueuedEventProperties : undefined;
      const lastEnq = lp ? {
        seq: lp.sequenceNumber === undefined ? null : lp.sequenceNumber,
        offset: lp.offset === undefined ? null : lp.offset,
        enq: lp.enqueuedOn ? lp.enqueuedOn.getTime() : null,
        retrieved: lp.retrievedOn ? lp.retrievedOn.getTime() : null,
      } : undefined;
      for (const e of events) {
        n++;
        const body = Buffer.isBuffer(e.body) ? e.body.toString("utf8") : e.body;
        console.log(JSON.stringify({
          partition: ctx.partitionId, seq: e.sequenceNumber, offset: e.offset,
          enq: e.enqueuedTimeUtc.getTime(), pkey: e.partitionKey === undefined ? null : e.partitionKey,
          body, props: e.properties || {}, recv_ms: now, ...(lastEnq ? { last: lastEnq } : {}),
        }));
      }
      if (events.length)
        last = now;
      if (a["pause-ms"] && events.length)
        await new Promise((r) => setTimeout(r, Number(a["pause-ms"])));
    },
    processError: async (err) => {
      errors.push(String(err && (err.code || err.name || err.message)));
      if (process.env.HC_JS_DEBUG)
        console.error(err);
    },
    processInitialize: async () => {
      if (++opened === ids.length && a.from === "latest")
        setTimeout(() => console.log(JSON.stringify({ ready: true })), 500);
    },
  };
  const subs = ids.map((id) => client.subscribe(id, handlers, {
    startPosition: position(a.from || "earliest", !a.exclusive), maxBatchSize: Number(a["max-batch"] || 100),
    maxWaitTimeInSeconds: 1, trackLastEnqueuedEventProperties: !!a["track-last"],
    ...(a["owner-level"] !== undefined ? { ownerLevel: Number(a["owner-level"]) } : {}),
  }));
  const stopped = () => !a["stop-file"] || fs.existsSync(a["stop-file"]);
  while (Date.now() < deadline && !(want && n >= want) &&
         !(!want && Date.now() - last > idle && stopped()))
    await new Promise((r) => setTimeout(r, 50));
  for (const s of subs)
    await s.close();
  await client.close();
  console.log(JSON.stringify({ done: true, events: n, errors: [...new Set(errors)] }));
}

main().catch((e) => { console.log(JSON.stringify({ done: true, events: 0, errors: [String(e)] })); process.exit(1); });
