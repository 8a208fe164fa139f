// phone_view.js - load a page in headless Chromium as a phone shows it, over the DevTools
// protocol on a pipe (--remote-debugging-pipe: no port, no library): a mobile viewport of
// WIDTH x HEIGHT CSS pixels (Chromium's --window-size stops at 500 px), wait until the page's
// first refresh is done (<body data-refreshes> >= 1, the dashboard's own mark), save a
// screenshot of the whole page, and print one JSON line: {"innerWidth", "scrollWidth" (the
// widest the document is: more than innerWidth means the page scrolls sideways), "ready",
// "state", "refreshes"}.
//   node phone_view.js CHROMIUM URL WIDTH HEIGHT OUT.png PROFILE_DIR
// Exits 1 with a sentence on stderr when Chromium fails or the page does not refresh in 30 s.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

const [chrome, url, width, height, png, profile] = process.argv.slice(2);
if (!profile) {
    console.error('usage: node phone_view.js CHROMIUM URL WIDTH HEIGHT OUT.png PROFILE_DIR');
    process.exit(2);
}
const browser = spawn(chrome, ['--headless=new', '--disable-gpu', '--no-sandbox',
                               '--remote-debugging-pipe', `--user-data-dir=${profile}`,
                               '--no-first-run', '--disable-extensions', '--disable-sync',
                               '--hide-scrollbars', 'about:blank'],
                      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
                        env: { ...process.env, HOME: profile } });
const toChrome = browser.stdio[3], fromChrome = browser.stdio[4];
const waiting = new Map();
let lastId = 0, pending = Buffer.alloc(0);

// one protocol call; messages are JSON, each ended by a NUL byte
function call(method, params, sessionId) {
    const msg = { id: ++lastId, method, params: params || {} };
    if (sessionId) msg.sessionId = sessionId;
    toChrome.write(JSON.stringify(msg) + '\0');
    return new Promise((resolve, reject) => waiting.set(msg.id, { resolve, reject, method }));
}

fromChrome.on('data', chunk => {
    pending = Buffer.concat([pending, chunk]);
    for (let end; (end = pending.indexOf(0)) >= 0;) {
        const msg = JSON.parse(pending.subarray(0, end).toString('utf8'));
        pending = pending.subarray(end + 1);
        const w = msg.id && waiting.get(msg.id);
        if (!w) continue; // an event
        waiting.delete(msg.id);
        if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
        else w.resolve(msg.result);
    }
});
browser.on('exit', code => {
    for (const w of waiting.values()) w.reject(new Error(`chromium exited (${code}) during ${w.method}`));
    waiting.clear();
});

const sleep = ms => new Promise(r => setTimeout(r, ms));
const LOOK = 'JSON.stringify({ innerWidth, scrollWidth: document.documentElement.scrollWidth,' +
             ' ready: document.body ? document.body.dataset.ready : null,' +
             ' state: document.body ? document.body.dataset.state : null,' +
             ' refreshes: document.body ? Number(document.body.dataset.refreshes || 0) : 0 })';

async function main() {
    const { targetId } = await call('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await call('Target.attachToTarget', { targetId, flatten: true });
    await call('Emulation.setDeviceMetricsOverride',
               { width: Number(width), height: Number(height), deviceScaleFactor: 2, mobile: true },
               sessionId);
    await call('Page.enable', {}, sessionId);
    await call('Page.navigate', { url }, sessionId);
    let seen;
    for (const deadline = Date.now() + 30000; ;) {
        // while the page navigates, an evaluation may fail or run in the old document
        const r = await call('Runtime.evaluate', { expression: LOOK, returnByValue: true }, sessionId)
            .catch(e => ({ result: {}, error: e }));
        if (typeof r.result.value === 'string') seen = JSON.parse(r.result.value);
        if (seen && seen.refreshes >= 1) break;
        if (Date.now() > deadline)
            throw new Error(`the page did not refresh in 30 s: ${JSON.stringify(seen || r)}`);
        await sleep(200);
    }
    const m = await call('Page.getLayoutMetrics', {}, sessionId);
    const shot = await call('Page.captureScreenshot', {
        format: 'png', captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: Number(width), height: Math.ceil(m.cssContentSize.height), scale: 1 },
    }, sessionId);
    fs.writeFileSync(png, Buffer.from(shot.data, 'base64'));
    // PHONE_VIEW_PARTS=N: also the first N screens, each as OUT-K.png (to look at by eye)
    for (let k = 0; k < Number(process.env.PHONE_VIEW_PARTS || 0); k++) {
        const part = await call('Page.captureScreenshot', {
            format: 'png', captureBeyondViewport: true,
            clip: { x: 0, y: k * Number(height), width: Number(width), height: Number(height), scale: 1 },
        }, sessionId);
        fs.writeFileSync(png.replace(/\.png$/, `-${k}.png`), Buffer.from(part.data, 'base64'));
    }
    console.log(JSON.stringify(seen));
}

main().then(() => call('Browser.close').catch(() => {}), e => {
    console.error('phone_view.js: ' + e.message);
    process.exitCode = 1;
    browser.kill('SIGKILL');
});
