// cardswitch operator panel: the live traffic page's charts and authorization stream. No
// framework, no build step; the server renders everything else. Text goes into the page with
// textContent only, never as HTML.
(function () {
  'use strict';
  if (document.body.dataset.page !== 'live') { return; }
  var MAX_ROWS = 50, SVG = 'http://www.w3.org/2000/svg';
  var points = [], declines = {};
  var table = document.getElementById('auths');
  var tbody = table.querySelector('tbody');

  function text(id, v) { var e = document.getElementById(id); if (e) { e.textContent = v; } }
  function ms(v) { return v < 0 ? '–' : (v < 10 ? v.toFixed(2) : v.toFixed(1)); }

  function money(minor, cur) {
    var exp = { '392': 0, '352': 0, '048': 3, '414': 3, '788': 3 }[cur];
    if (exp === undefined) { exp = 2; }
    var alpha = { '978': 'EUR', '840': 'USD', '826': 'GBP', '756': 'CHF', '985': 'PLN', '392': 'JPY', '752': 'SEK', '578': 'NOK', '208': 'DKK', '203': 'CZK' }[cur] || cur;
    var neg = minor < 0, s = String(Math.abs(minor));
    if (exp > 0) { while (s.length <= exp) { s = '0' + s; } s = s.slice(0, s.length - exp) + '.' + s.slice(s.length - exp); }
    return (neg ? '-' : '') + s + ' ' + alpha;
  }

  function chart(id, values, fixedMax) {
    var svg = document.getElementById(id);
    if (!svg) { return; }
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var max = fixedMax || 0;
    values.forEach(function (v) { if (v > max) { max = v; } });
    if (max <= 0) { max = 1; }
    // The x axis spans the kept points, at least the last minute, newest at the right.
    var pts = [], span = Math.max(60, values.length);
    values.forEach(function (v, i) {
      if (v < 0) { return; }
      var x = 300 * (span - values.length + i) / (span - 1);
      pts.push(x.toFixed(1) + ',' + (78 - 76 * v / max).toFixed(1));
    });
    var line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('class', 'line');
    svg.appendChild(line);
    var label = document.createElementNS(SVG, 'text');
    label.setAttribute('x', '2'); label.setAttribute('y', '10'); label.setAttribute('class', 'max');
    label.textContent = 'max ' + (fixedMax ? '' : (Math.round(max * 100) / 100));
    if (!fixedMax) { svg.appendChild(label); }
  }

  function draw() {
    var last = points[points.length - 1];
    if (last) {
      text('rate', last.authsPerSec.toFixed(1));
      text('approval', last.approvalRate < 0 ? '–' : (100 * last.approvalRate).toFixed(1) + ' %');
      text('latency', ms(last.p50ms) + ' / ' + ms(last.p95ms) + ' / ' + ms(last.p99ms) + ' ms');
      text('queue', String(last.queueDepth));
    }
    chart('chart-rate', points.map(function (p) { return p.authsPerSec; }));
    chart('chart-approval', points.map(function (p) { return p.approvalRate; }), 1);
    chart('chart-latency', points.map(function (p) { return p.p95ms; }));
    chart('chart-queue', points.map(function (p) { return p.queueDepth; }));
    var body = document.querySelector('#declines tbody');
    while (body.firstChild) { body.removeChild(body.firstChild); }
    Object.keys(declines).sort().forEach(function (code) {
      var tr = document.createElement('tr');
      [code, String(declines[code])].forEach(function (v) { var td = document.createElement('td'); td.textContent = v; tr.appendChild(td); });
      body.appendChild(tr);
    });
  }

  function cell(tr, v, cls) { var td = document.createElement('td'); td.textContent = v; if (cls) { td.className = cls; } tr.appendChild(td); }

  function addAuth(a) {
    if (tbody.querySelector('tr[data-seq="' + a.seq + '"]')) { return; }
    var tr = document.createElement('tr');
    tr.className = a.approved ? 'ok fresh' : 'declined fresh';
    tr.dataset.seq = String(a.seq);
    cell(tr, a.at.slice(11, 19));
    cell(tr, a.mti);
    cell(tr, a.maskedPan, 'pan');
    cell(tr, a.hasAmount ? money(a.amountMinor, a.currencyNum) : '', 'num');
    cell(tr, a.merchantName);
    cell(tr, a.mcc);
    cell(tr, a.actionCode + ' (' + a.responseCode + ')', 'act');
    cell(tr, a.latencyMicros + ' µs', 'num');
    tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.children.length > MAX_ROWS) { tbody.removeChild(tbody.lastChild); }
    table.dataset.last = String(a.seq);
  }

  var es = new EventSource('/panel/live/stream?after=' + encodeURIComponent(table.dataset.last || '0'));
  es.onopen = function () { text('stream-state', 'live'); };
  es.onerror = function () { text('stream-state', 'reconnecting'); };
  es.addEventListener('history', function (e) {
    var h = JSON.parse(e.data);
    points = h.points || []; declines = h.declines || {};
    draw();
  });
  es.addEventListener('point', function (e) {
    var p = JSON.parse(e.data);
    points.push(p);
    if (points.length > 300) { points.shift(); }
    Object.keys(p.declines || {}).forEach(function (k) { declines[k] = (declines[k] || 0) + p.declines[k]; });
    draw();
  });
  es.addEventListener('auth', function (e) { addAuth(JSON.parse(e.data)); });
}());
