/* gitreg site: versions of a model side by side, compare.html?m=<model's file stem>&v=3&v=5.
 * Each version's record is in a data file of its model (models/<stem>/data/versions-N.js,
 * calling gitregVersions); the first also lists every version, and the others are loaded
 * only when one of their versions is picked, so a model of 5,000 versions compares two of
 * them without loading the rest. The model named in the address only ever selects a
 * directory below models/ (one path segment, encoded): the page loads nothing else.
 * Everything is built with textContent: a value from the registry is always text. */
(function () {
  "use strict";
  var out = document.getElementById("comparison");
  var status = document.getElementById("compare-status");
  var input = document.getElementById("pick-versions");
  if (!out || !status) { return; }
  var params = new URLSearchParams(window.location.search);
  var stem = params.get("m") || "";
  if (!stem || stem === "." || stem === ".." || /[\/\\]/.test(stem)) {
    status.textContent = "Open the comparison from a model's page (no model is named here).";
    return;
  }
  var base = "models/" + encodeURIComponent(stem) + "/";
  var data = null;
  var records = {};
  var loaded = {};
  var position = {};

  function el(parent, tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function picked() {
    var list = params.getAll("v");
    var typed = params.get("versions");
    if (typed) { list = list.concat(typed.split(/[\s,]+/)); }
    var seen = {};
    return list.map(function (x) { return parseInt(x, 10); }).filter(function (v) {
      if (isNaN(v) || seen[v]) { return false; }
      seen[v] = true;
      return true;
    });
  }

  window.gitregVersions = function (index, list, head) {
    list.forEach(function (r) { records[r.v] = r; });
    loaded[index] = true;
    if (index === 0 && head) {
      data = head;
      data.versions.forEach(function (v, i) { position[v] = i; });
    }
  };

  function fileOf(i) { return base + "data/versions-" + i + ".js"; }

  function load(files, done) {
    var pending = files.filter(function (i) { return !loaded[i]; });
    if (!pending.length) { done(); return; }
    var i = pending[0];
    var script = document.createElement("script");
    script.src = fileOf(i);
    script.onload = function () { loaded[i] = true; load(files, done); };
    script.onerror = function () { status.textContent = "Could not load " + fileOf(i) + ": is " + stem + " a model of this catalog?"; };
    document.head.appendChild(script);
  }

  function introduce() {
    document.getElementById("compare-name").textContent = data.name;
    document.title = "Compare versions of " + data.name;
    var crumb = document.getElementById("compare-model");
    crumb.textContent = data.name;
    crumb.href = base + "index.html";
    // One page serves every model: the badge is made only for a model the build marks, so
    // a catalog at its verified tip holds no unverified badge at all (#22).
    var badge = document.getElementById("compare-unverified");
    badge.className = data.unverified ? "badge unverified" : "";
    badge.textContent = data.unverified ? "unverified" : "";
    badge.hidden = !data.unverified;
    var newest = document.getElementById("compare-newest");
    var recent = data.versions.slice(-6).reverse();
    newest.textContent = "Newest: ";
    recent.forEach(function (v, i) {
      if (i) { newest.appendChild(document.createTextNode(" \u00b7 ")); }
      newest.appendChild(link("version " + v + " (" + data.stages[position[v]] + ")", versionHref(v)));
    });
  }

  function versionHref(v) { return base + "v" + v + ".html"; }

  function row(table, label, values, cls) {
    var tr = el(table, "tr", null, cls);
    el(tr, "th", label).setAttribute("scope", "row");
    values.forEach(function (v) {
      var td = el(tr, "td");
      if (v instanceof Node) { td.appendChild(v); } else { td.textContent = v === undefined || v === null || v === "" ? "\u2014" : String(v); }
    });
    return tr;
  }

  function keysOf(list, field) {
    var keys = [];
    list.forEach(function (r) { Object.keys(r[field]).forEach(function (k) { if (keys.indexOf(k) === -1) { keys.push(k); } }); });
    return keys.sort();
  }

  function link(text, href) {
    if (!href) { return document.createTextNode(text); }
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function history(r) {
    var list = document.createElement("ol");
    list.className = "history";
    if (!r.history.length) { el(list, "li", "never changed stage"); }
    r.history.forEach(function (h) {
      var li = el(list, "li");
      li.appendChild(document.createTextNode(h[0] + " \u2192 " + h[1] + ", " + h[2] + " by " + h[3] + " "));
      li.appendChild(link(h[5] !== null ? "#" + h[5] : h[4], h[6]));
    });
    return list;
  }

  /* The lines of b against a: a longest common subsequence, then ' ', '-' or '+'. */
  function diff(a, b) {
    var x = a.split("\n"), y = b.split("\n");
    var n = x.length, m = y.length, i, j;
    var L = [];
    for (i = 0; i <= n; i++) { L.push(new Array(m + 1).fill(0)); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
      }
    }
    var lines = [];
    i = 0; j = 0;
    while (i < n && j < m) {
      if (x[i] === y[j]) { lines.push([" ", x[i]]); i++; j++; }
      else if (L[i + 1][j] >= L[i][j + 1]) { lines.push(["-", x[i]]); i++; }
      else { lines.push(["+", y[j]]); j++; }
    }
    for (; i < n; i++) { lines.push(["-", x[i]]); }
    for (; j < m; j++) { lines.push(["+", y[j]]); }
    return lines;
  }

  function render(list) {
    out.replaceChildren();
    var table = el(out, "table", null, "compare");
    var head = el(el(table, "thead"), "tr");
    el(head, "th", "").setAttribute("scope", "col");
    list.forEach(function (r) {
      var th = el(head, "th");
      th.setAttribute("scope", "col");
      th.appendChild(link("Version " + r.v, versionHref(r.v)));
    });
    var body = el(table, "tbody");
    row(body, "Stage", list.map(function (r) { return r.stage; }));
    row(body, "Aliases", list.map(function (r) { return r.aliases.map(function (a) { return "@" + a; }).join(" "); }));
    row(body, "Source", list.map(function (r) { return r.source; }), "mono");
    row(body, "Run", list.map(function (r) { return link(r.run_id || (r.run_url ? "run" : "\u2014"), r.run_url); }));
    row(body, "Storage location", list.map(function (r) { return r.storage_location; }), "mono");
    row(body, "Digest", list.map(function (r) { return r.digest; }), "mono");
    row(body, "Registered", list.map(function (r) { return r.created + (r.created_by ? " by " + r.created_by : ""); }));
    row(body, "Description", list.map(function (r) { return r.description; }));
    var first = list[0];
    keysOf(list, "metrics").forEach(function (k) {
      var base = first.metrics[k];
      var tr = row(body, "metric " + k, list.map(function (r, i) {
        var v = r.metrics[k];
        if (v === undefined) { return "\u2014"; }
        if (i > 0 && typeof base === "number" && typeof v === "number" && v !== base) {
          var d = v - base;
          return v + " (" + (d > 0 ? "+" : "") + Number(d.toPrecision(4)) + ")";
        }
        return v;
      }), "metric-row");
      var values = list.map(function (r) { return r.metrics[k]; });
      if (values.some(function (v) { return v !== values[0]; })) { tr.className += " differs"; }
    });
    keysOf(list, "tags").forEach(function (k) {
      var values = list.map(function (r) { return r.tags[k]; });
      var tr = row(body, "tag " + k, values, "tag-row");
      if (values.some(function (v) { return v !== values[0]; })) { tr.className += " differs"; }
    });
    row(body, "Stage history", list.map(history));
    el(out, "h2", "Manifest entries");
    list.forEach(function (r, i) {
      var section = el(out, "section", null, "manifest-diff");
      el(section, "h3", i === 0 ? "Version " + r.v : "Version " + r.v + " against version " + first.v);
      var pre = el(section, "pre", null, "diff-lines");
      var lines = i === 0 ? r.yaml.split("\n").map(function (l) { return [" ", l]; }) : diff(first.yaml, r.yaml);
      lines.forEach(function (pair) {
        el(pre, "span", pair[0] + " " + pair[1] + "\n", pair[0] === "+" ? "added" : pair[0] === "-" ? "removed" : "same");
      });
    });
  }

  function run() {
    introduce();
    var wanted = picked();
    if (input) { input.value = wanted.join(", "); }
    var missing = wanted.filter(function (v) { return position[v] === undefined; });
    if (missing.length) {
      status.textContent = data.name + " has no version " + missing.join(", ") + "; it has " + data.versions.length + " versions";
      return;
    }
    if (wanted.length < 2) {
      status.textContent = data.versions.length + " versions: pick two or more";
      return;
    }
    var files = [];
    wanted.forEach(function (v) {
      var f = Math.floor(position[v] / data.chunk);
      if (files.indexOf(f) === -1) { files.push(f); }
    });
    status.textContent = "Loading " + files.length + " data file" + (files.length > 1 ? "s" : "") + "\u2026";
    load(files, function () {
      render(wanted.map(function (v) { return records[v]; }));
      status.textContent = "Comparing versions " + wanted.join(", ");
    });
  }

  var form = document.getElementById("pick");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var next = new URLSearchParams();
      next.append("m", stem);
      input.value.split(/[\s,]+/).filter(Boolean).forEach(function (v) { next.append("v", v); });
      window.location.search = next.toString();
    });
  }
  load([0], function () {
    if (!data) { status.textContent = "Could not read the versions of " + stem; return; }
    run();
  });
}());
