/* The developer analytics dashboard: draws the charts from the JSON the page embeds (no build step, Chart.js from
   static/vendor). The same figures are in the tables below the charts. */
(function () {
  "use strict";
  var source = document.getElementById("analytics-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var labels = data.series.map(function (row) { return row.period; });
  var currency = data.plugin.currency;
  var colours = { brand: "#1849a9", bad: "#b42318", ok: "#136c2e", warn: "#8a5a00", muted: "#4d5560" };

  function pick(name) { return data.series.map(function (row) { return row[name]; }); }
  function percent(name) {
    return data.series.map(function (row) { return row[name] === null ? null : Math.round(row[name] * 10000) / 100; });
  }
  function draw(id, type, datasets, extra) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    var options = {
      animation: false, responsive: true, maintainAspectRatio: false, spanGaps: true,
      interaction: { mode: "index", intersect: false },
      scales: { y: { beginAtZero: true } },
      plugins: { legend: { position: "bottom" } }
    };
    if (extra) { Object.keys(extra).forEach(function (key) { options[key] = Object.assign(options[key] || {}, extra[key]); }); }
    new Chart(canvas, { type: type, data: { labels: labels, datasets: datasets }, options: options });
  }
  function line(label, values, colour, extra) {
    return Object.assign({ type: "line", label: label, data: values, borderColor: colour, backgroundColor: colour,
                           pointRadius: 2, tension: 0.2 }, extra || {});
  }
  function bars(label, values, colour, extra) {
    return Object.assign({ type: "bar", label: label, data: values, backgroundColor: colour }, extra || {});
  }

  draw("chart-installs", "bar", [bars("Installs", pick("installs"), colours.brand),
                                 bars("Uninstalls", pick("uninstalls"), colours.bad)]);
  draw("chart-active", "line", [line("Active installations", pick("active_installations"), colours.ok)]);
  draw("chart-calls", "bar", [
    bars("Runs", pick("calls"), colours.brand, { yAxisID: "y" }),
    line("Error rate (%)", percent("error_rate"), colours.bad, { yAxisID: "rate" })
  ], { scales: { rate: { position: "right", beginAtZero: true, suggestedMax: 10, grid: { drawOnChartArea: false },
                         title: { display: true, text: "%" } } } });
  draw("chart-latency", "line", [line("p50 (ms)", pick("p50_ms"), colours.brand),
                                 line("p95 (ms)", pick("p95_ms"), colours.warn)]);
  draw("chart-memory", "line", [line("p95 (KiB)", pick("p95_memory_kb"), colours.brand),
                                line("peak (KiB)", pick("peak_memory_kb"), colours.bad)]);
  draw("chart-rating", "line", [line("Average rating", pick("rating_average"), colours.warn),
                                bars("New ratings", pick("ratings"), colours.muted, { yAxisID: "count" })],
       { scales: { y: { beginAtZero: true, max: 5 },
                   count: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } });
  draw("chart-revenue", "bar", [bars("Revenue share (" + currency + ")", data.series.map(function (row) {
    var value = row.revenue[currency];
    return value === undefined ? 0 : Number(value);
  }), colours.ok)]);
}());
