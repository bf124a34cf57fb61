// Weir's status page. Plain JavaScript, no framework, no build step: it
// reads the public HTTP API (the same routes a script uses) and draws what
// it reads with DOM calls (never HTML strings).
//
// Live updates cost the server little: one long poll of /api/events (as any
// consumer makes) and, every STATUS_EVERY_MS, the sources' status routes.
// Both run only while the tab is visible; a hidden tab sends nothing.
'use strict';

(() => {
  const TOKEN_KEY = 'weir.token';
  /** How often the sources' status is read while one of them works… */
  const STATUS_BUSY_MS = 5000;
  /** …and while every source rests (events and due times prompt reads too). */
  const STATUS_IDLE_MS = 30000;
  /** The soonest a status refresh follows another one (events may come fast). */
  const STATUS_AT_MOST_EVERY_MS = 2000;
  /** Events kept in the live tail, and asked for per long poll. */
  const TAIL = 50;
  /** Seconds a long poll waits at the log's head. */
  const WAIT_SECONDS = 25;
  const VIEWS = ['sources', 'entities', 'rejections', 'events'];
  const TITLES = { sources: 'Sources', entities: 'Entities', rejections: 'Rejections', events: 'Event log' };
  const SVG = 'http://www.w3.org/2000/svg';

  const state = {
    view: 'sources',
    statuses: [],
    /** Sources whose full status must be read again (an event or an action touched them). */
    stale: new Set(),
    log: null,
    tail: [],
    offset: null,
    head: null,
    statusAt: 0,
    statusTimer: 0,
    ticker: 0,
    poll: null,
    entityRef: null,
    updatedAt: null,
  };

  // ---- small helpers ------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  /** An element with attributes (`class`, `data-*`, `aria-*`, …) and children. */
  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    setAttributes(element, attrs);
    append(element, children);
    return element;
  }

  function s(tag, attrs, ...children) {
    const element = document.createElementNS(SVG, tag);
    setAttributes(element, attrs);
    append(element, children);
    return element;
  }

  function setAttributes(element, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'onclick') element.addEventListener('click', value);
      else element.setAttribute(name, value === true ? '' : String(value));
    }
  }

  function append(element, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
  }

  const numbers = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const count = (n) => numbers.format(n ?? 0);

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** `in 12 s`, `3 min ago`: a time relative to now. */
  function relative(iso) {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return '—';
    const delta = Math.round((ms - Date.now()) / 1000);
    const size = Math.abs(delta);
    const text = size < 60 ? `${size} s`
      : size < 3600 ? `${Math.round(size / 60)} min`
      : size < 86400 ? `${numbers.format(size / 3600)} h`
      : `${numbers.format(size / 86400)} d`;
    if (size < 1) return 'now';
    return delta > 0 ? `in ${text}` : `${text} ago`;
  }

  /** A <time> that keeps its relative text current (see `tick`). */
  function when(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: iso, title: new Date(iso).toLocaleString(), 'data-relative': '' }, relative(iso));
  }

  function tick() {
    for (const time of document.querySelectorAll('time[data-relative]')) {
      time.textContent = relative(time.getAttribute('datetime'));
    }
  }

  const shortBuild = (build) => (build ? build.replace(/^sha256:/, '').slice(0, 12) : '—');

  /** `kind:namespace/name` → its by-ref path. */
  function refPath(entityRef) {
    const match = /^([^:]+):([^/]+)\/(.+)$/.exec(entityRef);
    if (!match) return null;
    return match.slice(1).map(encodeURIComponent).join('/');
  }

  function entityLink(entityRef) {
    return h('a', { href: `/ui/entities?ref=${encodeURIComponent(entityRef)}` }, h('code', {}, entityRef));
  }

  // ---- the API ----------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  /** Call a route of this server with the operator's token, if any. */
  async function api(path, { method = 'GET', signal } = {}) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, signal, cache: 'no-store', credentials: 'omit' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      init.body = '{}';
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message = body?.error?.message || `${response.status} ${response.statusText}`;
      throw new ApiFailure(response.status, message, body);
    }
    return body;
  }

  function showProblem(error) {
    const box = $('#problem');
    if (!error) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    let text = error.message || String(error);
    if (error.status === 401) text += ' Type the admin or the read token above.';
    box.textContent = text;
    box.hidden = false;
  }

  // ---- the token --------------------------------------------------------

  function showTokenState() {
    const set = Boolean(sessionStorage.getItem(TOKEN_KEY));
    $('#token-state').textContent = set
      ? 'set for this tab: sent with every request'
      : 'none: actions are refused when the server has an admin token';
  }

  function useToken(event) {
    event.preventDefault();
    const input = $('#token');
    const value = input.value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    input.value = '';
    showTokenState();
    restartLive();
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    restartLive();
  }

  // ---- views and navigation -----------------------------------------------

  function viewOf(pathname) {
    const match = /^\/ui\/([a-z]+)/.exec(pathname);
    return match && VIEWS.includes(match[1]) ? match[1] : 'sources';
  }

  function route({ focus = false } = {}) {
    state.view = viewOf(location.pathname);
    const params = new URLSearchParams(location.search);
    for (const view of VIEWS) $(`#view-${view}`).hidden = view !== state.view;
    for (const link of document.querySelectorAll('nav a[data-view]')) {
      if (link.dataset.view === state.view) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${TITLES[state.view]} · Weir status`;
    if (state.view === 'entities') {
      const entityRef = params.get('ref');
      if (entityRef) loadEntity(entityRef);
      const q = params.get('q');
      if (q) {
        $('#search').value = q;
        search(q);
      }
    }
    if (state.view === 'rejections') {
      $('#rejections-source').value = params.get('source') || '';
      loadRejections();
    }
    if (state.view === 'events') renderEvents();
    if (state.view === 'sources') renderSources();
    if (focus) {
      const heading = $(`#view-${state.view} h1`);
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }

  function navigate(url) {
    history.pushState(null, '', url);
    route({ focus: true });
  }

  function onClick(event) {
    const link = event.target.closest('a[href^="/ui/"]');
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  }

  // ---- sources ----------------------------------------------------------

  /**
   * Read the sources' summary (one small request) and, only for a source
   * whose phase, cycle or next action changed, or that is working now, its
   * full status. The log's bounds are read when the event log is shown. An
   * idle page therefore costs one small request every STATUS_IDLE_MS besides
   * its long poll.
   */
  async function refreshStatus() {
    clearTimeout(state.statusTimer);
    state.statusAt = Date.now();
    let busy = false;
    let soonest = Infinity;
    try {
      const list = await api('/api/catalog/incremental/providers');
      const known = new Map(state.statuses.map((status) => [status.provider, status]));
      state.statuses = await Promise.all(list.sources.map(async (summary) => {
        const previous = known.get(summary.name);
        const working = summary.phase === 'bursting' || summary.phase === 'interstitial';
        busy ||= working;
        const next = Date.parse(summary.nextActionAt ?? '');
        if (next > Date.now()) soonest = Math.min(soonest, next);
        const same = previous && !previous.failed && previous.phase === summary.phase
          && previous.cycle === summary.cycle && previous.nextActionAt === summary.nextActionAt;
        if (same && !working && !state.stale.has(summary.name)) return previous;
        try {
          const status = await api(`/api/catalog/incremental/providers/${encodeURIComponent(summary.name)}`);
          state.stale.delete(summary.name);
          return status;
        } catch (error) {
          return { provider: summary.name, failed: error.message };
        }
      }));
      if (state.view === 'events' || state.log === null) state.log = await api('/api/events/log');
      state.updatedAt = new Date();
      showProblem(null);
      renderSources();
      renderEvents();
      fillSourceChoices();
      if (state.view === 'rejections') await loadRejections();
      renderLive();
    } catch (error) {
      showProblem(error);
    }
    if (document.visibilityState === 'visible') {
      // Soon after a source's next action is due (its phase changes then),
      // else at the working or idle pace.
      const pace = busy ? STATUS_BUSY_MS : STATUS_IDLE_MS;
      const due = Math.max(STATUS_AT_MOST_EVERY_MS, Math.min(pace, soonest + 1000 - Date.now()));
      state.statusTimer = setTimeout(refreshStatus, due);
    }
  }

  /** A status refresh soon, but not sooner than STATUS_AT_MOST_EVERY_MS after the last. */
  function refreshSoon(sources = state.statuses.map((status) => status.provider)) {
    for (const name of sources) state.stale.add(name);
    const due = Math.max(0, state.statusAt + STATUS_AT_MOST_EVERY_MS - Date.now());
    clearTimeout(state.statusTimer);
    state.statusTimer = setTimeout(refreshStatus, due);
  }

  function phasePill(status) {
    const phase = status.phase || 'waiting to start';
    return h('span', { class: `pill ${phase.replace(/\s+/g, '-')}` }, phase);
  }

  function totals(t) {
    if (!t) return '—';
    return h('div', { class: 'counts' },
      h('span', {}, `${count(t.pages)} pages`),
      h('span', {}, `${count(t.entities)} entities`),
      h('span', {}, `+${count(t.added)} added`),
      h('span', {}, `~${count(t.updated)} updated`),
      h('span', {}, `−${count(t.removed)} removed`),
      h('span', { class: t.rejected ? 'warn-text' : '' }, `${count(t.rejected)} rejected`));
  }

  function actionButton(source, action, label) {
    return h('button', {
      type: 'button',
      'data-key': `${source}:${action}`,
      'aria-label': `${label} ${source}`,
      onclick: () => act(source, action, label),
    }, label);
  }

  /** A cell of the sources table: labelled for the phone layout, its content in one box. */
  function cell(field, label, ...content) {
    return h('td', { 'data-field': field, 'data-label': label }, h('div', { class: 'cell' }, content));
  }

  function sourceRow(status) {
    const name = status.provider;
    if (status.failed) {
      return h('tr', { 'data-source': name },
        h('th', { scope: 'row' }, name),
        h('td', { colspan: 8, class: 'error-text' }, status.failed));
    }
    const plugin = status.plugin;
    return h('tr', { 'data-source': name },
      h('th', { scope: 'row' }, h('a', { href: `#source-${name}` }, name),
        h('div', { class: 'muted' }, `${count(status.entities)} entities`, status.push ? ' · push' : '')),
      cell('phase', 'Phase', phasePill(status)),
      cell('cycle', 'Cycle so far', h('div', {}, `cycle ${status.cycle}`,
        status.cycleStartedAt ? h('span', { class: 'muted' }, ' · started ', when(status.cycleStartedAt)) : ''),
      totals(status.totals)),
      cell('next', 'Next action', when(status.nextActionAt)),
      cell('backoff', 'Back-off', status.failures > 0
        ? h('span', { class: 'pill bad' }, `step ${status.failures}`)
        : h('span', { class: 'muted' }, 'none')),
      cell('error', 'Last error', status.last_error
        ? [h('div', { class: 'error-text' }, status.last_error), when(status.lastErrorAt)]
        : h('span', { class: 'muted' }, 'none')),
      cell('lease', 'Lease', status.lease
        ? [h('code', {}, status.lease.owner), h('div', { class: 'muted' }, 'until ', when(status.lease.until))]
        : h('span', { class: 'muted' }, 'free')),
      cell('plugin', 'Plugin', plugin
        ? [h('code', { class: 'nowrap' }, plugin.file), h('div', { class: 'muted nowrap' }, 'build ', h('code', { title: plugin.build }, shortBuild(plugin.build))),
          plugin.quarantined ? h('span', { class: 'pill bad' }, 'rolled back') : '']
        : '—'),
      cell(null, 'Actions', h('div', { class: 'actions' },
        actionButton(name, 'trigger', 'Trigger'),
        actionButton(name, 'start', 'Start cycle'),
        actionButton(name, 'cancel', 'Cancel'))));
  }

  /** Entities per second of each finished cycle, oldest first, as SVG bars. */
  function rateChart(name, cycles) {
    const points = cycles.slice().reverse().map((cycle) => {
      const seconds = Math.max(0.001, (Date.parse(cycle.endedAt) - Date.parse(cycle.startedAt)) / 1000);
      return { cycle: cycle.cycle, rate: cycle.totals.entities / seconds };
    });
    if (points.length === 0) return h('p', { class: 'muted' }, 'No finished cycle yet.');
    const width = 360;
    const height = 140;
    const top = 20;
    const bottom = 20;
    const max = Math.max(...points.map((p) => p.rate), 1);
    // The status keeps the last 10 cycles: one slot each, so one bar is not a wall.
    const slot = (width - 40) / Math.max(points.length, 10);
    const last = points[points.length - 1];
    const label = `Entities per second in the last ${points.length} cycles of ${name}: `
      + `latest ${count(last.rate)} per second (cycle ${last.cycle}), highest ${count(max)}.`;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
      s('line', { class: 'axis', x1: 0, y1: height - bottom, x2: width, y2: height - bottom }),
      s('line', { class: 'axis', x1: 0, y1: top, x2: width, y2: top, 'stroke-dasharray': '3 3' }),
      s('text', { x: 0, y: top - 5 }, `${count(max)} per second`),
      s('text', { x: width, y: height - 6, 'text-anchor': 'end' }, 'cycle'),
      points.map((point, i) => {
        const barHeight = ((height - top - bottom) * point.rate) / max;
        const x = i * slot + slot * 0.15;
        return s('g', {},
          s('rect', { class: 'bar', x, y: height - bottom - barHeight, width: slot * 0.7, height: Math.max(barHeight, 1) },
            s('title', {}, `cycle ${point.cycle}: ${count(point.rate)} entities per second`)),
          s('text', { x: x + slot * 0.35, y: height - 6, 'text-anchor': 'middle' }, String(point.cycle)));
      }));
    return h('div', { class: 'chart' }, svg);
  }

  function cycleTable(name, cycles) {
    if (cycles.length === 0) return h('p', { class: 'muted' }, 'No finished cycle yet.');
    return h('div', { class: 'table-wrap', role: 'region', tabindex: 0, 'aria-label': `Cycle history of ${name}` },
      h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Cycle', 'Outcome', 'Ended', 'Took', 'Entities', 'Per second', 'Changes', 'Sweep']
          .map((title) => h('th', { scope: 'col' }, title)))),
        h('tbody', {}, cycles.map((cycle) => {
          const seconds = (Date.parse(cycle.endedAt) - Date.parse(cycle.startedAt)) / 1000;
          const t = cycle.totals;
          return h('tr', {},
            h('td', { class: 'num' }, cycle.cycle),
            h('td', {}, h('span', { class: `pill ${cycle.outcome === 'completed' ? 'good' : 'bad'}` }, cycle.outcome)),
            h('td', {}, when(cycle.endedAt)),
            h('td', { class: 'num' }, seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${numbers.format(seconds)} s`),
            h('td', { class: 'num' }, count(t.entities)),
            h('td', { class: 'num' }, count(t.entities / Math.max(seconds, 0.001))),
            h('td', {}, `+${count(t.added)} ~${count(t.updated)} −${count(t.removed)}, ${count(t.rejected)} rejected`),
            h('td', {}, cycle.sweep || '—'));
        }))));
  }

  function sourceDetails(status) {
    const name = status.provider;
    if (status.failed) return null;
    const plugin = status.plugin || {};
    return h('section', { class: 'details', id: `source-${name}`, 'aria-labelledby': `source-${name}-title` },
      h('h2', { id: `source-${name}-title` }, name),
      h('div', { class: 'details-grid' },
        h('div', {},
          h('h3', {}, 'Entities per second, last cycles'),
          rateChart(name, status.cycles || [])),
        h('div', {},
          h('h3', {}, 'Plugin'),
          h('dl', { class: 'facts' },
            h('dt', {}, 'File'), h('dd', {}, h('code', {}, plugin.file || '—')),
            h('dt', {}, 'Build'), h('dd', {}, h('code', {}, plugin.build || '—')),
            h('dt', {}, 'Reloads'), h('dd', {}, count(plugin.reloads), plugin.lastReloadAt ? [' · last ', when(plugin.lastReloadAt)] : ''),
            h('dt', {}, 'Load error'), h('dd', { class: plugin.lastReloadError ? 'error-text' : 'muted' }, plugin.lastReloadError || 'none'),
            h('dt', {}, 'Quarantined'), h('dd', {}, plugin.quarantined ? h('code', {}, plugin.quarantined) : h('span', { class: 'muted' }, 'none')),
            h('dt', {}, 'Missing secrets'), h('dd', {}, (plugin.missingSecrets || []).length ? plugin.missingSecrets.join(', ') : h('span', { class: 'muted' }, 'none')),
            h('dt', {}, 'Last sweep'), h('dd', {}, status.lastSweep || '—')))),
      (status.cycles || []).length ? [h('h3', {}, 'Cycle history'), cycleTable(name, status.cycles)] : '',
      (status.recentErrors || []).length
        ? [h('h3', {}, 'Recent errors'), h('ul', { class: 'errors' }, status.recentErrors.map((error) => h('li', {},
          when(error.at), ` (cycle ${error.cycle}): `, h('span', { class: 'error-text' }, error.message))))]
        : '');
  }

  /** The sources at a glance: how many in each phase, the catalog's size. */
  function renderOverview() {
    if (!state.updatedAt) {
      $('#overview').replaceChildren(h('li', { class: 'card' }, h('span', { class: 'card-label' }, 'Reading the sources…')));
      return;
    }
    const statuses = state.statuses.filter((status) => !status.failed);
    const phases = new Map();
    for (const status of statuses) {
      const phase = status.phase || 'waiting to start';
      phases.set(phase, (phases.get(phase) || 0) + 1);
    }
    const failing = statuses.filter((status) => status.failures > 0).length
      + state.statuses.filter((status) => status.failed).length;
    const rejected = statuses.reduce((sum, status) => sum + (status.totals?.rejected || 0), 0);
    const card = (label, value, tone, detail) => h('li', { class: `card ${tone || ''}` },
      h('span', { class: 'card-value' }, value), h('span', { class: 'card-label' }, label),
      detail ? h('span', { class: 'card-detail' }, detail) : '');
    $('#overview').replaceChildren(
      card('sources', count(state.statuses.length), '',
        [...phases].map(([phase, n]) => `${n} ${phase}`).join(' · ') || 'none'),
      card(failing === 1 ? 'source failing' : 'sources failing', count(failing), failing ? 'bad' : 'good',
        failing ? 'see Back-off and Last error' : 'no back-off'),
      card('entities held by sources', count(statuses.reduce((sum, status) => sum + (status.entities || 0), 0)), '',
        state.log ? `event log head at ${state.head ?? state.log.headOffset}` : ''),
      card('rejected this cycle', count(rejected), rejected ? 'warn' : 'good',
        rejected ? h('a', { href: '/ui/rejections' }, 'see why') : 'none'));
  }

  function renderSources() {
    if (state.view !== 'sources') return;
    renderOverview();
    const focused = document.activeElement?.dataset?.key;
    const body = $('#sources-table tbody');
    body.replaceChildren(...(state.statuses.length
      ? state.statuses.map(sourceRow)
      : [h('tr', {}, h('td', { colspan: 9, class: 'empty' }, state.updatedAt ? 'No source runs on this server.' : 'Reading…'))]));
    $('#source-details').replaceChildren(...state.statuses.map(sourceDetails).filter(Boolean));
    if (focused) document.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  }

  async function act(source, action, label) {
    const result = $('#action-result');
    result.className = 'action-result';
    result.textContent = `${label} ${source}…`;
    try {
      const answer = await api(`/api/catalog/incremental/providers/${encodeURIComponent(source)}/${action}`, { method: 'POST' });
      result.className = 'action-result done';
      result.textContent = answer.message || `${label} ${source}: done`;
      refreshSoon([source]);
    } catch (error) {
      result.className = 'action-result refused';
      const hint = error.status === 401 ? ' Type the admin token above to act.'
        : error.status === 403 ? ' This token may read, not act: the admin token is needed.' : '';
      result.textContent = `${label} ${source} was refused (${error.status || 'no answer'}): ${error.message}${hint}`;
    }
  }

  // ---- entities ---------------------------------------------------------

  async function search(q) {
    const box = $('#search-results');
    box.replaceChildren(h('p', { class: 'muted' }, 'Searching…'));
    try {
      const found = await api(`/api/entities/search?q=${encodeURIComponent(q)}&limit=50`);
      if (found.items.length === 0) {
        box.replaceChildren(h('p', {}, `No entity's ref or name contains “${q}”.`));
        return;
      }
      box.replaceChildren(
        h('p', { class: 'muted' }, `${found.items.length}${found.more ? '+' : ''} found`),
        h('ul', { class: 'results' }, found.items.map((item) => h('li', {}, entityLink(item.entityRef),
          h('span', { class: 'muted' }, ` · event ${item.eventOffset}`)))));
    } catch (error) {
      box.replaceChildren(h('p', { class: 'error-text' }, error.message));
    }
  }

  function onSearch(event) {
    event.preventDefault();
    const q = $('#search').value.trim();
    if (!q) return;
    history.replaceState(null, '', `/ui/entities?q=${encodeURIComponent(q)}`);
    search(q);
  }

  /** The merged entity's fields, each with the sources that provided it. */
  function fieldRows(entity, provenance, builds) {
    const rows = [];
    const by = (sources) => {
      const list = Array.isArray(sources) ? sources : sources ? [sources] : [];
      if (list.length === 0) return h('span', { class: 'muted' }, 'unknown');
      return list.map((source, i) => [i ? ', ' : '', h('strong', {}, source),
        builds.get(source) ? h('span', { class: 'muted' }, ' build ', h('code', {}, shortBuild(builds.get(source)))) : '']);
    };
    const value = (v) => h('code', {}, JSON.stringify(v));
    for (const [key, v] of Object.entries(entity)) {
      if (key !== 'metadata') {
        rows.push([key, value(v), by(provenance.fields?.[key])]);
        continue;
      }
      for (const [field, mv] of Object.entries(v || {})) {
        if ((field === 'annotations' || field === 'labels') && mv && typeof mv === 'object') {
          const winners = provenance[field] || {};
          for (const [name, text] of Object.entries(mv)) {
            rows.push([`metadata.${field}["${name}"]`, value(text), by(winners[name])]);
          }
        } else {
          rows.push([`metadata.${field}`, value(mv), by(provenance.metadata?.[field])]);
        }
      }
    }
    return rows.map(([field, v, sources]) => h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, field)), h('td', {}, v), h('td', {}, sources)));
  }

  async function loadEntity(entityRef) {
    state.entityRef = entityRef;
    const box = $('#entity');
    const path = refPath(entityRef);
    if (!path) {
      box.replaceChildren(h('p', { class: 'error-text' }, `${entityRef} is not a ref (kind:namespace/name).`));
      return;
    }
    try {
      const [detail, contributions] = await Promise.all([
        api(`/api/entities/by-ref/${path}`).catch((error) => (error.status === 404 ? null : Promise.reject(error))),
        api(`/api/entities/by-ref/${path}/contributions`).catch((error) => (error.status === 404 ? null : Promise.reject(error))),
      ]);
      if (state.entityRef !== entityRef) return;
      if (!detail && !contributions) {
        box.replaceChildren(h('p', {}, `No entity ${entityRef} in the catalog, and no event of it. `,
          'If a source sent it, look under ', h('a', { href: '/ui/rejections' }, 'Rejections'), '.'));
        return;
      }
      renderEntity(entityRef, detail, contributions);
    } catch (error) {
      box.replaceChildren(h('p', { class: 'error-text' }, error.message));
    }
  }

  function renderEntity(entityRef, detail, contributions) {
    const builds = new Map((contributions?.contributions || []).map((c) => [c.source, c.pluginBuild]));
    const latest = contributions?.latestEvent;
    const seen = state.tail.filter((event) => event.entityRef === entityRef);
    const parts = [h('h2', { id: 'entity-title' }, h('code', {}, entityRef))];
    if (!detail) {
      parts.push(h('p', {}, 'Not in the catalog now.'));
    } else {
      parts.push(h('dl', { class: 'facts' },
        h('dt', {}, 'Hash'), h('dd', {}, h('code', {}, detail.hash)),
        h('dt', {}, 'Event offset'), h('dd', {}, detail.eventOffset),
        h('dt', {}, 'Sources'), h('dd', {}, detail.sources.map((c, i) => [i ? '; ' : '', h('strong', {}, c.source),
          ` (priority ${c.priority}, build `, h('code', {}, shortBuild(c.pluginBuild)), ')']))));
      if (detail.errors.length) {
        parts.push(h('h3', {}, 'Refused versions'), h('ul', {}, detail.errors.map((e) =>
          h('li', {}, h('strong', {}, e.source), ': ', h('span', { class: 'error-text' }, e.error),
            ' (its last good version is what was merged)'))));
      }
      parts.push(h('h3', { id: 'fields-title' }, 'Merged fields and who provided them'),
        h('div', { class: 'table-wrap', role: 'region', tabindex: 0, 'aria-labelledby': 'fields-title' },
          h('table', { class: 'grid', id: 'fields-table' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Provided by'))),
            h('tbody', {}, fieldRows(detail.entity, detail.provenance || {}, builds)))),
        h('details', {}, h('summary', {}, 'Merged JSON'), h('pre', {}, JSON.stringify(detail.entity, null, 2))));
    }
    if (contributions?.contributions?.length) {
      parts.push(h('h3', {}, 'Each source’s own version'),
        h('div', { class: 'side-by-side' }, contributions.contributions.map((c) => h('div', { class: 'contribution' },
          h('h4', {}, c.source, h('span', { class: 'muted' }, ` · priority ${c.priority} · build `), h('code', { title: c.pluginBuild }, shortBuild(c.pluginBuild))),
          c.error ? h('p', { class: 'error-text' }, `Latest version refused: ${c.error}`) : '',
          h('p', { class: 'muted' }, 'first seen ', when(c.firstSeenAt), ' · changed ', when(c.updatedAt),
            c.locationKey ? [' · location key ', h('code', {}, c.locationKey)] : ''),
          h('pre', { tabindex: 0, 'aria-label': `${c.source}'s version` }, JSON.stringify(c.entity, null, 2))))));
    }
    parts.push(h('h3', {}, 'Recent events'));
    const events = [];
    if (latest) events.push(h('li', {}, `offset ${latest.offset}: ${latest.type} `, when(latest.at), ' (the log keeps the latest event of each ref)'));
    for (const event of seen) {
      if (latest && event.offset === latest.offset) continue;
      events.push(h('li', {}, `offset ${event.offset}: ${event.type}, seen by this page `, when(event.seenAt)));
    }
    parts.push(events.length ? h('ul', { id: 'entity-events' }, events) : h('p', { class: 'muted' }, 'None.'));
    $('#entity').replaceChildren(...parts);
  }

  // ---- rejections -------------------------------------------------------

  function fillSourceChoices() {
    const select = $('#rejections-source');
    const chosen = select.value || new URLSearchParams(location.search).get('source') || '';
    const names = state.statuses.map((status) => status.provider);
    if (chosen && !names.includes(chosen)) names.push(chosen);
    select.replaceChildren(h('option', { value: '' }, 'every source'),
      ...names.map((name) => h('option', { value: name }, name)));
    select.value = chosen;
  }

  function rejectionRow(item) {
    const what = item.problems.length
      ? h('ul', { class: 'problems' }, item.problems.map((p) => h('li', {}, h('code', {}, p.field), ': ', p.message)))
      : h('span', {}, item.reason);
    const status = item.kept ? h('span', { class: 'pill interstitial' }, 'its last good version')
      : item.inCatalog ? h('span', { class: 'pill' }, 'yes, from another source')
      : h('span', { class: 'pill bad' }, 'no');
    return h('tr', {},
      cell(null, 'Source', item.source),
      cell(null, 'Entity', item.entityRef ? (item.inCatalog ? entityLink(item.entityRef) : h('code', {}, item.entityRef)) : h('span', { class: 'muted' }, 'no usable ref')),
      cell(null, 'What was wrong', what),
      cell(null, 'When', when(item.at), h('div', { class: 'muted' }, `cycle ${item.cycle}`)),
      cell(null, 'In the catalog', status));
  }

  async function loadRejections() {
    const source = $('#rejections-source').value;
    const query = source ? `?source=${encodeURIComponent(source)}&limit=500` : '?limit=500';
    const body = $('#rejections-table tbody');
    try {
      const page = await api(`/api/rejections${query}`);
      body.replaceChildren(...(page.items.length
        ? page.items.map(rejectionRow)
        : [h('tr', {}, h('td', { colspan: 5, class: 'empty' }, source ? `Nothing of ${source} was rejected lately.` : 'Nothing was rejected lately.'))]));
      $('#rejections-more').textContent = page.nextAfter ? 'Only the first 500 are shown: choose a source to narrow.' : '';
    } catch (error) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'error-text' }, error.message)));
    }
  }

  function onRejectionsSource() {
    const source = $('#rejections-source').value;
    history.replaceState(null, '', source ? `/ui/rejections?source=${encodeURIComponent(source)}` : '/ui/rejections');
    loadRejections();
  }

  // ---- the event log and the live tail ------------------------------------

  function renderEvents() {
    if (state.view !== 'events') return;
    const log = state.log;
    const fact = (term, value, note, id) => h('div', {},
      h('dt', {}, term), h('dd', { id }, value), note ? h('dd', { class: 'note' }, note) : '');
    const head = log ? Math.max(log.headOffset, state.head ?? 0) : '…';
    const retention = log?.tombstoneRetentionSeconds;
    $('#log-bounds').replaceChildren(
      fact('Head offset', head, 'the last offset handed out', 'head-offset'),
      fact('Purged through', log ? log.purgedThrough : '…', 'a consumer below this offset must re-bootstrap'),
      fact('Tombstones kept', log ? (retention == null ? 'forever' : `${numbers.format(retention / 86400)} days`) : '…', 'removals stay in the log this long'),
      fact('This page read up to', state.offset ?? '…', 'its long poll waits here for the next event'));
    $('#tail-table tbody').replaceChildren(...(state.tail.length
      ? state.tail.map((event) => h('tr', {},
        h('td', { class: 'num' }, event.offset),
        h('td', {}, h('span', { class: `pill ${event.type === 'removed' ? 'bad' : event.type === 'added' ? 'good' : ''}` }, event.type)),
        h('td', {}, event.type === 'removed' ? h('code', {}, event.entityRef) : entityLink(event.entityRef)),
        h('td', {}, when(event.seenAt))))
      : [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No event yet.'))]));
  }

  function renderLive() {
    const parts = [];
    parts.push(document.visibilityState === 'visible' ? 'Live' : 'Paused while hidden');
    if (state.updatedAt) parts.push(`status read at ${state.updatedAt.toLocaleTimeString()}`);
    if (state.head !== null) parts.push(`log head ${state.head}`);
    $('#live').textContent = parts.join(' · ');
  }

  function addToTail(events) {
    const seenAt = new Date().toISOString();
    for (const event of events) {
      state.tail.unshift({ offset: event.offset, type: event.type, entityRef: event.entityRef, seenAt });
    }
    state.tail.length = Math.min(state.tail.length, TAIL);
  }

  /** Follow /api/events from near its head with long polls, until aborted. */
  async function followEvents(signal) {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (state.offset === null) {
          const log = await api('/api/events/log', { signal });
          state.log = log;
          state.offset = Math.max(log.purgedThrough, log.headOffset - TAIL, 0);
        }
        const page = await api(`/api/events?offset=${state.offset}&limit=${TAIL}&wait=${WAIT_SECONDS}`, { signal });
        failures = 0;
        state.head = page.headOffset;
        state.offset = page.lastEventOffset;
        // Only the newest events matter here: skip a backlog.
        const floor = Math.max(state.log?.purgedThrough ?? 0, page.headOffset - TAIL);
        if (state.offset < floor) state.offset = floor;
        if (page.events.length) {
          addToTail(page.events);
          renderEvents();
          if (state.entityRef && page.events.some((e) => e.entityRef === state.entityRef) && state.view === 'entities') {
            loadEntity(state.entityRef);
          }
          refreshSoon();
          // However busy the catalog, at most one poll a second.
          await sleep(1000, signal);
        }
        renderLive();
      } catch (error) {
        if (signal.aborted) return;
        if (error.status === 410 || error.status === 400) {
          state.offset = null;
          continue;
        }
        failures += 1;
        showProblem(error);
        await sleep(Math.min(30000, 1000 * 2 ** failures), signal);
      }
    }
  }

  function startLive() {
    if (state.poll || document.visibilityState !== 'visible') return;
    const controller = new AbortController();
    state.poll = controller;
    followEvents(controller.signal).finally(() => {
      if (state.poll === controller) state.poll = null;
    });
    refreshStatus();
    state.ticker = setInterval(tick, 1000);
    renderLive();
  }

  function stopLive() {
    state.poll?.abort();
    state.poll = null;
    clearTimeout(state.statusTimer);
    clearInterval(state.ticker);
    renderLive();
  }

  function restartLive() {
    stopLive();
    state.offset = null;
    startLive();
    if (state.view === 'entities' && state.entityRef) loadEntity(state.entityRef);
  }

  // ---- start --------------------------------------------------------------

  function start() {
    $('#token-form').addEventListener('submit', useToken);
    $('#token-forget').addEventListener('click', forgetToken);
    $('#search-form').addEventListener('submit', onSearch);
    $('#rejections-source').addEventListener('change', onRejectionsSource);
    document.addEventListener('click', onClick);
    window.addEventListener('popstate', () => route({ focus: true }));
    document.addEventListener('visibilitychange', () => (document.visibilityState === 'visible' ? startLive() : stopLive()));
    showTokenState();
    route();
    startLive();
  }

  start();
})();
