/* gitreg site: MLflow's filter grammar for registered models, as `gitreg models --filter`
 * reads it (gitreg/core/search.py): conditions on `name` and `tags.<key>` joined by AND,
 * with =, !=, LIKE, ILIKE (and IN for name); values are quoted strings. A missing tag
 * matches no condition, not even != (as MLflow's SQL stores). Plain JavaScript; the
 * index's script (site.js) calls window.gitregFilter.parse(text), which answers
 * {ok: true, match: function (row)} or {ok: false, error: "..."}.
 */
(function () {
  "use strict";
  var KEY = "`[^`]*`|[A-Za-z_][A-Za-z0-9_]*";
  var SUBKEY = "`[^`]*`|\"(?:[^\"]|\"\")*\"|[\\p{L}\\p{N}_][\\p{L}\\p{N}_.\\-/]*";
  var IDENT = "(" + KEY + ")(?:\\.(" + SUBKEY + "))?";
  var IDENT_RE = new RegExp("^" + IDENT + "$", "u");
  var TOKEN = new RegExp(
    "(\\s+)" +
    "|('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")" +
    "|(-?\\p{Nd}+(?:\\.\\p{Nd}+)?(?![\\p{L}\\p{N}_.]))" +
    "|(" + IDENT + ")" +
    "|(<=|>=|!=|=|<|>)" +
    "|([(),])",
    "yu"
  );
  var KEYWORDS = { AND: 1, OR: 1, NOT: 1, LIKE: 1, ILIKE: 1, IN: 1 };
  var OPS = { name: ["=", "!=", "LIKE", "ILIKE", "IN"], tag: ["=", "!=", "LIKE", "ILIKE"] };
  var HINT = "use conditions on name or tags.<key> joined by AND, e.g. name = 'churn' AND tags.team LIKE 'ml%'";

  function Problem(message) { this.message = message; }

  function unquote(text) {
    var q = text.charAt(0);
    if ((q === "'" || q === "\"") && text.length >= 2) {
      return text.slice(1, -1).split(q + q).join(q);
    }
    if (q === "`") { return text.slice(1, -1); }
    return text;
  }

  function tokenize(text) {
    var tokens = [];
    var pos = 0;
    while (pos < text.length) {
      TOKEN.lastIndex = pos;
      var m = TOKEN.exec(text);
      if (!m || m.index !== pos) {
        var quote = /^[.]?['"`]/.test(text.slice(pos, pos + 2));
        throw new Problem("Invalid filter at character " + (pos + 1) + ": " +
          (quote ? "unterminated quote" : "unexpected character") +
          "; quote values with '...' or \"...\" and keys with `...`");
      }
      var kind = m[1] ? "ws" : m[2] ? "str" : m[3] ? "num" : m[4] ? "ident" : m[7] ? "op" : "punct";
      if (kind !== "ws") { tokens.push({ kind: kind, text: m[0], pos: pos }); }
      pos += m[0].length;
    }
    tokens.push({ kind: "end", text: "", pos: text.length });
    return tokens;
  }

  function Parser(text) {
    this.tokens = tokenize(text);
    this.index = 0;
  }
  Parser.prototype.peek = function () { return this.tokens[this.index]; };
  Parser.prototype.next = function () {
    var token = this.tokens[this.index];
    this.index = Math.min(this.index + 1, this.tokens.length - 1);
    return token;
  };
  Parser.prototype.fail = function (token, problem) {
    var where = token.text ? "character " + (token.pos + 1) + " (" + JSON.stringify(token.text) + ")" : "the end";
    return new Problem("Invalid filter at " + where + ": " + problem + "; " + HINT);
  };
  Parser.prototype.word = function (token, word) {
    return token.kind === "ident" && token.text.toUpperCase() === word;
  };
  Parser.prototype.parse = function () {
    var conditions = [this.comparison()];
    while (this.peek().kind !== "end") {
      var token = this.next();
      if (!this.word(token, "AND")) {
        throw this.fail(token, (this.word(token, "OR") ? "OR is not supported" : "expected AND") + " between conditions");
      }
      conditions.push(this.comparison());
    }
    return conditions;
  };
  Parser.prototype.comparison = function () {
    var start = this.next();
    var m = start.kind === "ident" ? IDENT_RE.exec(start.text) : null;
    if (!m || KEYWORDS[start.text.toUpperCase()]) { throw this.fail(start, "expected an attribute or tags.<key>"); }
    var head = unquote(m[1]);
    var sub = m[2];
    var kind, key;
    if (sub === undefined || head === "attribute") {
      key = sub === undefined ? head : unquote(sub);
      if (key !== "name") { throw this.fail(start, "Invalid attribute key '" + key + "' specified"); }
      kind = "name";
    } else if (head === "tag" || head === "tags") {
      key = unquote(sub);
      if (!key) { throw this.fail(start, "empty tag key"); }
      kind = "tag";
    } else {
      throw this.fail(start, "unknown entity '" + head + "', expected tags or attribute");
    }
    var opToken = this.next();
    var op = opToken.kind === "op" || opToken.kind === "ident" ? opToken.text.toUpperCase() : "";
    if (OPS[kind].indexOf(op) === -1) {
      throw this.fail(opToken, "expected an operator for " + (kind === "tag" ? "tags" : key) + ": " + OPS[kind].join(", "));
    }
    var value = op === "IN" ? this.list() : this.string();
    return { kind: kind, key: key, op: op, value: value };
  };
  Parser.prototype.string = function () {
    var token = this.next();
    if (token.kind !== "str") { throw this.fail(token, "expected a quoted string"); }
    return unquote(token.text);
  };
  Parser.prototype.list = function () {
    this.punct("(");
    var values = [this.string()];
    while (this.peek().text === ",") {
      this.next();
      if (this.peek().text === ")") { break; }
      values.push(this.string());
    }
    this.punct(")");
    return values;
  };
  Parser.prototype.punct = function (ch) {
    var token = this.next();
    if (token.kind !== "punct" || token.text !== ch) { throw this.fail(token, "expected '" + ch + "' in a list like ('a', 'b')"); }
  };

  var likeCache = {};
  function like(pattern, text, ignoreCase) {
    var key = (ignoreCase ? "i" : "c") + pattern;
    var re = likeCache[key];
    if (!re) {
      var body = "";
      for (var i = 0; i < pattern.length; i++) {
        var c = pattern.charAt(i);
        if (c === "%") { body += "[\\s\\S]*"; }
        else if (c === "_") { body += "[\\s\\S]"; }
        else { body += c.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&"); }
      }
      re = likeCache[key] = new RegExp("^" + body + "$", ignoreCase ? "iu" : "u");
    }
    return re.test(text);
  }

  function holds(c, actual) {
    if (actual === undefined || actual === null) { return false; }
    if (c.op === "IN") { return c.value.indexOf(actual) !== -1; }
    if (c.op === "LIKE" || c.op === "ILIKE") { return like(c.value, actual, c.op === "ILIKE"); }
    if (c.op === "=") { return actual === c.value; }
    return actual !== c.value;
  }

  function parse(text) {
    try {
      var conditions = new Parser(text).parse();
      return {
        ok: true,
        match: function (row) {
          return conditions.every(function (c) {
            return holds(c, c.kind === "name" ? row.name : row.tagMap[c.key]);
          });
        }
      };
    } catch (e) {
      if (e instanceof Problem) { return { ok: false, error: e.message }; }
      throw e;
    }
  }

  /* Whether text is meant as a filter (an operator or a keyword in it), not as words. */
  function looksLikeFilter(text) {
    return /[=<>!'"`]|\b(like|ilike|in|and)\b|^\s*(name|tags?\.|attribute\.)/i.test(text);
  }

  window.gitregFilter = { parse: parse, looksLikeFilter: looksLikeFilter };
}());
