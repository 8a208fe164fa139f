// app.js - the hubcap dashboard: reads /api/v1/* (receiver/api/api.h) and draws each panel as
// HTML tables and inline SVG, no library. Refreshes every ?refresh=SECONDS (default 5, 0: never);
// ?grain=minute|hour|day picks the sales grain, ?from=T&to=T narrow the sales range.
// Every drawn mark and figure carries data-label/data-key and data-value (the API's value, as
// JavaScript writes the number back), so a test can read what was drawn; <body> carries
// data-refreshes, data-ready and data-state.
'use strict';

const NS = 'http://www.w3.org/2000/svg';
const params = new URLSearchParams(location.search);
const REFRESH = Math.max(0, Number(params.get('refresh') ?? 5) || 0);
const MAX_WINDOWS = 7200; // sales windows drawn when the whole range has too many
let timer = null;

// ---- small helpers ------------------------------------------------------------------------

function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
}

function s(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
}

// 1234567.5 -> "1,234,567.50" (no locale: the same on every machine)
function num(v, digits) {
    if (v == null) return '–';
    const [i, f] = Number(v).toFixed(digits ?? 0).split('.');
    return i.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (f ? '.' + f : '');
}

// "2026-11-22T10:00:00Z" -> "2026-11-22 10:00:00Z"
function when(t) {
    return t == null ? '–' : String(t).replace('T', ' ');
}

// ... to the second: "2026-11-22T10:00:00.2137Z" -> "2026-11-22 10:00:00Z"
function whenSec(t) {
    return t == null ? '–' : when(String(t).replace(/\.\d+Z$/, 'Z'));
}

function age(sec) {
    if (sec == null) return '–';
    sec = Number(sec);
    if (Math.abs(sec) < 120) return num(sec, sec % 1 ? 1 : 0) + ' s';
    if (Math.abs(sec) < 7200) return num(sec / 60, 1) + ' min';
    if (Math.abs(sec) < 172800) return num(sec / 3600, 1) + ' h';
    return num(sec / 86400, 1) + ' d';
}

class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

async function api(path) {
    let r;
    try {
        r = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (e) {
        throw new ApiError(0, 'the receiver did not answer (' + e.message + ')');
    }
    let body = null;
    try {
        body = await r.json();
    } catch (e) { /* a non-JSON answer: the status says enough */ }
    if (!r.ok)
        throw new ApiError(r.status, (body && body.error) || 'HTTP ' + r.status + ' from ' + path);
    return body;
}

// a table: cols [{key, label, fmt, num}], rows of objects
function table(parent, caption, cols, rows) {
    // long tables scroll in their own box (focusable, so a keyboard can scroll it too); every
    // table scrolls sideways in its box on a narrow screen, not the page
    parent = h('div', { class: rows.length > 12 ? 'scroll' : 'wide-table', tabindex: '0',
                        'aria-label': caption }, parent);
    const t = h('table', {}, parent);
    h('caption', {}, t, caption);
    const tr = h('tr', {}, h('thead', {}, t));
    for (const c of cols) h('th', { scope: 'col', class: c.num ? 'num' : null }, tr, c.label);
    const tb = h('tbody', {}, t);
    for (const r of rows) {
        const row = h('tr', {}, tb);
        cols.forEach((c, i) => {
            const v = r[c.key];
            h(i ? 'td' : 'th', { scope: i ? null : 'row', class: c.num ? 'num' : null,
                                 'data-key': c.key, 'data-value': v == null ? '' : String(v) },
              row, c.fmt ? c.fmt(v) : String(v ?? '–'));
        });
    }
    return t;
}

// figures: [[label, value, text]] as a definition list
function figures(parent, list) {
    const dl = h('dl', { class: 'figures' }, parent);
    for (const [key, label, value, text] of list) {
        const d = h('div', {}, dl);
        h('dt', {}, d, label);
        h('dd', { 'data-key': key, 'data-value': value == null ? '' : String(value) }, d, text);
    }
    return dl;
}

// ---- charts -------------------------------------------------------------------------------

// a phone's screen: charts drawn narrower (their text would shrink below reading size)
function narrow() {
    return window.innerWidth < 600;
}

// Vertical bars, one per item ({label, value, cls, tip}), in order; a zero line when values are
// negative too. xlabel(item) gives the axis text under the first, middle and last bars.
function columns(parent, label, items, xlabel) {
    // drawn for the width it gets (a phone's is about 360 px), so text stays at 12 px
    const W = narrow() ? 400 : 960, H = narrow() ? 200 : 240, L = narrow() ? 56 : 70;
    const R = 10, T = 10, B = 30;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart' },
                  parent);
    const vals = items.map(i => Number(i.value));
    const max = Math.max(0, ...vals), min = Math.min(0, ...vals), span = max - min || 1;
    const y = v => T + (max - v) / span * (H - T - B);
    // a bar is 60 units wide at most: a few windows do not fill the chart with slabs
    const bw = Math.min((W - L - R) / items.length, 60), gap = bw > 4 ? bw * 0.15 : 0;
    const axis = s('g', { class: 'axis', 'aria-hidden': 'true' }, svg);
    s('line', { x1: L, x2: W - R, y1: y(0), y2: y(0) }, axis);
    const digits = Math.max(max, -min) < 10 ? 1 : 0;
    if (max > 0) s('text', { x: L - 6, y: y(max) + 4, 'text-anchor': 'end' }, axis, num(max, digits));
    if (min < 0) s('text', { x: L - 6, y: y(min) + 4, 'text-anchor': 'end' }, axis, num(min, digits));
    s('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end' }, axis, '0');
    const marks = new Set(items.length <= (narrow() ? 3 : 12) ? items.keys()
                          : [0, Math.floor((items.length - 1) / 2), items.length - 1]);
    const edge = marks.size < items.length; // the first and last labels align to the edges
    const bars = s('g', { class: 'bars' }, svg);
    items.forEach((it, i) => {
        const v = Number(it.value), x = L + (W - L - R - bw * items.length) / 2 + i * bw;
        const r = s('rect', { class: 'bar ' + (it.cls || ''), x: (x + gap / 2).toFixed(2),
                              width: Math.max(bw - gap, 0.5).toFixed(2),
                              y: Math.min(y(v), y(0)).toFixed(2),
                              height: Math.max(Math.abs(y(v) - y(0)), 0.5).toFixed(2),
                              'data-label': it.label, 'data-value': String(it.value) }, bars);
        s('title', {}, r, it.tip || `${it.label}: ${it.value}`);
        if (marks.has(i))
            s('text', { x: x + bw / 2, y: H - 10, 'text-anchor': edge && i === 0 ? 'start'
                        : edge && i === items.length - 1 ? 'end' : 'middle' },
              axis, xlabel(it));
    });
    return svg;
}

// Horizontal bars, one row per item ({label, value, text}), in order.
function rows(parent, label, items) {
    const W = narrow() ? 380 : 560, RH = 24, L = narrow() ? 120 : 150, R = narrow() ? 80 : 110;
    const room = narrow() ? 16 : 22; // label characters
    const H = items.length * RH + 4;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart' },
                  parent);
    const max = Math.max(0, ...items.map(i => Number(i.value))) || 1;
    const bars = s('g', { class: 'bars' }, svg);
    items.forEach((it, i) => {
        const v = Math.max(0, Number(it.value)), top = 2 + i * RH;
        s('text', { x: L - 6, y: top + RH * 0.65, 'text-anchor': 'end', 'aria-hidden': 'true' },
          svg, it.label.length > room ? it.label.slice(0, room - 1) + '…' : it.label);
        const r = s('rect', { class: 'bar', x: L, y: top + 3, height: RH - 6,
                              width: Math.max(v / max * (W - L - R), 0.5).toFixed(2),
                              'data-label': it.label, 'data-value': String(it.value) }, bars);
        s('title', {}, r, `${it.label}: ${it.text}`);
        s('text', { x: L + v / max * (W - L - R) + 6, y: top + RH * 0.65, 'aria-hidden': 'true' },
          svg, it.text);
    });
    return svg;
}

// ---- panels: each draws into its <section> and returns true when it had data -------------

function salesLabel(grain, t) {
    t = String(t);
    return grain === 'minute' ? t.slice(11, 16)
         : grain === 'hour' ? t.slice(5, 10) + ' ' + t.slice(11, 13) + 'h' : t.slice(0, 10);
}

// /api/v1/pipeline, asked once per refresh for the panels that read it
let pipelineAnswer = null;
function pipeline() {
    return pipelineAnswer || (pipelineAnswer = api('/api/v1/pipeline'));
}

const panels = {
    async pipeline(body) {
        const p = await pipeline();
        const lake = p.lake;
        figures(body, [
            ['watermark', 'Watermark', p.watermark, when(p.watermark)],
            ['max_event_time', 'Newest event', p.max_event_time, when(p.max_event_time)],
            ['lag_seconds', 'Lag (now − newest event)', p.lag_seconds, age(p.lag_seconds)],
            ['promote_lag_seconds', 'Oldest unpromoted file', p.promote_lag_seconds,
             age(p.promote_lag_seconds)],
            ['bronze_files', 'Capture files landed', p.bronze_files, num(p.bronze_files)],
            ['promoted_files', 'Files promoted', p.promoted_files, num(p.promoted_files)],
            ['bronze_events', 'Events in bronze', p.bronze_events, num(p.bronze_events)],
            ['quarantined', 'Quarantined', p.quarantined, num(p.quarantined)],
            ...Object.entries(p.silver || {}).map(([k, v]) => ['silver.' + k, 'Silver ' + k, v, num(v)]),
            ['lake.connected', 'Lake', lake ? lake.connected : null,
             lake ? (lake.connected ? 'connected' : 'disconnected') : 'no loop'],
        ]);
        if (lake) {
            figures(body, [
                ['lake.cycles', 'Cycles', lake.cycles, num(lake.cycles)],
                ['lake.errors', 'Errors', lake.errors, num(lake.errors)],
                ['lake.reconnects', 'Reconnects', lake.reconnects, num(lake.reconnects)],
                ['lake.last_cycle', 'Last cycle', lake.last_cycle, when(lake.last_cycle)],
            ]);
            if (lake.last_error)
                h('p', { class: 'lake-error', 'data-value': lake.last_error }, body,
                  'Last lake error: ' + lake.last_error);
        }
        return Number(p.bronze_events) > 0;
    },

    // When gold had each promoted batch, and how long after the hub enqueued its oldest event
    // (the newest in the tip): one bar per batch, oldest first.
    async freshness(body) {
        const p = await pipeline();
        const pts = (p.freshness || []).filter(x => x.oldest_seconds != null);
        const last = pts[pts.length - 1];
        const sorted = pts.map(x => Number(x.oldest_seconds)).sort((a, b) => a - b);
        const median = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : null;
        figures(body, [
            ['last', 'Last batch: oldest event → gold', last ? last.oldest_seconds : null,
             last ? age(last.oldest_seconds) : '–'],
            ['last_newest', 'Last batch: newest event → gold', last ? last.newest_seconds : null,
             last ? age(last.newest_seconds) : '–'],
            ['median', `Median of ${pts.length} batches`, median, age(median)],
            ['last_at', 'Last promoted', last ? last.at : null, whenSec(last ? last.at : null)],
        ]);
        if (!pts.length) return false;
        columns(body, `Seconds from the hub to gold per promoted batch, ${pts.length} batches`,
                pts.map(x => ({
                    label: x.at, value: x.oldest_seconds,
                    tip: `${whenSec(x.at)}: ${num(x.events)} events, oldest ${age(x.oldest_seconds)}, ` +
                         `newest ${age(x.newest_seconds)} after the hub enqueued them` })),
                it => String(it.label).slice(11, 19));
        h('p', { class: 'legend' }, body,
          'Each bar: a promoted batch, how long its oldest event took from the hub (enqueued) to gold.');
        return true;
    },

    async quarantine(body) {
        const p = await pipeline();
        const q = Object.entries(p.quarantine || {}).map(([rule, n]) => ({ rule, n }))
            .sort((a, b) => b.n - a.n || (a.rule < b.rule ? -1 : 1));
        figures(body, [['quarantined', 'Quarantined', p.quarantined, num(p.quarantined)]]);
        if (!q.length) {
            h('p', { class: 'legend' }, body, 'Nothing quarantined: every event passed the rules.');
            return true;
        }
        rows(body, 'Quarantined events per rule', q.map(x => ({
            label: x.rule, value: x.n, text: num(x.n) })));
        table(body, 'Quarantine by rule', [{ key: 'rule', label: 'Rule' },
                                          { key: 'n', label: 'Events', num: true, fmt: num }], q);
        return true;
    },

    async sales(body) {
        const grain = document.getElementById('grain').value;
        const q = new URLSearchParams({ grain });
        for (const k of ['from', 'to']) if (params.get(k)) q.set(k, params.get(k));
        let d, note = null;
        try {
            d = await api('/api/v1/sales?' + q);
        } catch (e) {
            // too many windows for the whole range (400): show the last MAX_WINDOWS of the data
            if (e.status !== 400 || q.has('from') || q.has('to')) throw e;
            const p = await api('/api/v1/pipeline');
            if (!p.max_event_time) throw e;
            const step = { minute: 60e3, hour: 3600e3, day: 86400e3 }[grain];
            const end = Math.floor(Date.parse(p.max_event_time) / step) * step;
            q.set('from', new Date(end - (MAX_WINDOWS - 1) * step).toISOString().replace('.000Z', 'Z'));
            d = await api('/api/v1/sales?' + q);
            note = `The last ${num(MAX_WINDOWS)} windows, from ${when(q.get('from'))}.`;
        }
        figures(body, [
            ['total_sales', 'Total sales', d.total_sales, num(d.total_sales, 2)],
            ['windows', 'Windows', d.windows.length, num(d.windows.length)],
            ['watermark', 'Watermark', d.watermark, when(d.watermark)],
        ]);
        if (note) h('p', { class: 'legend' }, body, note);
        if (!d.windows.length) return false;
        const items = d.windows.map(w => ({
            label: w.start, value: w.sales, cls: w.final ? 'final' : 'open',
            tip: `${when(w.start)}: ${num(w.sales, 2)} (${w.lines} lines, ${w.invoices} invoices` +
                 `${w.final ? '' : ', not final'}${w.revision ? ', revision ' + w.revision : ''})`,
        }));
        const svg = columns(body, `Sales per ${d.grain}, ${items.length} windows`, items,
                            it => salesLabel(d.grain, it.label));
        svg.id = 'sales-chart';
        h('p', { class: 'legend' }, body, 'Lighter bars: windows not final yet (end after the watermark).');
        return true;
    },

    async top(body) {
        const d = await api('/api/v1/top-products');
        if (!d.products.length) return false;
        rows(body, 'Top products by revenue', d.products.map(p => ({
            label: p.stock_code, value: p.revenue, text: num(p.revenue, 2) })));
        table(body, 'Top products', [
            { key: 'rank', label: '#', num: true }, { key: 'stock_code', label: 'Stock code' },
            { key: 'description', label: 'Description' },
            { key: 'quantity', label: 'Quantity', num: true, fmt: num },
            { key: 'revenue', label: 'Revenue', num: true, fmt: v => num(v, 2) }], d.products);
        return true;
    },

    async cancellations(body) {
        const c = await api('/api/v1/cancellations');
        figures(body, [
            ['invoices', 'Invoices', c.invoices, num(c.invoices)],
            ['cancelled_invoices', 'Cancelled invoices', c.cancelled_invoices, num(c.cancelled_invoices)],
            ['cancellation_rate', 'Cancellation rate', c.cancellation_rate,
             num(Number(c.cancellation_rate) * 100, 2) + ' %'],
            ['cancelled_lines', 'Cancelled lines', c.cancelled_lines, num(c.cancelled_lines)],
            ['cancelled_value', 'Cancelled value', c.cancelled_value, num(c.cancelled_value, 2)],
            ['returned_lines', 'Returned lines', c.returned_lines, num(c.returned_lines)],
            ['returned_value', 'Returned value', c.returned_value, num(c.returned_value, 2)],
        ]);
        rows(body, 'Cancelled and returned value', [
            { label: 'cancelled', value: c.cancelled_value, text: num(c.cancelled_value, 2) },
            { label: 'returned', value: c.returned_value, text: num(c.returned_value, 2) }]);
        return Number(c.invoices) + Number(c.cancelled_invoices) > 0;
    },

    async tracking(body) {
        const d = await api('/api/v1/tracking');
        figures(body, [['parcels', 'Parcels', d.parcels, num(d.parcels)]]);
        if (!d.statuses.length) return false;
        rows(body, 'Parcels per status', d.statuses.map(x => ({
            label: x.status, value: x.parcels, text: num(x.parcels) })));
        return true;
    },

    async cars(body) {
        const d = await api('/api/v1/cars/turnover');
        if (!d.models.length) return false;
        const m = d.models.map(x => ({ ...x, name: x.make + ' ' + x.model }));
        const sold = m.filter(x => x.avg_days_listed != null);
        if (sold.length)
            rows(body, 'Average days listed per model', sold.map(x => ({
                label: x.name, value: x.avg_days_listed, text: num(x.avg_days_listed, 1) + ' d' })));
        table(body, 'Turnover and average price per model', [
            { key: 'make', label: 'Make' }, { key: 'model', label: 'Model' },
            { key: 'listings', label: 'Listings', num: true, fmt: num },
            { key: 'removed', label: 'Sold or removed', num: true, fmt: num },
            { key: 'avg_days_listed', label: 'Avg days listed', num: true, fmt: v => num(v, 1) },
            { key: 'avg_price', label: 'Avg price', num: true, fmt: v => num(v, 2) }], m);
        return true;
    },
};

// Draw one panel; returns 'ok', 'empty', the ApiError, or 'stale' when a newer draw of the
// same panel started meanwhile (its answer wins).
const drawing = {};
async function draw(id) {
    const mine = drawing[id] = (drawing[id] || 0) + 1;
    const sec = document.getElementById(id);
    const body = document.createElement('div');
    body.className = 'body';
    let state, note = '';
    try {
        state = (await panels[id](body)) ? 'ok' : 'empty';
        if (state === 'empty') note = 'No data yet.';
    } catch (e) {
        if (!(e instanceof ApiError)) e = new ApiError(-1, 'the page failed: ' + e.message);
        state = e;
        note = e.status === 503 ? 'Unavailable.' : 'Error: ' + e.message;
    }
    if (drawing[id] !== mine) return 'stale';
    sec.querySelector('.body').replaceWith(body);
    sec.dataset.state = state instanceof Error ? 'error' : state;
    const p = sec.querySelector('.note');
    p.textContent = note;
    p.hidden = !note;
    return state;
}

async function refresh(only) {
    clearTimeout(timer);
    const ids = only ? [only] : Object.keys(panels);
    pipelineAnswer = null;
    if (only) document.getElementById(only).dataset.state = 'loading';
    const states = await Promise.all(ids.map(draw));
    const errors = states.filter(x => x instanceof Error);
    const down = errors.find(e => e.status === 503 || e.status === 0);
    const banner = document.getElementById('banner');
    if (!only || down) {
        banner.hidden = !down;
        banner.textContent = down ? down.message : '';
        banner.dataset.status = down ? String(down.status) : '';
    }
    if (!only) {
        const b = document.body.dataset;
        b.refreshes = String(Number(b.refreshes) + 1);
        b.state = errors.length ? 'error' : states.includes('empty') ? 'empty' : 'ok';
        b.ready = b.state === 'ok' ? '1' : '0';
        document.getElementById('updated').textContent =
            'Updated ' + new Date().toISOString().slice(0, 19).replace('T', ' ') + 'Z' +
            (REFRESH ? `, every ${REFRESH} s` : '');
    }
    if (REFRESH) timer = setTimeout(() => refresh(), REFRESH * 1000);
}

document.addEventListener('DOMContentLoaded', () => {
    const grain = document.getElementById('grain');
    if (['minute', 'hour', 'day'].includes(params.get('grain'))) grain.value = params.get('grain');
    grain.addEventListener('change', () => refresh('sales'));
    // a phone turned, a window resized across the narrow() line: draw the charts for it
    let wasNarrow = narrow();
    addEventListener('resize', () => {
        if (narrow() !== wasNarrow) {
            wasNarrow = narrow();
            refresh();
        }
    });
    refresh();
});
