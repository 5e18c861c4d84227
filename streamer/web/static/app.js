// streamer live market page. Data comes from the dashboard's REST API (snapshot) and its event stream
// (every change after that). Charts are TradingView lightweight-charts (the vendored standalone build).
"use strict";

(function () {
  const LC = window.LightweightCharts;
  const ROW_HEIGHT = 24;
  const MAX_FEED = 300;
  const SEVERITY_COLOUR = { critical: "#b3261e", warning: "#d97706", info: "#2b5fad" };
  const REASON_COLOURS = ["#b3261e", "#2b5fad", "#1f7a48", "#a15c00", "#7b3fa0", "#00838f", "#5d4037",
    "#c2185b", "#455a64", "#827717", "#0d47a1", "#e65100"];

  // ---- state -------------------------------------------------------------------------------------
  const state = {
    kind: "prices",        // chart series kind
    key: null,             // chart series key, e.g. "AEMO:SA1"
    window: "5m",
    range: "all",
    tableKind: "prices",
    filter: "",
    sort: { col: "key", dir: 1 },
  };
  const latest = new Map();         // "kind|key" -> record
  const updatedAt = new Map();      // "kind|key" -> page time of the last pushed change
  let barsByStart = new Map();      // start_ms -> bar, chart series only
  let windowsOfSeries = [];
  let seriesAnomalies = [];         // anomalies of the chart series
  const feed = [];                  // recent anomalies, newest first
  const feedIds = new Set();
  const dlqMinutes = new Map();     // minute ms -> {reason: count}
  let dlqTotals = {};
  let markets = [];
  let status = {};
  let rows = [];                    // table rows after filter and sort
  let source = null;
  let loadToken = 0;

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const sid = (kind, key) => kind + "|" + key;

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const name of ["kind", "key", "window", "range"]) {
      if (params.get(name)) state[name] = params.get(name);
    }
  }
  function writeHash() {
    const params = new URLSearchParams({ kind: state.kind, key: state.key || "", window: state.window, range: state.range });
    history.replaceState(null, "", "#" + params.toString());
  }

  // ---- formatting --------------------------------------------------------------------------------
  function localIso(ms, offsetMin) {
    const d = new Date(ms + offsetMin * 60000);
    const sign = offsetMin < 0 ? "-" : "+";
    const abs = Math.abs(offsetMin);
    const off = sign + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
    return d.toISOString().slice(0, 16).replace("T", " ") + " " + off;
  }
  function age(seconds) {
    if (!isFinite(seconds)) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
    if (seconds < 2 * 365 * 86400) return Math.round(seconds / 86400) + " d";
    return (seconds / (365.25 * 86400)).toFixed(1) + " y";
  }
  const num = (v) => (v == null ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: 2, minimumFractionDigits: 2 }));

  // ---- REST --------------------------------------------------------------------------------------
  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  async function loadSnapshot() {
    const [lat, mk, an, dl, st] = await Promise.all([
      api("/api/latest"), api("/api/markets"), api("/api/anomalies?limit=" + MAX_FEED), api("/api/dlq?minutes=1440"), api("/api/status"),
    ]);
    for (const r of lat.records) putLatest(r, false);
    markets = mk.markets;
    addAnomalies(an.anomalies.slice().reverse(), false);
    mergeDlq(dl.minutes, dl.totals);
    status = st;
    if (!state.key) chooseDefaultSeries();
    renderAll();
    await loadSeries();
  }

  async function loadSeries() {
    if (!state.key) return;
    const token = ++loadToken;
    const enc = encodeURIComponent(state.key);
    const [bars, an] = await Promise.all([
      api(`/api/bars/${state.kind}/${enc}?window=${encodeURIComponent(state.window)}`),
      api(`/api/anomalies?key=${enc}&kind=${state.kind}&limit=100000`),
    ]);
    if (token !== loadToken) return; // the selection changed meanwhile
    windowsOfSeries = bars.windows;
    if (bars.window !== state.window && bars.window) state.window = bars.window;
    barsByStart = new Map(bars.bars.map((b) => [b.start_ms, b]));
    seriesAnomalies = an.anomalies;
    renderControls();
    renderChart(true);
  }

  // ---- events ------------------------------------------------------------------------------------
  function connect() {
    if (source) source.close();
    const params = new URLSearchParams();
    if (state.key) { params.set("kind", state.kind); params.set("key", state.key); }
    source = new EventSource("/api/stream?" + params.toString());
    setConnection("connecting");
    source.addEventListener("hello", () => {
      setConnection("open");
      loadSnapshot().catch((e) => console.error(e)); // after every (re)connect: nothing missed
    });
    source.addEventListener("update", (event) => applyUpdate(JSON.parse(event.data)));
    source.onerror = () => setConnection(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  }
  function setConnection(text) {
    const el = $("connection");
    el.textContent = "events: " + text;
    el.className = "pill " + (text === "open" ? "live" : text === "closed" ? "down" : "loading");
  }

  function applyUpdate(u) {
    if (u.status) status = u.status;
    if (u.latest) for (const r of u.latest) putLatest(r, true);
    if (u.markets) markets = u.markets;
    if (u.anomalies) addAnomalies(u.anomalies, true);
    if (u.dlq) mergeDlq(u.dlq, u.dlq_totals);
    if (u.bars && u.bars.key === state.key && u.bars.kind === state.kind) {
      let touched = false;
      for (const [win, points] of Object.entries(u.bars.windows)) {
        if (!windowsOfSeries.includes(win)) { windowsOfSeries.push(win); windowsOfSeries.sort(); renderControls(); }
        if (win !== state.window) continue;
        for (const b of points) barsByStart.set(b.start_ms, b);
        touched = true;
      }
      if (touched) renderChart(false);
    }
    scheduleRender();
  }

  function putLatest(r, pushed) {
    const id = sid(r.kind, r.key);
    const current = latest.get(id);
    if (current && current.event_ms > r.event_ms) return;
    latest.set(id, r);
    if (pushed) updatedAt.set(id, performance.now());
  }

  function anomalyId(a) { return [a.key, a.type, a.event_ms, a.detected_at].join("|"); }
  function addAnomalies(list, pushed) {
    let seriesTouched = false;
    for (const a of list) { // oldest first
      const id = anomalyId(a);
      if (feedIds.has(id)) continue;
      feedIds.add(id);
      feed.unshift(a);
      if (pushed && a.key === state.key && (a.kind == null || a.kind === state.kind)) {
        seriesAnomalies.unshift(a);
        seriesTouched = true;
      }
    }
    while (feed.length > MAX_FEED) feedIds.delete(anomalyId(feed.pop()));
    if (seriesTouched) renderMarkers();
  }

  function mergeDlq(minutes, totals) {
    for (const [minute, counts] of minutes) {
      const have = dlqMinutes.get(minute) || {};
      const merged = { ...have };
      for (const [reason, n] of Object.entries(counts)) merged[reason] = Math.max(n, have[reason] || 0);
      dlqMinutes.set(minute, merged);
    }
    if (totals) dlqTotals = totals;
    renderDlqSoon = true;
  }

  // ---- selection ---------------------------------------------------------------------------------
  function seriesOf(kind, market) {
    const out = [];
    for (const r of latest.values()) if (r.kind === kind && (!market || r.market === market)) out.push(r);
    out.sort((a, b) => a.key.localeCompare(b.key));
    return out;
  }
  function chooseDefaultSeries() {
    const all = seriesOf(state.kind, null);
    if (all.length) state.key = all[0].key;
  }
  function select(kind, key) {
    if (kind === state.kind && key === state.key) return;
    state.kind = kind;
    state.key = key;
    barsByStart = new Map();
    seriesAnomalies = [];
    writeHash();
    renderControls();
    renderChart(true);
    connect(); // the event stream carries the bars of the chosen series only
  }

  // ---- rendering ---------------------------------------------------------------------------------
  let renderPending = false;
  let renderDlqSoon = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(() => { renderPending = false; renderAll(); });
  }
  function renderAll() {
    renderStatus();
    renderControls();
    buildRows();
    renderRows();
    renderFreshness();
    renderFeed();
    if (renderDlqSoon) { renderDlq(); renderDlqSoon = false; }
  }

  function renderStatus() {
    const el = $("status");
    if (!status || status.partitions === undefined) return;
    if (status.partitions === 0) { el.textContent = "waiting for the output topics"; el.className = "pill loading"; return; }
    const n = Object.values(status.records || {}).reduce((s, x) => s + x, 0);
    el.textContent = (status.live ? "live" : `loading history (${status.history_pending} partitions left)`) +
      ` · ${status.series} series · ${n.toLocaleString()} records read`;
    el.className = "pill " + (status.live ? "live" : "loading");
  }

  function fillSelect(el, values, current, label) {
    const html = values.map((v) => `<option value="${esc(v)}"${v === current ? " selected" : ""}>${esc(label ? label(v) : v)}</option>`).join("");
    if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; }
    if (current != null) el.value = current;
  }
  function renderControls() {
    $("chart-kind").value = state.kind;
    $("series-label").textContent = state.kind === "load" ? "Zone" : "Node";
    const current = state.key ? latest.get(sid(state.kind, state.key)) : null;
    const market = current ? current.market : (state.key ? state.key.split(":")[0] : null);
    const marketNames = [...new Set(seriesOf(state.kind, null).map((r) => r.market))].sort();
    if (market && !marketNames.includes(market)) marketNames.push(market);
    fillSelect($("market"), marketNames, market);
    const keys = seriesOf(state.kind, market).map((r) => r.key);
    if (state.key && !keys.includes(state.key)) keys.unshift(state.key);
    fillSelect($("series"), keys, state.key, (k) => k.slice(k.indexOf(":") + 1));
    const windows = windowsOfSeries.length ? windowsOfSeries : [state.window];
    fillSelect($("window"), windows, state.window);
    $("range").value = state.range;
  }

  // -- table (only the visible rows are in the DOM)
  function buildRows() {
    const needle = state.filter.toLowerCase();
    rows = [];
    for (const r of latest.values()) {
      if (r.kind !== state.tableKind) continue;
      if (needle && !r.key.toLowerCase().includes(needle)) continue;
      rows.push(r);
    }
    const { col, dir } = state.sort;
    rows.sort((a, b) => {
      let x = a[col], y = b[col];
      if (Array.isArray(x)) { x = x.join(","); y = y.join(","); }
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.key < b.key ? -1 : 1;
    });
    $("row-count").textContent = `${rows.length.toLocaleString()} series`;
    $("grid-spacer").style.height = rows.length * ROW_HEIGHT + "px";
    for (const span of document.querySelectorAll("#grid-head span")) {
      span.className = (span.dataset.sort === col ? (dir > 0 ? "asc" : "desc") : "") + (span.classList.contains("num") ? " num" : "");
    }
  }
  function renderRows() {
    const grid = $("grid");
    const first = Math.max(0, Math.floor(grid.scrollTop / ROW_HEIGHT) - 5);
    const count = Math.ceil(grid.clientHeight / ROW_HEIGHT) + 10;
    const now = performance.now();
    const nowMs = Date.now();
    const html = [];
    for (let i = first; i < Math.min(rows.length, first + count); i++) {
      const r = rows[i];
      const id = sid(r.kind, r.key);
      const cls = ["grid-row"];
      if (r.key === state.key && r.kind === state.kind) cls.push("selected");
      if (updatedAt.has(id) && now - updatedAt.get(id) < 1500) cls.push("fresh");
      html.push(`<div class="${cls.join(" ")}" data-kind="${esc(r.kind)}" data-key="${esc(r.key)}">` +
        `<span title="${esc(r.key)}">${esc(r.key)}</span><span>${esc(r.market)}</span>` +
        `<span>${esc(r.interval_start.replace("T", " "))}</span><span class="num">${num(r.value)}</span>` +
        `<span class="num">${r.anomaly_score ? r.anomaly_score.toFixed(1) : ""}</span>` +
        `<span class="${r.anomalies.length ? "flag" : ""}">${esc(r.anomalies.join(" "))}${r.late ? " (late)" : ""}</span>` +
        `<span class="num">${age((nowMs - r.seen_ms) / 1000)}</span></div>`);
    }
    const box = $("grid-rows");
    box.style.top = first * ROW_HEIGHT + "px";
    box.innerHTML = html.join("");
  }

  // -- candlestick chart
  const chart = LC.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#1c2430" },
    grid: { vertLines: { color: "#f0f2f5" }, horzLines: { color: "#f0f2f5" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { scaleMargins: { top: 0.15, bottom: 0.05 } },
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#1f7a48", downColor: "#b3261e", borderVisible: false, wickUpColor: "#1f7a48", wickDownColor: "#b3261e",
  });
  const markers = LC.createSeriesMarkers(candles, []);
  let plotted = [];

  // Bars are drawn in the market's local time: the chart's time axis has no time zones.
  const chartTime = (b) => Math.floor((b.start_ms + b.offset_min * 60000) / 1000);
  function visibleBars() {
    const all = [...barsByStart.values()].sort((a, b) => a.start_ms - b.start_ms);
    if (state.range === "all" || !all.length) return all;
    const from = all[all.length - 1].start_ms - Number(state.range);
    return all.filter((b) => b.start_ms >= from);
  }
  function renderChart(fit) {
    plotted = visibleBars();
    candles.setData(plotted.map((b) => ({ time: chartTime(b), open: b.open, high: b.high, low: b.low, close: b.close })));
    renderMarkers();
    if (fit) chart.timeScale().fitContent();
    const title = state.key ? `${state.key} · ${state.kind} · ${state.window} bars` : "no series yet";
    $("chart-title").textContent = title;
    if (plotted.length) {
      const hi = Math.max(...plotted.map((b) => b.high));
      const lo = Math.min(...plotted.map((b) => b.low));
      const off = plotted[0].offset_min;
      $("chart-summary").textContent = `${plotted.length} bars, ${localIso(plotted[0].start_ms, off)} to ` +
        `${localIso(plotted[plotted.length - 1].end_ms, off)} (market time) · high ${num(hi)} · low ${num(lo)} · ` +
        `${markers.markers().length} anomaly markers`;
    } else {
      $("chart-summary").textContent = state.key ? "no closed bars for this series and window yet" : "";
    }
  }
  // One marker per bar and anomaly type (the most severe wins): shape by type, colour by severity.
  const MARKER_SHAPE = { price_spike: "arrowDown", out_of_band: "square", load_drop: "arrowUp", flatline: "circle", stale_feed: "circle" };
  function renderMarkers() {
    const byBar = new Map();
    for (const a of seriesAnomalies) {
      const bar = barAt(a.event_ms);
      if (!bar) continue;
      const id = bar.start_ms + "|" + a.type;
      const seen = byBar.get(id);
      if (!seen || rank(a.severity) > rank(seen.a.severity)) byBar.set(id, { bar, a });
    }
    const list = [...byBar.values()]
      .sort((x, y) => x.bar.start_ms - y.bar.start_ms)
      .map(({ bar, a }) => ({
        time: chartTime(bar),
        position: a.type === "load_drop" ? "belowBar" : "aboveBar",
        shape: MARKER_SHAPE[a.type] || "circle",
        color: SEVERITY_COLOUR[a.severity] || "#444",
        size: a.severity === "critical" ? 1.4 : 1,
      }));
    markers.setMarkers(list);
    const types = [...new Set(seriesAnomalies.filter((a) => barAt(a.event_ms)).map((a) => a.type))].sort();
    $("marker-legend").innerHTML = types.map((t) => `<span>${SHAPE_GLYPH[MARKER_SHAPE[t] || "circle"]} ${esc(t.replace("_", " "))}</span>`).join("") +
      (types.length ? '<span><i style="background:#b3261e"></i>critical</span><span><i style="background:#d97706"></i>warning</span><span><i style="background:#2b5fad"></i>info</span>' : "");
  }
  const SHAPE_GLYPH = { arrowDown: "▼", arrowUp: "▲", square: "■", circle: "●" };
  const rank = (s) => ({ info: 1, warning: 2, critical: 3 }[s] || 0);
  function barAt(ms) {
    let lo = 0, hi = plotted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = plotted[mid];
      if (ms < b.start_ms) hi = mid - 1;
      else if (ms >= b.end_ms) lo = mid + 1;
      else return b;
    }
    return null;
  }

  // -- DLQ rate per reason
  const dlqChart = LC.createChart($("dlq-chart"), {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#1c2430", fontSize: 11 },
    grid: { vertLines: { visible: false }, horzLines: { color: "#f0f2f5" } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const dlqSeries = new Map();
  function renderDlq() {
    // Every minute from the first to the last one kept, zero where a reason had no dead letters.
    const kept = [...dlqMinutes.keys()].sort((a, b) => a - b);
    const minutes = [];
    if (kept.length) {
      const first = Math.max(kept[0], kept[kept.length - 1] - 1440 * 60000);
      for (let m = first; m <= kept[kept.length - 1]; m += 60000) minutes.push(m);
    }
    const reasons = Object.keys(dlqTotals);
    reasons.forEach((reason, i) => {
      if (!dlqSeries.has(reason)) {
        dlqSeries.set(reason, dlqChart.addSeries(LC.LineSeries, {
          color: REASON_COLOURS[i % REASON_COLOURS.length], lineWidth: 2, lineType: 1, priceLineVisible: false,
          lastValueVisible: false, priceFormat: { type: "price", precision: 0, minMove: 1 },
        }));
      }
      dlqSeries.get(reason).setData(minutes.map((m) => ({ time: m / 1000, value: (dlqMinutes.get(m) || {})[reason] || 0 })));
    });
    $("dlq-totals").innerHTML = reasons.map((reason, i) =>
      `<span><i style="background:${REASON_COLOURS[i % REASON_COLOURS.length]}"></i>${esc(reason)} ${dlqTotals[reason].toLocaleString()}</span>`).join("") ||
      '<span class="muted">no dead letters</span>';
  }

  // -- freshness and anomaly feed
  function renderFreshness() {
    const now = Date.now();
    $("freshness").tBodies[0].innerHTML = markets.map((m) => {
      const eventAge = (now - m.newest_event_ms) / 1000;
      const recordAge = (now - m.last_seen_ms) / 1000;
      return `<tr data-market="${esc(m.market)}"><td>${esc(m.market)}</td><td>${localIso(m.newest_event_ms, m.offset_min)}</td>` +
        `<td class="num${eventAge > 3600 ? " stale" : ""}">${age(eventAge)}</td><td class="num${recordAge > 600 ? " stale" : ""}">${age(recordAge)}</td>` +
        `<td class="num">${m.series.toLocaleString()}</td></tr>`;
    }).join("");
  }
  let feedRendered = null;
  function renderFeed() {
    $("anomaly-count").textContent = feed.length ? `(${feed.length} most recent)` : "";
    if (feedRendered === feed[0]) return;
    feedRendered = feed[0];
    $("anomaly-feed").innerHTML = feed.slice(0, 100).map((a) =>
      `<li data-key="${esc(a.key)}" data-kind="${esc(a.kind || "")}"><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span> ` +
      `${esc(a.type.replace("_", " "))} · <b>${esc(a.key)}</b> · ${esc(a.event_time.replace("T", " "))} · score ${Number(a.score).toFixed(1)}</li>`).join("");
  }

  // ---- wiring ------------------------------------------------------------------------------------
  $("grid").addEventListener("scroll", () => renderRows(), { passive: true });
  $("grid-rows").addEventListener("click", (e) => {
    const row = e.target.closest(".grid-row");
    if (row && row.dataset.kind !== "gas") select(row.dataset.kind, row.dataset.key);
  });
  $("grid-head").addEventListener("click", (e) => {
    const col = e.target.dataset && e.target.dataset.sort;
    if (!col) return;
    state.sort = { col, dir: state.sort.col === col ? -state.sort.dir : 1 };
    buildRows(); renderRows();
  });
  $("filter").addEventListener("input", (e) => { state.filter = e.target.value; $("grid").scrollTop = 0; buildRows(); renderRows(); });
  $("table-kind").addEventListener("change", (e) => { state.tableKind = e.target.value; buildRows(); renderRows(); });
  $("chart-kind").addEventListener("change", (e) => {
    const kind = e.target.value;
    const same = state.key && latest.has(sid(kind, state.key)) ? state.key : (seriesOf(kind, null)[0] || {}).key;
    select(kind, same || null);
  });
  $("market").addEventListener("change", (e) => {
    const first = seriesOf(state.kind, e.target.value)[0];
    if (first) select(state.kind, first.key);
  });
  $("series").addEventListener("change", (e) => select(state.kind, e.target.value));
  $("window").addEventListener("change", (e) => { state.window = e.target.value; writeHash(); loadSeries(); });
  $("range").addEventListener("change", (e) => { state.range = e.target.value; writeHash(); renderChart(true); });
  $("anomaly-feed").addEventListener("click", (e) => {
    const li = e.target.closest("li");
    if (li) select(li.dataset.kind || state.kind, li.dataset.key);
  });
  setInterval(() => { renderFreshness(); renderRows(); }, 1000); // ages tick on the page; no request is made

  readHash();
  $("table-kind").value = state.tableKind;
  connect();

  // For tests and the curious: the page's state and charts.
  window.streamerDashboard = { state, latest, feed, candles, markers, chart, dlqChart, plotted: () => plotted };
})();
