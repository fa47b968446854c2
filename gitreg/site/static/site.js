/* gitreg site: the index's search, sort and paging. Plain JavaScript, no framework.
 *
 * The search box takes MLflow's filter grammar (filter.js: `tags.team = 'growth' and name
 * LIKE 'churn%'`, as `gitreg models --filter` reads it) or words, each of which must appear
 * in the model's name, an @alias, a tag (key=value), its description or its model card.
 *
 * The page carries its first rows as JSON (#site-data); the others arrive as script files
 * (data/models-N.js, each calling gitregChunk), which works from file:// where fetch() of a
 * local file does not. Rows are built with textContent, never innerHTML: a value from the
 * registry is always text.
 */
(function () {
  "use strict";
  var source = document.getElementById("site-data");
  var table = document.getElementById("models");
  if (!source || !table) { return; }
  var data = JSON.parse(source.textContent);
  var PAGE = 100;
  var rows = [];
  var shown = PAGE;
  var sortKey = "name";
  var sortDir = 1;
  var loaded = 0;
  var input = document.getElementById("filter");
  var status = document.getElementById("status");
  var more = document.getElementById("more");
  var body = table.tBodies[0];

  function add(list) {
    for (var i = 0; i < list.length; i++) {
      var r = list[i];
      var hay = [r[0]];
      var tagMap = Object.create(null);
      r[2].forEach(function (a) { hay.push("@" + a[0]); });
      r[7].forEach(function (t) { hay.push(t[0] + "=" + t[1]); tagMap[t[0]] = t[1]; });
      hay.push(r[11] || "");
      rows.push({ name: r[0], latest: r[1], aliases: r[2], staging: r[3], production: r[4],
        creator: r[5], modified: r[6], tags: r[7], pending: r[8], dir: r[9], unverified: r[10],
        stale: r[12], tagMap: tagMap, hay: hay.join("\n").toLowerCase() });
    }
  }

  /* r.dir is the model's directory, already percent-encoded (its manifest's file stem). */
  function modelHref(r) { return "models/" + r.dir + "/index.html"; }
  function versionHref(r, v) { return "models/" + r.dir + "/v" + v + ".html"; }

  function el(parent, tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    parent.appendChild(node);
    return node;
  }
  function link(parent, href, text) { var a = el(parent, "a", text); a.href = href; return a; }
  function versions(td, r, list) {
    list.forEach(function (v, i) {
      if (i) { td.appendChild(document.createTextNode(", ")); }
      link(td, versionHref(r, v), "Version " + v);
    });
  }
  function chips(td, list, cls, text) {
    list.forEach(function (item) { el(td, "span", text(item), cls); td.appendChild(document.createTextNode(" ")); });
  }
  function when(ms) {
    return ms ? new Date(ms).toISOString().slice(0, 16).replace("T", " ") : "";
  }

  function rowElement(r) {
    var tr = document.createElement("tr");
    var name = el(tr, "td", null, "name");
    link(name, modelHref(r), r.name);
    if (r.unverified) {
      name.appendChild(document.createTextNode(" "));
      var mark = el(name, "span", "unverified", "badge unverified");
      mark.title = data.unverified;
    }
    if (r.pending.length) {
      name.appendChild(document.createTextNode(" "));
      var badge = el(name, "span", r.stale ? "stale" : "pending", r.stale ? "badge stale" : "badge pending");
      badge.title = r.pending.map(function (p) { return p[0]; }).join("; ");
    }
    var latest = el(tr, "td");
    if (r.latest !== null) { link(latest, versionHref(r, r.latest), "Version " + r.latest); }
    chips(el(tr, "td"), r.aliases, "alias", function (a) { return "@" + a[0] + " -> " + a[1]; });
    versions(el(tr, "td"), r, r.staging);
    versions(el(tr, "td"), r, r.production);
    el(tr, "td", r.creator);
    el(el(tr, "td"), "time", when(r.modified));
    chips(el(tr, "td"), r.tags, "tag", function (t) { return t[0] + "=" + t[1]; });
    return tr;
  }

  function compare(a, b) {
    var x = a[sortKey], y = b[sortKey];
    if (x === y) { return a.name < b.name ? -1 : (a.name > b.name ? 1 : 0); }
    if (x === null || x === "") { return 1; }
    if (y === null || y === "") { return -1; }
    if (typeof x === "string") { return sortDir * x.localeCompare(y); }
    return sortDir * (x < y ? -1 : 1);
  }

  var mode = "";  // how the last search read the box: "", "filter" or "words"
  var problem = "";
  function matches() {
    var text = input.value.trim();
    mode = ""; problem = "";
    if (!text) { return rows; }
    var filter = window.gitregFilter ? window.gitregFilter.parse(text) : { ok: false, error: "" };
    if (filter.ok) {
      mode = "filter";
      return rows.filter(filter.match);
    }
    if (window.gitregFilter && window.gitregFilter.looksLikeFilter(text)) { problem = filter.error; }
    mode = "words";
    var terms = text.toLowerCase().split(/\s+/).filter(Boolean);
    return rows.filter(function (r) {
      return terms.every(function (t) { return r.hay.indexOf(t) !== -1; });
    });
  }

  function render() {
    var found = matches().slice().sort(compare);
    var page = found.slice(0, shown);
    var fragment = document.createDocumentFragment();
    page.forEach(function (r) { fragment.appendChild(rowElement(r)); });
    body.replaceChildren(fragment);
    var total = data.total;
    var text = input.value.trim()
      ? found.length + " of " + total + " models match" + (mode === "filter" ? " the MLflow filter" : " these words")
      : page.length + " of " + total + " models";
    if (problem) { text += " (not an MLflow filter: " + problem + ")"; }
    status.setAttribute("data-mode", problem ? "invalid" : mode);
    if (loaded < data.chunks.length) { text += " (loading " + (loaded + 1) + " of " + data.chunks.length + " data files)"; }
    status.textContent = text;
    more.hidden = found.length <= page.length;
  }

  window.gitregChunk = function (index, list) {
    add(list);
    loaded += 1;
    render();
  };

  function load(i) {
    if (i >= data.chunks.length) { return; }
    var script = document.createElement("script");
    script.src = data.chunks[i];
    script.onload = function () { load(i + 1); };
    script.onerror = function () { status.textContent = "Could not load " + data.chunks[i]; };
    document.head.appendChild(script);
  }

  Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      sortDir = key === sortKey ? -sortDir : (key === "modified" || key === "latest" ? -1 : 1);
      sortKey = key;
      Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (other) {
        other.setAttribute("aria-sort", other === th ? (sortDir > 0 ? "ascending" : "descending") : "none");
      });
      render();
    });
  });
  input.addEventListener("input", function () { shown = PAGE; render(); });
  more.addEventListener("click", function () { shown += PAGE; render(); });

  add(data.rows);
  render();
  load(0);
}());

/* Copy buttons (#28): a version's full digest, from the button's data-copy attribute.
   Where the page may not use the clipboard, the full digest is shown and selected instead,
   for the reader to copy by hand. */
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button.copy[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy");
      var shown = button.parentNode.querySelector("code");
      var byHand = function () {
        if (!shown) { return; }
        shown.textContent = text;
        var range = document.createRange();
        range.selectNodeContents(shown);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: copy it";
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () {
          button.textContent = "Copied";
        }, byHand);
      } else {
        byHand();
      }
    });
  });
})();
