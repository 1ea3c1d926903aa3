/* glancetrace report: lazy tables, call details, filter, copy buttons. Vanilla JS, no network.
   Every string shown comes from packets: it is only ever put in the page as text (textContent), never as HTML. */
(function () {
  'use strict';
  var started = performance.now();
  // The data block is parsed on first use (a table opened, a call clicked, a filter typed):
  // findings and timelines are plain HTML/SVG, so the page shows before the big JSON is read.
  var D = null, calls = [], sqls = [], t0 = null, images = [], findings = [];
  var imageById = {}, callIdx = {}, sqlIdx = {};
  function load() {
    if (D) return;
    D = {};
    try { D = JSON.parse(document.getElementById('gt-data').textContent || '{}') || {}; } catch (e) { console.warn('report data unreadable', e); }
    calls = unpack(D.calls); sqls = unpack(D.sql); t0 = num(D.t0);
    images = arr(D.images); findings = arr(D.findings);
    images.forEach(function (im) { if (im && !(im.id in imageById)) imageById[im.id] = im; });
    calls.forEach(function (c, i) { var k = str(c && c.id); if (!(k in callIdx)) callIdx[k] = i; });
    sqls.forEach(function (s, i) { var k = str(s && s.id); if (!(k in sqlIdx)) sqlIdx[k] = i; });
    Object.keys(tables).forEach(function (k) { tables[k].rows = specs[k].rows(); tables[k].view = null; tables[k].hay = null; });
  }

  // ------------------------------------------------------------------ helpers
  // {cols: [...], rows: [[...]]} (how big tables travel) back to an array of objects
  function unpack(t) {
    if (Array.isArray(t)) return t;
    if (!t || !Array.isArray(t.cols) || !Array.isArray(t.rows)) return [];
    var cols = t.cols, n = cols.length, out = new Array(t.rows.length), dict = obj(t.dict);
    var lookup = cols.map(function (c) { return Array.isArray(dict[c]) ? dict[c] : null; });
    for (var i = 0; i < t.rows.length; i++) {
      var r = t.rows[i], o = {};
      for (var j = 0; j < n; j++) {
        var v = r[j], d = lookup[j];
        if (cols[j] === 'frames' && Array.isArray(v) && v.length === 4) {  // flattened by html.py _compact()
          v = { request: v[0] === null ? null : [v[0], v[1]], response: v[2] === null ? null : [v[2], v[3]] };
        }
        o[cols[j]] = d && typeof v === 'number' ? d[v] : v;  // few distinct strings travel as indices
      }
      out[i] = o;
    }
    return out;
  }
  function arr(x) { return Array.isArray(x) ? x : []; }
  function obj(x) { return x && typeof x === 'object' && !Array.isArray(x) ? x : {}; }
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : null; }
  function str(x) { return x === null || x === undefined ? '' : (typeof x === 'object' ? JSON.stringify(x) : String(x)); }
  function utc(ts, withDate) {
    ts = num(ts); if (ts === null) return '–';
    var d = new Date(ts * 1000); if (isNaN(d.getTime())) return '–';
    var iso = d.toISOString(); // 2026-11-27T00:27:10.271Z
    return withDate ? iso.replace('T', ' ') : iso.slice(11, 23);
  }
  function off(ts) {
    ts = num(ts); if (ts === null || t0 === null) return '';
    var d = ts - t0; return (d < 0 ? '−' : '+') + Math.abs(d).toFixed(3) + ' s';
  }
  function dur(s) {
    s = num(s); if (s === null) return '–';
    if (Math.abs(s) < 1) return (s * 1000).toFixed(1) + ' ms';
    if (Math.abs(s) < 120) return s.toFixed(3) + ' s';
    return Math.floor(s / 60) + ' min ' + (s % 60).toFixed(1) + ' s';
  }
  function bytes(n) {
    n = num(n); if (n === null) return '–';
    if (n < 1024) return Math.round(n) + ' B';
    var u = ['KiB', 'MiB', 'GiB', 'TiB'], i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(1) + ' ' + u[i];
  }
  function statusClass(st) {
    st = num(typeof st === 'string' ? Number(st) : st);
    if (st === null) return 'none';
    return st >= 500 ? 's5' : st >= 400 ? 's4' : st >= 300 ? 's3' : 's2';
  }
  // el('td', {class: 'x'}, 'text', node, ...): builds DOM; strings become text nodes.
  function el(tag, attrs) {
    var n = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) continue;
      if (k === 'text') n.textContent = attrs[k]; else n.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) add(n, arguments[i]);
    return n;
  }
  function add(n, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(n, x); }); return; }
    n.appendChild(typeof c === 'object' && c.nodeType ? c : document.createTextNode(str(c)));
  }
  function timeCell(ts) {
    return el('span', { title: utc(ts, true) }, el('span', { class: 'num' }, off(ts)), ' ', el('span', { class: 'muted' }, utc(ts, false)));
  }
  function callLink(i, label) {
    if (i === undefined || i === null) return label ? str(label) : null;
    return el('a', { href: '#call-' + i, 'data-call': i }, label !== undefined ? str(label) : str(calls[i].id));
  }
  function sqlLink(i, label) {
    if (i === undefined || i === null) return label ? str(label) : null;
    return el('a', { href: '#sql-' + i, 'data-sql': i }, label !== undefined ? str(label) : str(sqls[i].id));
  }
  function imageLink(id) {
    if (id === null || id === undefined || id === '') return null;
    var im = imageById[id];
    return im ? el('a', { href: '#' + im.anchor, class: 'img-link' }, im.name || id) : str(id);
  }
  // the Wireshark filter of a statement, as analysis/analyze.py filter_for() writes it (not shipped per row)
  function filterFor(conn, frames) {
    var f = obj(frames), all = arr(f.request).concat(arr(f.response)).filter(function (x) { return typeof x === 'number' && x; });
    var parts = [];
    if (conn !== null && conn !== undefined) parts.push('tcp.stream eq ' + conn);
    if (all.length) {
      var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
      parts.push(lo === hi ? 'frame.number == ' + lo : 'frame.number >= ' + lo + ' && frame.number <= ' + hi);
    }
    return parts.join(' && ');
  }
  function filterBox(text, label) {
    if (!text) return null;
    return el('div', { class: 'filterbox' }, el('span', { class: 'lbl' }, label || 'Wireshark filter'),
      el('code', { class: 'wsfilter' }, text), el('button', { type: 'button', class: 'copy', 'data-copy': text }, 'copy'));
  }
  function framesText(f) {
    f = obj(f);
    var parts = [];
    ['request', 'response'].forEach(function (k) { var r = arr(f[k]); if (r.length) parts.push(k + ' ' + (r[0] === r[r.length - 1] ? r[0] : r[0] + '–' + r[r.length - 1])); });
    return parts.join(', ');
  }
  function kv(pairs) {
    var dl = el('dl', { class: 'kv' });
    pairs.forEach(function (p) { if (p && p[1] !== null && p[1] !== undefined && p[1] !== '') { dl.appendChild(el('dt', null, p[0])); dl.appendChild(el('dd', null, p[1])); } });
    return dl;
  }
  function jsonBlock(label, value) {
    if (value === null || value === undefined) return null;
    var d = el('details', null, el('summary', null, label));
    d.addEventListener('toggle', function once() {
      d.removeEventListener('toggle', once);
      var text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
      if (text.length > 100000) text = text.slice(0, 100000) + '\n… (' + text.length + ' characters, cut)';
      d.appendChild(el('pre', null, text));
    });
    return d;
  }
  function headersBlock(label, hs) {
    hs = arr(hs); if (!hs.length) return null;
    var t = el('table', { class: 'data' });
    hs.forEach(function (h) { h = arr(h); t.appendChild(el('tr', null, el('th', null, str(h[0])), el('td', { class: 'uri' }, str(h[1])))); });
    return el('details', null, el('summary', null, label + ' (' + hs.length + ')'), t);
  }

  // ------------------------------------------------------------------ details of a call / a statement
  // relayed by a proxy (database VIP): the proxy → server connection of the same statement
  function backHop(b, added) {
    return 'connection ' + str(b.conn_id) + '  ' + str(b.client) + ' → ' + str(b.server) + ', ' + framesText(b.frames) +
      ', latency ' + dur(b.latency) + (added !== null && added !== undefined ? ' (the proxy adds ' + dur(added) + ')' : '');
  }
  // what the server measured (its slow query log) beside the latency on the wire
  function slowLog(l) {
    return 'server ' + dur(l.query_time) + ' (lock ' + dur(l.lock_time) + ', rows examined ' + str(l.rows_examined) +
      ') against ' + dur(l.wire_latency) + ' on the wire; ' + str(l.file).split('/').pop() + ':' + str(l.line) +
      ', connection ' + str(l.thread_id) + ' (matched by ' + str(l.matched_by) + ')';
  }
  function sqlDetail(s) {
    s = obj(s);
    var chg = s.status_change ? obj(s.status_change) : null;
    return el('div', { class: 'detail' },
      el('pre', null, str(s.sql || s.command)),
      kv([
        ['statement', str(s.id)],
        ['sent', timeCell(s.request_time)], ['answered', timeCell(s.response_time)], ['latency', dur(s.latency)],
        ['connection', str(s.conn_id) + (s.client ? '  ' + s.client + ' → ' + str(s.server) : '')],
        ['command', str(s.command)], ['operation', [str(s.operation), s.table ? ' on ' + s.table : '']],
        ['result', str(s.result)], ['rows', s.rows !== null && s.rows !== undefined ? str(s.rows) : null],
        ['affected rows', s.affected_rows !== null && s.affected_rows !== undefined ? str(s.affected_rows) : null],
        ['error', s.error_code || s.error_message ? el('span', { class: 'st s5' }, str(s.error_code) + ' ' + str(s.error_message)) : null],
        ['status change', chg ? str(chg.from) + ' → ' + str(chg.to) + (chg.ok === false ? ' (did not apply)' : '') : null],
        ['call', s.call_id ? callLink(callIdx[str(s.call_id)], s.call_id) : null],
        ['image', imageLink(s.image_id)],
        ['frames', framesText(s.frames)],
        ['back hop', s.back ? backHop(obj(s.back), s.proxy_latency) : (s.other_hop_lost ? 'lost by the capture (see the proxy pair\'s gaps)' : null)],
        ['slow query log', s.slow_log ? slowLog(obj(s.slow_log)) : null],
        ['flags', [s.incomplete ? 'incomplete ' : '', s.gap ? 'gap in capture' : ''].join('') || null]
      ]),
      filterBox(s.wireshark_filter || filterFor(s.conn_id, s.frames)));
  }

  function callDetail(c, highlightSql) {
    c = obj(c);
    var dg = c.request_digests ? obj(c.request_digests) : null;
    var box = el('div', { class: 'detail' });
    box.appendChild(el('div', { class: 'title' }, str(c.method) + ' ' + str(c.uri) + '  →  ',
      el('span', { class: 'st ' + statusClass(c.status) }, c.status === null || c.status === undefined ? 'no response' : str(c.status) + ' ' + str(c.reason))));
    if (c.summary) box.appendChild(el('p', null, str(c.summary)));
    box.appendChild(kv([
      ['call', str(c.id)], ['service / kind', str(c.service) + ' / ' + str(c.kind)], ['image', imageLink(c.image_id)],
      ['connection', str(c.conn_id) + '  ' + str(c.client) + ' → ' + str(c.server) + (c.tls ? (c.encrypted_only ? '  TLS, not decrypted' : '  TLS, decrypted') : '')],
      ['request', timeCell(c.request_time)], ['request end', timeCell(c.request_end)],
      ['response', timeCell(c.response_time)], ['response end', timeCell(c.response_end)],
      ['latency', dur(c.latency)],
      ['request body', bytes(c.request_body_size)], ['response body', bytes(c.response_body_size)],
      ['body md5', dg && dg.md5 ? el('code', null, str(dg.md5)) : null],
      ['body sha256', dg && dg.sha256 ? el('code', null, str(dg.sha256)) : null],
      ['body sha512', dg && dg.sha512 ? el('code', { class: 'hash' }, str(dg.sha512)) : null],
      ['frames', framesText(c.frames)],
      ['flags', [c.incomplete ? 'incomplete' : '', c.gap ? 'gap in capture' : ''].filter(Boolean).join(', ') || null],
      ['seen in', c.seen_in ? str(c.seen_in) : null]
    ]));
    if (arr(c.log_lines).length) box.appendChild(el('details', { class: 'log-lines' }, el('summary', null, 'log lines (' + arr(c.log_lines).length + ')'),
      el('pre', null, arr(c.log_lines).map(function (l) { l = obj(l); return str(l.file).split('/').pop() + ':' + str(l.line) + '  ' + str(l.text); }).join('\n'))));
    add(box, filterBox(c.wireshark_filter));
    var ids = arr(c.sql);
    var sd = el('details', { class: 'sql-list' }, el('summary', null, 'SQL statements (' + ids.length + ')'));
    if (ids.length && (ids.length <= 40 || highlightSql !== undefined)) sd.open = true;
    var filled = false;
    function fill() {
      if (filled) return; filled = true;
      var rows = ids.map(function (id) { var i = sqlIdx[str(id)]; return i === undefined ? { id: id, _missing: true } : sqls[i]; });
      var t = new Table(null, rows, SQL_COLS_SHORT, sqlDetail, 500);
      t.mount(sd);
      if (highlightSql !== undefined) t.reveal(function (r) { return r === sqls[highlightSql]; });
    }
    sd.addEventListener('toggle', function () { if (sd.open) fill(); });
    if (sd.open) fill();
    if (ids.length) box.appendChild(sd);
    add(box, headersBlock('request headers', c.request_headers));
    add(box, headersBlock('response headers', c.response_headers));
    add(box, jsonBlock('request body (JSON)', c.request_json));
    add(box, jsonBlock('response body (JSON)', c.response_json));
    var fs = findings.filter(function (f) { return f && str(f.call_id) === str(c.id) && c.id !== undefined; });
    if (fs.length) {
      box.appendChild(el('h4', null, 'Findings'));
      fs.forEach(function (f) { box.appendChild(el('div', null, el('span', { class: 'sev sev-' + str(f.severity).toLowerCase() }, str(f.severity)), ' ', str(f.message))); });
    }
    return box;
  }

  // ------------------------------------------------------------------ a lazily rendered, filterable, sortable table
  function Table(key, rows, cols, detail, page) {
    this.key = key; this.rows = rows; this.cols = cols; this.detail = detail; this.page = page || 200;
    this.order = null; this.shown = 0; this.hay = null; this.q = ''; this.view = null; this.sortCol = -1; this.sortDir = 1;
  }
  Table.prototype.text = function (i) {
    if (!this.hay) this.hay = new Array(this.rows.length);
    var h = this.hay[i];
    if (h === undefined) {
      var r = this.rows[i], parts = [];
      for (var k in r) { var v = r[k]; if (k.slice(-5) === '_json' || k.slice(-8) === '_headers') continue; parts.push(typeof v === 'object' && v !== null ? JSON.stringify(v) : str(v)); }
      h = this.hay[i] = parts.join('\u0001').toLowerCase();
    }
    return h;
  };
  Table.prototype.compute = function () {
    var n = this.rows.length, out = [];
    for (var i = 0; i < n; i++) if (!this.q || this.text(i).indexOf(this.q) >= 0) out.push(i);
    if (this.sortCol >= 0) {
      var col = this.cols[this.sortCol], rows = this.rows, dir = this.sortDir;
      var key = col.sort || function (r) { return str(col.value ? col.value(r) : ''); };
      out.sort(function (a, b) {
        var x = key(rows[a]), y = key(rows[b]);
        if (x === y) return a - b;
        if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    this.view = out;
  };
  Table.prototype.setFilter = function (q) {
    this.q = q; this.view = null;
    if (this.tbody) this.redraw();
    return this.count();
  };
  Table.prototype.count = function () { if (!this.view) this.compute(); return this.view.length; };
  Table.prototype.mount = function (host) {
    var self = this;
    this.host = host;
    var thead = el('tr');
    this.cols.forEach(function (c, ci) {
      var th = el('th', { class: c.num ? 'num' : null }, c.title);
      th.addEventListener('click', function () {
        if (self.sortCol === ci) self.sortDir = -self.sortDir; else { self.sortCol = ci; self.sortDir = 1; }
        thead.querySelectorAll('th').forEach(function (x) { x.className = x.className.replace(/ ?sorted-\w+/g, ''); });
        th.className += ' sorted-' + (self.sortDir > 0 ? 'asc' : 'desc');
        self.view = null; self.redraw();
      });
      thead.appendChild(th);
    });
    this.table = el('table', { class: 'data' }, el('thead', null, thead));
    this.tbody = el('tbody'); this.table.appendChild(this.tbody);
    this.status = el('span', { class: 'muted' });
    this.more = el('button', { type: 'button' }, 'show more');
    this.all = el('button', { type: 'button' }, 'show all');
    this.more.addEventListener('click', function () { self.grow(self.page * 2); });
    this.all.addEventListener('click', function () { self.grow(Infinity); });
    this.pager = el('div', { class: 'pager' }, this.status, this.more, this.all);
    host.appendChild(this.table); host.appendChild(this.pager);
    // Infinite scroll: the pager coming into view loads the next page.
    if ('IntersectionObserver' in window) {
      this.io = new IntersectionObserver(function (es) { es.forEach(function (e) { if (e.isIntersecting && self.shown < self.count()) self.grow(self.page); }); }, { rootMargin: '300px' });
      this.io.observe(this.pager);
    }
    this.redraw();
  };
  Table.prototype.redraw = function () { this.tbody.textContent = ''; this.shown = 0; this.grow(this.page); };
  Table.prototype.grow = function (n) {
    if (!this.view) this.compute();
    var end = Math.min(this.view.length, this.shown + n), frag = document.createDocumentFragment();
    for (var k = this.shown; k < end; k++) frag.appendChild(this.row(this.view[k]));
    this.tbody.appendChild(frag);
    this.shown = end;
    var total = this.view.length;
    this.status.textContent = 'showing ' + end + ' of ' + total + (total !== this.rows.length ? ' (filtered from ' + this.rows.length + ')' : '');
    this.more.hidden = this.all.hidden = end >= total;
  };
  Table.prototype.row = function (i) {
    var r = this.rows[i], self = this;
    var tr = el('tr', { class: 'row' + (this.rowClass ? ' ' + this.rowClass(r) : '') });
    if (this.key) tr.setAttribute('data-row', this.key + '-' + i);
    this.cols.forEach(function (c) {
      var td = el('td', { class: c.cls || (c.num ? 'num' : null) });
      var v = c.render ? c.render(r, i) : (c.value ? c.value(r) : '');
      add(td, v);
      tr.appendChild(td);
    });
    if (this.detail) tr.addEventListener('click', function (e) {
      if (e.target.closest('a,button')) return;
      self.toggle(tr, r);
    });
    return tr;
  };
  Table.prototype.toggle = function (tr, r) {
    var next = tr.nextSibling;
    if (next && next.classList && next.classList.contains('detail')) { next.remove(); return next; }
    var d = el('tr', { class: 'detail' }, el('td', { colspan: this.cols.length }, this.detail(r)));
    tr.parentNode.insertBefore(d, tr.nextSibling);
    return d;
  };
  // Show (and expand) the first row matching pred, paging as far as needed.
  Table.prototype.reveal = function (pred) {
    if (!this.view) this.compute();
    for (var k = 0; k < this.view.length; k++) {
      if (pred(this.rows[this.view[k]])) {
        if (k >= this.shown) this.grow(k - this.shown + 1);
        var tr = this.tbody.querySelectorAll('tr.row')[k];
        if (tr) { tr.classList.add('hl'); if (this.detail) this.toggle(tr, this.rows[this.view[k]]); tr.scrollIntoView({ block: 'center' }); }
        return tr;
      }
    }
    return null;
  };

  // ------------------------------------------------------------------ the report's tables
  var SQL_COLS_SHORT = [
    { title: 'statement', value: function (s) { return str(s.id); } },
    { title: 'time', render: function (s) { return timeCell(s.request_time); }, sort: function (s) { return num(s.request_time); } },
    { title: 'latency', num: true, value: function (s) { return dur(s.latency); }, sort: function (s) { return num(s.latency); } },
    { title: 'rows', num: true, value: function (s) { return s.affected_rows !== null && s.affected_rows !== undefined ? str(s.affected_rows) : str(s.rows); } },
    { title: 'SQL', cls: 'sqltext', value: function (s) { var t = s._missing ? '(statement not in capture)' : str(s.sql || s.command); return t.length > 180 ? t.slice(0, 180) + '…' : t; } },
    { title: 'error', cls: 'wrap', render: function (s) { return s.error_code || s.error_message ? el('span', { class: 'st s5' }, str(s.error_code) + ' ' + str(s.error_message)) : (s.status_change ? el('span', { class: 'st s3' }, 'status → ' + str(obj(s.status_change).to)) : ''); } }
  ];
  var specs = {
    calls: {
      rows: function () { return calls; }, detail: function (c) { return callDetail(c); },
      rowClass: function (c) { return num(c.status) >= 400 || c.status === null || c.status === undefined ? 'err' : ''; },
      cols: [
        { title: 'time', render: function (c) { return timeCell(c.request_time); }, sort: function (c) { return num(c.request_time); } },
        { title: 'service', value: function (c) { return str(c.service) + (c.kind ? ' · ' + c.kind : ''); } },
        { title: 'method', cls: 'wrap', value: function (c) { return str(c.method); } },
        { title: 'URI', cls: 'uri', value: function (c) { return str(c.uri); } },
        { title: 'status', render: function (c) { return el('span', { class: 'st ' + statusClass(c.status) }, c.status === null || c.status === undefined ? '—' : str(c.status)); }, sort: function (c) { return num(c.status); } },
        { title: 'latency', num: true, value: function (c) { return dur(c.latency); }, sort: function (c) { return num(c.latency); } },
        { title: 'req', num: true, value: function (c) { return bytes(c.request_body_size); }, sort: function (c) { return num(c.request_body_size); } },
        { title: 'resp', num: true, value: function (c) { return bytes(c.response_body_size); }, sort: function (c) { return num(c.response_body_size); } },
        { title: 'SQL', num: true, value: function (c) { return arr(c.sql).length || ''; }, sort: function (c) { return arr(c.sql).length; } },
        { title: 'image', cls: 'wrap', render: function (c) { return imageLink(c.image_id); }, sort: function (c) { return str(c.image_id); } },
        { title: 'client → server', cls: 'wrap', value: function (c) { return str(c.client) + ' → ' + str(c.server) + (c.tls ? ' 🔒' : ''); } },
        { title: '', value: function (c) { return [c.incomplete ? 'incomplete' : '', c.gap ? 'gap' : '', c.seen_in && c.seen_in !== 'packets' ? 'seen in ' + c.seen_in : ''].filter(Boolean).join(' '); } }
      ]
    },
    sql: {
      rows: function () { return sqls; }, detail: sqlDetail,
      rowClass: function (s) { return s.error_code || s.error_message ? 'err' : ''; },
      cols: [
        { title: 'time', render: function (s) { return timeCell(s.request_time); }, sort: function (s) { return num(s.request_time); } },
        { title: 'id', value: function (s) { return str(s.id); } },
        { title: 'conn', value: function (s) { return str(s.conn_id) + (s.back ? '⇄' + str(obj(s.back).conn_id) : ''); } },
        { title: 'op', cls: 'wrap', value: function (s) { return str(s.operation || s.command) + (s.table ? ' ' + s.table : ''); } },
        { title: 'SQL', cls: 'sqltext', value: function (s) { var t = str(s.sql || s.command); return t.length > 200 ? t.slice(0, 200) + '…' : t; } },
        { title: 'latency', num: true, value: function (s) { return dur(s.latency) + (s.slow_log ? ' (server ' + dur(obj(s.slow_log).query_time) + ')' : ''); }, sort: function (s) { return num(s.latency); } },
        { title: 'rows', num: true, value: function (s) { return s.affected_rows !== null && s.affected_rows !== undefined ? str(s.affected_rows) : str(s.rows); } },
        { title: 'error / change', cls: 'wrap', render: SQL_COLS_SHORT[5].render },
        { title: 'call', render: function (s) { return s.call_id ? callLink(callIdx[str(s.call_id)], s.call_id) : ''; } },
        { title: 'image', cls: 'wrap', render: function (s) { return imageLink(s.image_id); } }
      ]
    },
    digest: {
      rows: function () { return arr(D.sql_digest); }, detail: null,
      cols: [
        { title: 'normalised statement', cls: 'sqltext', value: function (g) { return str(g.fingerprint); } },
        { title: 'count', num: true, value: function (g) { return str(g.count); }, sort: function (g) { return num(g.count); } },
        { title: 'total', num: true, value: function (g) { return dur(g.total_latency); }, sort: function (g) { return num(g.total_latency); } },
        { title: 'mean', num: true, value: function (g) { return dur(g.mean_latency); }, sort: function (g) { return num(g.mean_latency); } },
        { title: 'p95', num: true, value: function (g) { return dur(g.p95_latency); }, sort: function (g) { return num(g.p95_latency); } },
        { title: 'max', num: true, value: function (g) { return dur(g.max_latency); }, sort: function (g) { return num(g.max_latency); } },
        { title: 'errors', num: true, value: function (g) { return str(g.errors); }, sort: function (g) { return num(g.errors); } }
      ]
    },
    tokens: {
      rows: function () { return arr(D.tokens); }, detail: null,
      cols: [
        { title: 'time', render: function (t) { return timeCell(t.time); }, sort: function (t) { return num(t.time); } },
        { title: 'kind', value: function (t) { return str(t.kind); } },
        { title: 'user', cls: 'wrap', value: function (t) { return str(t.user); } },
        { title: 'project', cls: 'wrap', value: function (t) { return str(t.project); } },
        { title: 'result', value: function (t) { return str(t.result); } },
        { title: 'status', render: function (t) { return el('span', { class: 'st ' + statusClass(t.status) }, str(t.status)); } },
        { title: 'expires', value: function (t) { return typeof t.expires === 'number' ? utc(t.expires, true) : str(t.expires); } },
        { title: 'call', render: function (t) { return t.call_id ? callLink(callIdx[str(t.call_id)], t.call_id) : ''; } }
      ]
    },
    tls: {
      rows: function () { return arr(D.tls_sessions); }, detail: null,
      cols: [
        { title: 'connection', value: function (t) { return str(t.conn_id); } },
        { title: 'client → server', value: function (t) { return str(t.client) + ' → ' + str(t.server); } },
        { title: 'SNI', cls: 'wrap', value: function (t) { return str(t.sni); } },
        { title: 'version', value: function (t) { return str(t.version); } },
        { title: 'cipher', cls: 'wrap', value: function (t) { return str(t.cipher); } },
        { title: 'decrypted', cls: 'wrap', render: function (t) { return t.decrypted ? el('span', { class: 'tag ok' }, 'yes') : el('span', { class: 'tag bad' }, 'no' + (t.why_not ? ': ' + t.why_not : '')); } },
        { title: 'up', num: true, value: function (t) { return bytes(t.bytes_up); }, sort: function (t) { return num(t.bytes_up); } },
        { title: 'down', num: true, value: function (t) { return bytes(t.bytes_down); }, sort: function (t) { return num(t.bytes_down); } },
        { title: 'start', render: function (t) { return timeCell(t.start); }, sort: function (t) { return num(t.start); } },
        { title: 'frames', value: function (t) { var f = arr(t.frames); return f.length ? f[0] + '–' + f[f.length - 1] : ''; } }
      ]
    }
  };
  var tables = {}, mounters = [], openAtStart = [];
  Object.keys(specs).forEach(function (key) {
    var s = specs[key], t = new Table(key, [], s.cols, s.detail, 100);
    t.rowClass = s.rowClass; tables[key] = t;
    var block = document.getElementById('tbl-' + key);
    if (!block) return;
    var host = block.querySelector('.table-host');
    function mount() { load(); if (!t.tbody) { host.textContent = ''; t.mount(host); } }
    mounters.push(mount);
    block.addEventListener('toggle', function () { if (block.open) mount(); });
    if (block.open) openAtStart.push(mount);
  });
  openAtStart.forEach(function (m) { m(); });  // after every table exists: load() fills them all

  // ------------------------------------------------------------------ drawer (click on a bar, tick or link)
  var drawer = document.getElementById('drawer'), dbody = document.getElementById('drawer-body'), dtitle = document.getElementById('drawer-title');
  function openCall(i, sqlI) {
    load();
    var c = calls[i]; if (!c) return;
    dtitle.textContent = 'HTTP call ' + str(c.id);
    dbody.textContent = '';
    dbody.appendChild(callDetail(c, sqlI));
    drawer.hidden = false; drawer.scrollTop = 0;
    if (sqlI !== undefined) { var h = dbody.querySelector('tr.hl'); if (h) h.scrollIntoView({ block: 'center' }); }
    history.replaceState(null, '', '#call-' + i);
  }
  function openSql(i) {
    load();
    var s = sqls[i]; if (!s) return;
    dtitle.textContent = 'SQL statement ' + str(s.id);
    dbody.textContent = '';
    dbody.appendChild(sqlDetail(s));
    drawer.hidden = false; drawer.scrollTop = 0;
    history.replaceState(null, '', '#sql-' + i);
  }
  function closeDrawer() { drawer.hidden = true; }
  document.getElementById('drawer-close').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') closeDrawer();
    if ((e.key === 'Enter' || e.key === ' ') && e.target.closest && e.target.closest('svg .call')) { e.preventDefault(); e.target.closest('svg .call').dispatchEvent(new MouseEvent('click', { bubbles: true })); }
  });
  document.addEventListener('click', function (e) {
    var t = e.target.closest ? e.target.closest('[data-call],[data-sql],button.copy') : null;
    if (!t) return;
    if (t.matches('button.copy')) { e.preventDefault(); copy(t); return; }
    e.preventDefault();
    var ci = t.getAttribute('data-call'), si = t.getAttribute('data-sql');
    if (ci !== null && calls[+ci]) openCall(+ci, si !== null ? +si : undefined);
    else if (si !== null) openSql(+si);
  });
  function fromHash() {
    var m = /^#(call|sql)-(\d+)$/.exec(location.hash);
    if (m) (m[1] === 'call' ? openCall : openSql)(+m[2]);
  }
  window.addEventListener('hashchange', fromHash);

  // ------------------------------------------------------------------ copy buttons
  function copy(btn) {
    var text = btn.getAttribute('data-copy') || '';
    function done(ok) { btn.textContent = ok ? 'copied ✓' : 'select + Ctrl-C'; btn.classList.toggle('copied', ok); setTimeout(function () { btn.textContent = 'copy'; btn.classList.remove('copied'); }, 1500); }
    function fallback() {
      var ta = el('textarea'); ta.value = text; ta.style.position = 'fixed'; ta.style.opacity = '0';
      document.body.appendChild(ta); ta.select();
      var ok = false; try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove(); done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    else fallback();
  }

  // ------------------------------------------------------------------ timeline tooltips
  var tip = document.getElementById('tip');
  document.addEventListener('mouseover', function (e) {
    var n = e.target.closest ? e.target.closest('svg.timeline .call, svg.timeline .tick, svg.timeline .band, svg.timeline .marker') : null;
    if (!n) { tip.hidden = true; return; }
    var t = n.querySelector('title'); if (!t) return;
    tip.textContent = t.textContent; tip.hidden = false;
  });
  document.addEventListener('mousemove', function (e) {
    if (tip.hidden) return;
    var x = e.clientX + 14, y = e.clientY + 14, w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = Math.max(8, e.clientX - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, e.clientY - h - 14);
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  });

  // ------------------------------------------------------------------ global filter
  var q = document.getElementById('q'), qs = document.getElementById('q-status'), timer = null;
  var findingItems = Array.prototype.slice.call(document.querySelectorAll('li.finding'));
  function applyFilter() {
    var v = q.value.trim().toLowerCase(), shown = 0;
    if (v) load();
    findingItems.forEach(function (li) { var ok = !v || li.textContent.toLowerCase().indexOf(v) >= 0; li.hidden = !ok; if (ok) shown++; });
    var parts = [];
    if (D) Object.keys(tables).forEach(function (k) {
      var n = tables[k].setFilter(v);
      var b = document.getElementById('tbl-' + k);
      if (b) { var cnt = b.querySelector('[data-count]'); cnt.textContent = v ? n + ' of ' + tables[k].rows.length : String(tables[k].rows.length); }
      if (v) parts.push(n + ' ' + k);
    });
    qs.textContent = v ? shown + ' findings, ' + parts.join(', ') : '';
  }
  q.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(applyFilter, 150); });

  // ------------------------------------------------------------------ print: expand everything
  var closedBefore = [];
  window.addEventListener('beforeprint', function () {
    load();
    closedBefore = Array.prototype.filter.call(document.querySelectorAll('details'), function (d) { return !d.open; });
    closedBefore.forEach(function (d) { d.open = true; });
    mounters.forEach(function (m) { m(); });
    Object.keys(tables).forEach(function (k) { tables[k].grow(Infinity); });
  });
  window.addEventListener('afterprint', function () { closedBefore.forEach(function (d) { d.open = false; }); closedBefore = []; });

  fromHash();
  window.glancetrace = { tables: tables, openCall: openCall, openSql: openSql,
    filter: function (v) { q.value = v; applyFilter(); }, scriptMs: performance.now() - started, readyAt: performance.now() };
  document.documentElement.setAttribute('data-ready', '1');
})();
