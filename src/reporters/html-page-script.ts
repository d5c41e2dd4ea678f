/**
 * The script of the HTML report, run in the browser after Chart.js: it draws the four charts
 * from the report embedded in the page (#report) and the rows the page shows (#view). Plain
 * ES2020 in a string, inlined as it is; no network, no eval. Animation is off so that a
 * screenshot or a test sees the finished chart.
 */
export const PAGE_SCRIPT = String.raw`(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('report').textContent);
  var view = JSON.parse(document.getElementById('view').textContent);
  var ps = report.host.pageSize;
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function bytes(n) {
    var v = Math.abs(n);
    var u = 0;
    while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
    var text = u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1);
    return (n < 0 ? '-' : '') + text + ' ' + UNITS[u];
  }
  function count(n) { return Math.round(n).toLocaleString('en-US'); }
  var css = getComputedStyle(document.documentElement);
  function color(name) { return css.getPropertyValue(name).trim(); }

  Chart.defaults.animation = false;
  Chart.defaults.font.family = css.fontFamily;
  Chart.defaults.color = color('--ink');
  Chart.defaults.maintainAspectRatio = false;
  // Sizes step by powers of two (256 KiB, 512 KiB, 1 MiB), as memory is counted.
  function byteAxis(values) {
    var max = Math.max.apply(null, [1].concat(values));
    var step = 1;
    while (max / step > 8) step *= 2;
    return { beginAtZero: true, ticks: { stepSize: step, callback: function (v) { return bytes(v); } }, grid: { color: color('--grid') } };
  }
  var bytesTooltip = { callbacks: { label: function (c) { return c.dataset.label + ': ' + bytes(c.raw); } } };

  // Savings by mapping type: what is resident, and what KSM would free of it.
  var kinds = view.kinds.map(function (k) { return report.byKind[k]; });
  new Chart(document.getElementById('chart-kinds'), {
    type: 'bar',
    data: {
      labels: kinds.map(function (k) { return k.label; }),
      datasets: [
        { label: 'resident', data: kinds.map(function (k) { return k.residentPages * ps; }), backgroundColor: color('--resident') },
        { label: 'KSM frees', data: kinds.map(function (k) { return k.ksmSaveablePages * ps; }), backgroundColor: color('--freed') },
      ],
    },
    options: { indexAxis: 'y', scales: { x: byteAxis(kinds.map(function (k) { return k.residentPages * ps; })) }, plugins: { tooltip: bytesTooltip } },
  });

  // Per process: the anonymous memory KSM would free, and the rest of it.
  var rows = view.processes.map(function (i) { return report.processes[i]; });
  new Chart(document.getElementById('chart-processes'), {
    type: 'bar',
    data: {
      labels: view.processes.map(function (i) { return view.labels[i]; }),
      datasets: [
        { label: 'KSM frees', data: rows.map(function (p) { return p.ramFreedBytes; }), backgroundColor: color('--freed') },
        { label: 'anonymous memory KSM leaves', data: rows.map(function (p) { return Math.max(0, p.anonPages * ps - p.ramFreedBytes); }), backgroundColor: color('--rest') },
      ],
    },
    options: { indexAxis: 'y', scales: { x: Object.assign({ stacked: true }, byteAxis(rows.map(function (p) { return Math.max(p.anonPages * ps, p.ramFreedBytes); }))), y: { stacked: true } }, plugins: { tooltip: bytesTooltip } },
  });

  // Process x process: distinct contents two processes both hold (diagonal: held twice or more by one).
  var ov = report.overlap;
  var names = ov.processes.map(function (i) { return view.labels[i]; });
  var cells = [];
  var max = 0;
  ov.contents.forEach(function (row, i) {
    row.forEach(function (v, j) {
      cells.push({ x: names[j], y: names[i], v: v * ps, contents: v });
      if (v > max) max = v;
    });
  });
  var heat = color('--heat').split(',').map(Number);
  // Square root: a pair holding a quarter of the largest overlap is half as dark.
  function strength(v) { return max > 0 && v > 0 ? Math.sqrt(v / (max * ps)) : 0; }
  function shade(v) {
    var t = v > 0 ? 0.1 + 0.9 * strength(v) : 0;
    return 'rgba(' + heat[0] + ',' + heat[1] + ',' + heat[2] + ',' + t.toFixed(3) + ')';
  }
  var n = Math.max(1, names.length);
  new Chart(document.getElementById('chart-overlap'), {
    type: 'matrix',
    data: {
      datasets: [{
        label: 'content held in common',
        data: cells,
        backgroundColor: function (c) { return c.raw ? shade(c.raw.v) : 'transparent'; },
        borderColor: function (c) { return c.raw && c.raw.x === c.raw.y ? color('--ink') : color('--grid'); },
        borderWidth: 1,
        width: function (c) { var a = c.chart.chartArea; return a ? a.width / n - 1 : 0; },
        height: function (c) { var a = c.chart.chartArea; return a ? a.height / n - 1 : 0; },
      }],
    },
    options: {
      scales: {
        x: { type: 'category', labels: names, offset: true, position: 'top', grid: { display: false }, ticks: { autoSkip: false, maxRotation: 90 } },
        y: { type: 'category', labels: names, offset: true, reverse: false, grid: { display: false }, ticks: { autoSkip: false } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: {
          title: function (items) { var r = items[0].raw; return r.x === r.y ? r.x + ': within itself' : r.y + '  &  ' + r.x; },
          label: function (c) { return bytes(c.raw.v) + ' (' + count(c.raw.contents) + ' contents)'; },
        } },
      },
    },
    plugins: [{
      id: 'cellValues',
      afterDatasetsDraw: function (chart) {
        var meta = chart.getDatasetMeta(0);
        var ctx = chart.ctx;
        ctx.save();
        ctx.font = '11px ' + css.fontFamily;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        meta.data.forEach(function (el, k) {
          var r = cells[k];
          if (!r || r.v === 0 || el.width < 52 || el.height < 16) return;
          ctx.fillStyle = strength(r.v) > 0.5 ? '#fff' : color('--ink');
          ctx.fillText(bytes(r.v), el.x + el.width / 2, el.y + el.height / 2);
        });
        ctx.restore();
      },
    }],
  });

  // Contents by the number of mappings that hold them: 2, 3, ... 256 and more.
  // Every bucket from 2 to 256+ has its place on the axis (null where no content has that many
  // mappings), so that gaps show.
  var labels = [];
  var contents = [];
  var pages = [];
  for (var m = 2; m <= 256; m++) {
    labels.push(m === 256 ? '256+' : String(m));
    contents.push(null);
    pages.push(0);
  }
  report.sharing.byMappings.forEach(function (b) {
    contents[b.mappings - 2] = b.contents;
    pages[b.mappings - 2] = b.pages;
  });
  new Chart(document.getElementById('chart-sharing'), {
    type: 'bar',
    data: { labels: labels, datasets: [{ label: 'contents', data: contents, backgroundColor: color('--freed'), barPercentage: 1, categoryPercentage: 0.9, minBarLength: 2 }] },
    options: {
      scales: {
        x: {
          title: { display: true, text: 'mappings holding the same content' },
          grid: { display: false },
          // Powers of two, where max_page_sharing's usual values fall.
          ticks: { autoSkip: false, maxRotation: 0, callback: function (v, i) { var m = i + 2; return (m & (m - 1)) === 0 ? labels[i] : ''; } },
        },
        y: { type: 'logarithmic', min: 0.5, title: { display: true, text: 'contents' }, grid: { color: color('--grid') }, ticks: { callback: function (v) { return /^1(0*)$/.test(String(v)) ? count(v) : ''; } } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: {
          title: function (items) { return items[0].label + ' mappings'; },
          label: function (c) { return count(c.raw) + ' contents, ' + bytes(pages[c.dataIndex] * ps) + ' mapped'; },
        } },
      },
    },
  });

  document.documentElement.setAttribute('data-charts', 'drawn');
})();
`;
