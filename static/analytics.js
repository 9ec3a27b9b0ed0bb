/*
 * Analytics tab: builds the charts of HTMX fragments from the JSON they carry.
 *
 * The host's CSP allows no inline script, so fragments ship their chart data
 * as <script type="application/json"> (never executed) next to a
 * <canvas data-chart="heatmap|trends" data-chart-source="<id of the JSON>">.
 * This file builds a Chart.js instance for every such canvas when htmx loads
 * content, and destroys it when htmx removes the canvas, so swaps never leak
 * charts. Agent names reach the page only through Chart.js canvas text, never
 * through innerHTML.
 *
 * For tests and benchmarks: every built canvas gets data-chart-ready="true"
 * and data-render-ms; window.analyticsCharts lists the live instances.
 * Animations are off under prefers-reduced-motion, with
 * <html data-aa-no-animation>, and for very large heatmaps.
 */
(function () {
  'use strict';

  var Chart = window.Chart;
  if (!Chart) {
    return;
  }

  // Viridis, light to dark: perceptually even, safe for colour-blind readers.
  // The same colours are in analytics.css (.aa-scale-N), used by the legend.
  var ZERO = '#e8eaed';
  var STEPS = ['#fde725', '#7ad151', '#22a884', '#2a788e', '#414487', '#440154'];

  // Okabe-Ito colours, each line also with its own dash and point shape, so
  // no series is told apart by colour alone.
  var SERIES_STYLE = {
    totalIssuances: { color: '#0072B2', dash: [], point: 'circle' },
    successfulIssuances: { color: '#009E73', dash: [6, 3], point: 'rect' },
    failedIssuances: { color: '#D55E00', dash: [2, 3], point: 'triangle' },
    uniqueAgents: { color: '#CC79A7', dash: [10, 4, 2, 4], point: 'rectRot', axis: 'y2' }
  };

  // Numbers as the rest of the page writes them (1,234 and 2026-03-01, whatever the browser's
  // locale): a German browser would otherwise label the chart 1.234 beside the cards' 1,234.
  var LOCALE = 'en-US';
  var NUMBER = new Intl.NumberFormat(LOCALE);

  var LARGE_HEATMAP = 5000; // cells; above this, never animate
  var NARROW = 600; // px of panel width below which the heatmap uses its narrow layout
  var MIN_CELL = 8; // px: the thinnest a heatmap day may be drawn
  var charts = new Map();

  window.analyticsCharts = {
    /** The Chart instance drawn on the canvas with this id, or undefined. */
    get: function (id) {
      var canvas = document.getElementById(id);
      return canvas ? charts.get(canvas) : undefined;
    },
    /** Every live chart instance. */
    all: function () {
      return Array.from(charts.values());
    },
    get size() {
      return charts.size;
    }
  };

  function animationsOff() {
    return document.documentElement.hasAttribute('data-aa-no-animation') ||
      (window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches);
  }

  function readData(canvas) {
    var source = document.getElementById(canvas.getAttribute('data-chart-source'));
    return source ? JSON.parse(source.textContent) : null;
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + '\u2026' : text;
  }

  // The text cut with "…" to at most ``max`` characters and ``width`` pixels in the tick font.
  function fitText(ctx, text, width, font, max) {
    var cut = truncate(text, max);
    ctx.save();
    ctx.font = Chart.helpers.toFont(font).string;
    while (cut.length > 2 && ctx.measureText(cut).width > width) {
      cut = cut.slice(0, cut.length - 2) + '\u2026';
    }
    ctx.restore();
    return cut;
  }

  function shortDate(iso) {
    return iso.slice(5); // MM-DD; the full date is in the tooltip and the table
  }

  // Colours come from the CSS variables the canvas inherits (analytics.css defines them on .aa),
  // so a host that re-themes .aa, or any element around the tab, re-themes the charts too.
  function cssVar(element, name, fallback) {
    var value = getComputedStyle(element).getPropertyValue(name);
    return value && value.trim() ? value.trim() : fallback;
  }

  // bins: each range's upper bound; steps: each range's colour step (1-based, spread over the
  // scale when there are few ranges: presenters.colour_steps).
  function colourFor(bins, steps, value) {
    if (!value) {
      return ZERO;
    }
    var i = 0;
    while (i < bins.length - 1 && value > bins[i]) {
      i++;
    }
    return STEPS[(steps && steps[i] ? steps[i] : i + 1) - 1];
  }

  // Paints the chart area in the "no calls" colour, so only active cells are
  // drawn: the API's activity is sparse, and a 500 x 90 grid stays fast.
  var zeroBackground = {
    id: 'aaZeroBackground',
    beforeDatasetsDraw: function (chart) {
      var area = chart.chartArea;
      var ctx = chart.ctx;
      ctx.save();
      ctx.fillStyle = ZERO;
      ctx.fillRect(area.left, area.top, area.right - area.left, area.bottom - area.top);
      ctx.restore();
    }
  };

  // One tick per cell (min/max sit half a cell outside, so the generated ticks
  // would fall on cell borders); autoSkip thins them when they do not fit.
  function cellTicks(count) {
    return function (scale) {
      var ticks = new Array(count);
      for (var i = 0; i < count; i++) {
        ticks[i] = { value: i };
      }
      scale.ticks = ticks;
    };
  }

  function buildHeatmap(canvas, data) {
    var rows = data.agents.length;
    var cols = data.dates.length;
    var cells = data.cells;
    var points = new Array(cells.length);
    var colours = new Array(cells.length);
    for (var i = 0; i < cells.length; i++) {
      var c = cells[i];
      points[i] = { x: c[1], y: c[0], v: c[2], t: c[3], r: c[4] };
      colours[i] = colourFor(data.bins, data.steps, c[2]);
    }
    var rowHeight = rows > 100 ? 12 : rows > 30 ? 16 : 24;
    canvas.parentElement.style.height = Math.max(140, rows * rowHeight + 70) + 'px';
    // On a narrow screen: shorter agent names, and never cells thinner than MIN_CELL pixels (the
    // chart grows wider than the screen and its wrapper scrolls sideways).
    var available = canvas.parentElement.parentElement.clientWidth || canvas.parentElement.clientWidth;
    var narrow = available < NARROW;
    var labelWidth = narrow ? 96 : 190;
    var needed = cols * MIN_CELL + labelWidth + 24;
    canvas.parentElement.style.width = needed > available ? needed + 'px' : '';
    var text = cssVar(canvas, '--aa-text', '#1f2328');
    var gap = cols > 60 ? 0 : 1;

    return new Chart(canvas, {
      type: 'matrix',
      data: {
        datasets: [{
          label: 'API calls',
          data: points,
          backgroundColor: colours,
          borderWidth: 0,
          width: function (ctx) {
            var area = ctx.chart.chartArea;
            return area ? Math.max(1, (area.right - area.left) / cols - gap) : 0;
          },
          height: function (ctx) {
            var area = ctx.chart.chartArea;
            return area ? Math.max(1, (area.bottom - area.top) / rows - gap) : 0;
          }
        }]
      },
      options: {
        locale: LOCALE,
        maintainAspectRatio: false,
        responsive: true,
        animation: animationsOff() || cells.length > LARGE_HEATMAP ? false : { duration: 300 },
        normalized: true,
        interaction: { mode: 'nearest', intersect: true },
        plugins: {
          legend: { display: false },
          tooltip: {
            displayColors: false,
            callbacks: {
              title: function (items) {
                return items.length ? data.agents[items[0].raw.y] : '';
              },
              label: function (item) {
                var p = item.raw;
                return [
                  data.dates[p.x],
                  'API calls: ' + NUMBER.format(p.v),
                  'Tokens issued: ' + NUMBER.format(p.t),
                  'Credential rotations: ' + NUMBER.format(p.r)
                ];
              }
            }
          }
        },
        scales: {
          x: {
            type: 'linear',
            position: 'top',
            min: -0.5,
            max: cols - 0.5,
            offset: false,
            grid: { display: false },
            border: { display: false },
            afterBuildTicks: cellTicks(cols),
            ticks: {
              color: text,
              maxRotation: 0,
              autoSkipPadding: 12,
              callback: function (value) {
                return data.dates[value] ? shortDate(data.dates[value]) : '';
              }
            }
          },
          y: {
            type: 'linear',
            reverse: true,
            min: -0.5,
            max: rows - 0.5,
            offset: false,
            grid: { display: false },
            border: { display: false },
            afterBuildTicks: cellTicks(rows),
            afterFit: function (scale) {
              scale.width = Math.min(scale.width, labelWidth);
            },
            ticks: {
              color: text,
              autoSkip: true,
              font: { size: rows > 30 ? 10 : 12 },
              callback: function (value) {
                return data.agents[value] !== undefined ? truncate(data.agents[value], narrow ? 12 : 26) : '';
              }
            }
          }
        }
      },
      plugins: [zeroBackground]
    });
  }

  function buildTrends(canvas, data) {
    var text = cssVar(canvas, '--aa-text', '#1f2328');
    var grid = cssVar(canvas, '--aa-grid', '#d0d7de');
    var datasets = data.series.map(function (series) {
      var style = SERIES_STYLE[series.key] || SERIES_STYLE.totalIssuances;
      return {
        label: series.label,
        data: series.data,
        borderColor: style.color,
        backgroundColor: style.color,
        borderDash: style.dash,
        pointStyle: style.point,
        pointRadius: data.labels.length > 60 ? 0 : 3,
        pointHoverRadius: 5,
        borderWidth: 2,
        tension: 0,
        yAxisID: style.axis || 'y'
      };
    });
    var previous = data.previous;
    if (previous) {
      // The preceding period, bucket i under bucket i: dashed, thinner, lighter, no points.
      var base = (SERIES_STYLE[previous.key] || SERIES_STYLE.totalIssuances).color;
      datasets.push({
        label: previous.label,
        data: previous.data,
        aaPrevious: true,
        borderColor: base + '80',
        backgroundColor: base + '80',
        borderDash: [3, 3],
        pointStyle: 'line',
        pointRadius: 0,
        pointHoverRadius: 4,
        borderWidth: 1.5,
        tension: 0,
        spanGaps: false,
        yAxisID: 'y'
      });
    }
    return new Chart(canvas, {
      type: 'line',
      data: { labels: data.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false,
        responsive: true,
        animation: animationsOff() ? false : { duration: 300 },
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { labels: { usePointStyle: true, color: text } },
          tooltip: {
            callbacks: {
              title: function (items) {
                if (!items.length) {
                  return '';
                }
                var i = items[0].dataIndex;
                var title = (data.granularity === 'week' ? 'Week of ' : '') + data.labels[i];
                if (previous && previous.labels[i]) {
                  return [title, 'Previous period: ' + previous.labels[i]];
                }
                return title;
              }
            }
          }
        },
        scales: {
          x: {
            grid: { color: grid },
            ticks: {
              color: text,
              maxRotation: 0,
              autoSkipPadding: 16,
              callback: function (value) {
                return shortDate(data.labels[value] || '');
              }
            }
          },
          y: {
            beginAtZero: true,
            grid: { color: grid },
            ticks: { color: text, precision: 0 },
            title: { display: true, text: 'Tokens', color: text }
          },
          y2: {
            beginAtZero: true,
            position: 'right',
            grid: { drawOnChartArea: false },
            ticks: { color: text, precision: 0 },
            title: { display: true, text: 'Unique agents', color: text }
          }
        }
      }
    });
  }

  function buildCalls(canvas, data) {
    var text = cssVar(canvas, '--aa-text', '#1f2328');
    var grid = cssVar(canvas, '--aa-grid', '#d0d7de');
    var colours = {
      ok: cssVar(canvas, '--aa-calls-ok', '#0072B2'),
      clientErrors: cssVar(canvas, '--aa-calls-4xx', '#E69F00'),
      serverErrors: cssVar(canvas, '--aa-calls-5xx', '#D55E00')
    };
    canvas.parentElement.style.height = Math.max(160, data.labels.length * 30 + 80) + 'px';
    // On a phone, endpoint names get at most half the chart's width (cut with "…", whole in the
    // tooltip and the table), never clipped at the canvas edge; call counts read 100K, not 100,000.
    var narrow = (canvas.parentElement.clientWidth || 0) < NARROW;
    var compact = new Intl.NumberFormat(LOCALE, { notation: 'compact', maximumFractionDigits: 1 });
    var datasets = data.series.map(function (series) {
      return {
        label: series.label,
        data: series.data,
        backgroundColor: colours[series.key],
        borderColor: colours[series.key],
        borderWidth: 0,
        stack: 'calls'
      };
    });
    return new Chart(canvas, {
      type: 'bar',
      data: { labels: data.labels, datasets: datasets },
      options: {
        locale: LOCALE,
        indexAxis: 'y',
        maintainAspectRatio: false,
        responsive: true,
        animation: animationsOff() ? false : { duration: 300 },
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { labels: { color: text } },
          tooltip: {
            callbacks: {
              title: function (items) {
                return items.length ? data.labels[items[0].dataIndex] : '';
              },
              footer: function (items) {
                if (!items.length) {
                  return '';
                }
                var rate = data.errorRates[items[0].dataIndex] || 0;
                return 'Error rate: ' + (rate * 100).toFixed(1) + '%';
              }
            }
          }
        },
        scales: {
          x: {
            stacked: true,
            beginAtZero: true,
            grid: { color: grid },
            ticks: narrow ? {
              color: text,
              precision: 0,
              maxRotation: 0,
              callback: function (value) {
                return compact.format(value);
              }
            } : { color: text, precision: 0, maxRotation: 0 },
            title: { display: true, text: 'Calls', color: text }
          },
          y: {
            stacked: true,
            grid: { display: false },
            afterFit: function (scale) {
              scale.width = Math.min(scale.width, narrow ? Math.floor(scale.chart.width / 2) : 260);
            },
            ticks: {
              color: text,
              callback: function (value) {
                return fitText(this.chart.ctx, data.labels[value] || '', narrow ? this.chart.width / 2 - 12 : 248, this.options.ticks.font, 38);
              }
            }
          }
        }
      }
    });
  }

  var BUILDERS = { heatmap: buildHeatmap, trends: buildTrends, calls: buildCalls };

  // Tables marked data-aa-sortable sort in the page: every row is already there. Each heading is a
  // button (keyboard: Tab, then Enter or Space); the sorted column carries aria-sort, and a second
  // press reverses it. Numbers sort by the cell's data-value, text by its text in locale order.
  function sortTable(button) {
    var th = button.closest('th');
    var table = button.closest('table');
    var tbody = table && table.tBodies[0];
    if (!th || !tbody) {
      return;
    }
    var column = Array.prototype.indexOf.call(th.parentElement.children, th);
    var numeric = button.getAttribute('data-sort-type') === 'number';
    var current = th.getAttribute('aria-sort');
    var direction = current ? (current === 'ascending' ? 'descending' : 'ascending') : (numeric ? 'descending' : 'ascending');
    var rows = Array.prototype.slice.call(tbody.rows);
    var keyed = rows.map(function (row, index) {
      var cell = row.children[column];
      if (!cell) {
        return { row: row, index: index, value: numeric ? 0 : '' };
      }
      var value = numeric ? parseFloat(cell.getAttribute('data-value')) || 0 : cell.textContent.trim().toLowerCase();
      return { row: row, index: index, value: value };
    });
    keyed.sort(function (a, b) {
      var order = numeric ? a.value - b.value : a.value.localeCompare(b.value);
      if (direction === 'descending') {
        order = -order;
      }
      return order || a.index - b.index;
    });
    keyed.forEach(function (item) {
      tbody.appendChild(item.row);
    });
    th.parentElement.querySelectorAll('th').forEach(function (other) {
      other.removeAttribute('aria-sort');
      var arrow = other.querySelector('.aa-sort-arrow');
      if (arrow) {
        arrow.textContent = '\u2195';
      }
    });
    th.setAttribute('aria-sort', direction);
    var mine = th.querySelector('.aa-sort-arrow');
    if (mine) {
      mine.textContent = direction === 'ascending' ? '\u25B2' : '\u25BC';
    }
  }

  document.addEventListener('click', function (event) {
    var button = event.target && event.target.closest ? event.target.closest('button[data-sort-key]') : null;
    if (button && button.closest('table[data-aa-sortable]')) {
      sortTable(button);
    }
  });

  function build(canvas) {
    if (charts.has(canvas) || !canvas.isConnected) {
      return;
    }
    var builder = BUILDERS[canvas.getAttribute('data-chart')];
    var data = builder && readData(canvas);
    if (!data) {
      return;
    }
    var started = performance.now();
    var chart = builder(canvas, data);
    charts.set(canvas, chart);
    canvas.setAttribute('data-render-ms', (performance.now() - started).toFixed(1));
    canvas.setAttribute('data-chart-ready', 'true');
  }

  function buildWithin(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    if (root.matches && root.matches('canvas[data-chart]')) {
      build(root);
    }
    root.querySelectorAll('canvas[data-chart]').forEach(build);
  }

  function destroy(canvas) {
    var chart = charts.get(canvas);
    if (chart) {
      chart.destroy();
      charts.delete(canvas);
      canvas.removeAttribute('data-chart-ready');
    }
  }

  // A scroll region (a wide table, the heatmap on a phone) is a keyboard stop while it has something
  // to scroll, and only then: a stop that does nothing is one more Tab for nothing. The markup has
  // tabindex="0" on every region, which is what a page without this script keeps.
  function updateScrollStops() {
    document.querySelectorAll('.aa .aa-scroll[role=region]').forEach(function (region) {
      if (region.scrollWidth > region.clientWidth + 1) {
        region.setAttribute('tabindex', '0');
      } else if (region !== document.activeElement) {
        region.removeAttribute('tabindex');
      }
    });
  }
  var scrollStopsTimer = null;
  function updateScrollStopsSoon() {
    clearTimeout(scrollStopsTimer);
    scrollStopsTimer = setTimeout(updateScrollStops, 100);
  }
  window.addEventListener('resize', updateScrollStopsSoon);
  // <details> opening a table alternative; "toggle" does not bubble, so listen in the capture phase.
  document.addEventListener('toggle', updateScrollStops, true);

  document.addEventListener('htmx:load', function (event) {
    buildWithin(event.detail && event.detail.elt);
    updateScrollStops();
  });

  // htmx fires this for every element it is about to remove.
  document.addEventListener('htmx:beforeCleanupElement', function (event) {
    var elt = event.detail && event.detail.elt ? event.detail.elt : event.target;
    if (elt && elt.tagName === 'CANVAS') {
      destroy(elt);
    }
  });

  // Before htmx swaps a chart's panel, let the chart go and drop the style
  // Chart.js put on its canvas: htmx copies the old element's attributes onto
  // a new one with the same id (settling), and a copied style attribute is
  // what script-src 'self' style-src 'self' refuses. The plugin's own htmx is
  // told not to settle "style"; a host's htmx keeps its own settings.
  document.addEventListener('htmx:beforeSwap', function (event) {
    var target = event.detail && event.detail.target;
    if (!event.detail.shouldSwap || !target || !target.querySelectorAll) {
      return;
    }
    var canvases = Array.from(target.querySelectorAll('canvas[data-chart]'));
    if (target.matches && target.matches('canvas[data-chart]')) {
      canvases.push(target);
    }
    canvases.forEach(function (canvas) {
      destroy(canvas);
      canvas.removeAttribute('style');
    });
  });

  // Typing a date means a custom range: switch the preset before htmx sends
  // the form (capture phase runs before htmx's listener on the form).
  document.addEventListener('change', function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute('data-aa-custom')) {
      var custom = document.getElementById('aa-range-custom');
      if (custom) {
        custom.checked = true;
      }
    }
  }, true);

  // A mistake in the filters is shown once, in place of the panels (#aa-body-period); the controls
  // it is about (its data-invalid-inputs, chosen by the server) are marked invalid, and unmarked
  // once it is gone.
  function markInvalidControls() {
    var error = document.getElementById('aa-body-period');
    var invalid = ((error && error.getAttribute('data-invalid-inputs')) || '').split(' ');
    ['aa-from', 'aa-to', 'aa-agent'].forEach(function (id) {
      var input = document.getElementById(id);
      if (!input) {
        return;
      }
      if (invalid.indexOf(id) !== -1) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', 'aa-body-period');
      } else {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('aria-describedby');
      }
    });
  }
  document.addEventListener('htmx:afterSettle', markInvalidControls);

  // With this script every change applies at once: the no-JavaScript Apply button goes.
  function hideNoScriptControls(root) {
    if (root && root.querySelectorAll) {
      root.querySelectorAll('[data-aa-no-js]').forEach(function (element) {
        element.hidden = true;
      });
    }
  }

  // A panel whose request failed says so instead of "Loading..." forever.
  function showFailure(event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.classList || !target.classList.contains('aa-panel-body')) {
      return;
    }
    var box = document.createElement('div');
    box.className = 'aa-state aa-state--error';
    box.setAttribute('role', 'alert');
    var title = document.createElement('p');
    title.className = 'aa-state-title';
    title.textContent = 'This panel could not be loaded.';
    var hint = document.createElement('p');
    hint.className = 'aa-state-hint';
    hint.textContent = 'Check your connection and reload the page.';
    box.appendChild(title);
    box.appendChild(hint);
    target.replaceChildren(box);
    target.setAttribute('data-state', 'error');
    target.removeAttribute('aria-busy');
  }
  document.addEventListener('htmx:responseError', showFailure);
  document.addEventListener('htmx:sendError', showFailure);

  if (document.readyState !== 'loading') {
    buildWithin(document.body);
    hideNoScriptControls(document.body);
    updateScrollStops();
  } else {
    document.addEventListener('DOMContentLoaded', function () {
      hideNoScriptControls(document.body);
    });
  }
})();
