// The console: plain JavaScript, no build step, no dependency. Every panel calls this
// server's API with fetch and renders the answer; every error body (RFC 9457 problem)
// is shown to the user. API data is only ever inserted as text, never as HTML.
"use strict";

(() => {
  // ---------------------------------------------------------------- small DOM helpers
  const $ = (selector, root = document) => root.querySelector(selector);

  /** Create an element; string children become text nodes, null/false ones are skipped. */
  function el(tag, attrs = {}, ...children) {
    const svg = ["svg", "g", "line", "rect", "circle", "text", "title"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag)
      : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A value as short text: numbers with ``digits`` decimals, booleans as yes/no. */
  function fmt(value, digits = 2) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") {
      if (Number.isInteger(value)) return String(value);
      return value.toFixed(digits);
    }
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  const percent = (value) => (typeof value === "number" ? `${(value * 100).toFixed(1)}%` : "–");

  function badge(text, kind) {
    return el("span", { class: `badge ${kind}`, text });
  }

  /** A definition list of label/value pairs; values may be nodes. */
  function kv(pairs) {
    const list = el("dl", { class: "kv" });
    for (const [label, value] of pairs) {
      if (value === undefined) continue;
      list.append(el("dt", { text: label }), el("dd", {}, value instanceof Node ? value : fmt(value, 4)));
    }
    return list;
  }

  /** Render any JSON value readably: objects as nested definition lists. */
  function renderValue(value) {
    if (Array.isArray(value)) {
      if (value.every((item) => item === null || typeof item !== "object")) {
        return document.createTextNode(value.map((item) => fmt(item, 4)).join(", ") || "(none)");
      }
      return el("ol", {}, value.map((item) => el("li", {}, renderValue(item))));
    }
    if (value && typeof value === "object") {
      return kv(Object.entries(value).map(([key, item]) => [key.replaceAll("_", " "), renderValue(item)]));
    }
    return document.createTextNode(typeof value === "number" ? String(Number(value.toFixed(4))) : fmt(value));
  }

  /** Horizontal CSS bars: rows of [label, value, text]; widths relative to ``max``. */
  function bars(rows, max, highlight) {
    const grid = el("div", { class: "bars", role: "list" });
    for (const [label, value, text] of rows) {
      const fill = el("div", { class: `fill${label === highlight ? " top" : ""}` });
      fill.style.width = `${Math.max(0, Math.min(100, (value / (max || 1)) * 100))}%`;
      grid.append(
        el("span", { class: "name", role: "listitem" }, label),
        el("div", { class: "track", "aria-hidden": "true" }, fill),
        el("span", { class: "value" }, text),
      );
    }
    return grid;
  }

  // ------------------------------------------------------------------- the API client
  class ApiError extends Error {
    /** An error answer: ``problem`` is the problem body (or one made from the response). */
    constructor(status, problem) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function readBody(response) {
    const text = await response.text();
    if (!text) return null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { return JSON.parse(text); } catch { /* fall through: show the text */ }
    }
    return text;
  }

  function asProblem(response, body) {
    if (body && typeof body === "object" && (body.title || body.detail)) return body;
    const text = typeof body === "string" ? body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim() : "";
    return {
      title: response.statusText || "Error",
      status: response.status,
      detail: text.slice(0, 300) || `the server answered HTTP ${response.status} without a body`,
    };
  }

  // The API key (when the server requires one) lives in this tab's sessionStorage only.
  const API_KEY_STORE = "ai-backends-api-key";

  function problemError(response, body) {
    const error = new ApiError(response.status, asProblem(response, body));
    error.retryAfter = response.headers.get("Retry-After");
    return error;
  }

  async function send(method, path, body, signal) {
    const init = { method, headers: { Accept: "application/json, application/problem+json" }, signal };
    const key = sessionStorage.getItem(API_KEY_STORE);
    if (key) init.headers["X-API-Key"] = key;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      return await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, {
        title: "Network error",
        detail: `could not reach the API (${error.message}); is the server running?`,
      });
    }
  }

  /** Call the API; resolve with {data, headers, status}, reject with ApiError. */
  async function api(method, path, body, { okStatuses = [] } = {}) {
    const response = await send(method, path, body);
    const data = await readBody(response);
    if (!response.ok && !okStatuses.includes(response.status)) throw problemError(response, data);
    return { data, headers: response.headers, status: response.status };
  }

  /** Read an NDJSON stream ({"token"} lines, then {"done"} or {"error"}), one object a call. */
  async function readNdjson(response, onRecord) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      let newline;
      while ((newline = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) onRecord(JSON.parse(line));
      }
      if (done) break;
    }
    if (buffer.trim()) onRecord(JSON.parse(buffer));
  }

  /** A problem that arrives as the last line of a stream (the status line said 200). */
  function streamError(record) {
    return new ApiError(record.error.status || 0, record.error);
  }

  // ------------------------------------------------------------ problems and validation
  /** Hide the problem ``box`` and the field messages of ``form``. */
  function clearErrors(form, box) {
    if (box) { box.hidden = true; box.replaceChildren(); }
    if (!form) return;
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const message of form.querySelectorAll(".field-error")) message.textContent = "";
  }

  /** Mark input ``name`` of ``form`` invalid and show ``message`` under it. */
  function fieldError(form, name, message) {
    const input = form && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    const target = document.getElementById(input.getAttribute("aria-describedby") || "");
    if (target) target.textContent = message;
    return true;
  }

  /** Show an error in ``box`` (and next to the fields of ``form`` it names); never hide it. */
  function showProblem(box, error, form) {
    if (!(error instanceof ApiError)) {
      console.error(error);  // a bug of the console itself: still tell the user
      error = new ApiError(0, { title: "Console error", detail: String(error && error.message || error) });
    }
    const problem = error.problem;
    const status = problem.status || error.status;
    const heading = `${status ? `${status} ` : ""}${problem.title || "Error"}`;
    const children = [el("h4", { text: heading })];
    if (problem.detail) children.push(el("p", { class: "detail", text: problem.detail }));
    if (status === 401) children.push(el("p", { text: "Enter the API key in the field at the top of the page, then try again." }));
    if (status === 429) children.push(el("p", { text: "Too many requests: wait a little before the next one." }));
    if (Array.isArray(problem.errors) && problem.errors.length) {
      children.push(el("ul", {}, problem.errors.map((item) => {
        const field = item.field || "";
        const message = item.message || JSON.stringify(item);
        if (form && field) fieldError(form, field.split(".").pop(), message);
        return el("li", {}, field ? el("code", { text: field }) : null, field ? ": " : "", message);
      })));
    }
    const extra = [];
    if (problem.request_id) extra.push(`request id ${problem.request_id}`);
    if (problem.instance) extra.push(problem.instance);
    if (error.retryAfter) extra.push(`retry after ${error.retryAfter} s`);
    if (problem.type && problem.type !== "about:blank") extra.push(`type ${problem.type}`);
    if (extra.length) children.push(el("p", { class: "small", text: extra.join(" · ") }));
    box.replaceChildren(...children);
    box.hidden = false;
  }

  /** Run ``action`` with the panel's buttons disabled; errors go to ``box``. */
  async function guarded(panel, box, form, action) {
    const buttons = [...panel.querySelectorAll("button")].filter((b) => !b.dataset.keepEnabled);
    clearErrors(form, box);
    buttons.forEach((b) => { b.disabled = true; });
    panel.setAttribute("aria-busy", "true");
    try {
      await action();
    } catch (error) {
      if (error.name !== "AbortError") showProblem(box, error, form);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      panel.removeAttribute("aria-busy");
    }
  }

  /** The number in field ``name``, or null after putting the reason next to the field. */
  function readNumber(form, name, { min, max, integer, label }) {
    const input = form.querySelector(`[name="${name}"]`);
    const raw = input.value.trim();
    const value = Number(raw);
    let message = null;
    if (raw === "" || !Number.isFinite(value)) message = `${label}: enter a number`;
    else if (integer && !Number.isInteger(value)) message = `${label}: enter a whole number`;
    else if (min !== undefined && value < min) message = `${label}: must be at least ${min}`;
    else if (max !== undefined && value > max) message = `${label}: must be at most ${max}`;
    if (message) { fieldError(form, name, message); return null; }
    return value;
  }

  /** The text in field ``name``, or null (with a message) when it is blank. */
  function readText(form, name, label) {
    const value = form.querySelector(`[name="${name}"]`).value;
    if (!value.trim()) { fieldError(form, name, `${label}: enter some text`); return null; }
    return value;
  }

  // ------------------------------------------------------------------------- Classify
  const FEATURES = [
    ["sepal_length", "Sepal length"], ["sepal_width", "Sepal width"],
    ["petal_length", "Petal length"], ["petal_width", "Petal width"],
  ];
  // The API's bounds of a measurement in centimetres (ai_backends/classifier.py).
  const MEASUREMENT_MIN = 0.001;
  const MEASUREMENT_MAX = 100;
  const CLASSIFY_PATHS = {
    rest: ["/api/v1/classify", "REST (in-process model)"],
    http: ["/api/v1/classify-http", "HTTP sidecar"],
    grpc: ["/api/v1/classify-grpc", "gRPC sidecar"],
    shifted: ["/api/v1/classify-shifted", "Shifted input"],
  };

  /** The four measurements of the Classify form, or null after marking the bad ones. */
  function readFeatures(form, box) {
    clearErrors(form, box);
    const body = {};
    let ok = true;
    for (const [name, label] of FEATURES) {
      const value = readNumber(form, name, { min: MEASUREMENT_MIN, max: MEASUREMENT_MAX, label });
      if (value === null) ok = false; else body[name] = value;
    }
    if (!ok) {
      const first = form.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return null;
    }
    return body;
  }

  /** One prediction (any of the classify answers): class, confidence, a bar per class. */
  function predictionCard(title, prediction, cacheHeader) {
    const classes = prediction.all_classes || [];
    const probabilities = prediction.probabilities || [];
    // X-Cache is the truth for /classify; answers without it may carry cache_hit.
    const cache = cacheHeader || (prediction.cache_hit === undefined ? null : (prediction.cache_hit ? "HIT" : "MISS"));
    const card = el("div", { class: "card", "data-testid": "prediction" },
      el("h4", {}, title, " ", cache ? badge(`cache ${cache}`, cache === "HIT" ? "ok" : "info") : null),
      el("p", { class: "big", "data-testid": "predicted-class" }, fmt(prediction.predicted_class)),
      kv([
        ["confidence", percent(prediction.confidence)],
        ["protocol", prediction.protocol],
        ["processing time", prediction.processing_time_ms === undefined ? undefined : `${fmt(prediction.processing_time_ms)} ms`],
        ["model version", prediction.model_version],
      ]),
    );
    if (probabilities.length) {
      card.append(bars(
        probabilities.map((p, i) => [classes[i] || `class ${i}`, p, percent(p)]),
        1, prediction.predicted_class,
      ));
    }
    return card;
  }

  const short = (value) => (typeof value === "number" ? String(Number(value.toFixed(3))) : fmt(value));

  function renderShifted(data) {
    const sim = data.drift_simulation || {};
    const cards = el("div", { class: "cards" },
      predictionCard("Original input", data.original_prediction),
      predictionCard("Shifted input (logged for drift reports)", data.shifted_prediction));
    const shifts = Object.entries(sim.shift_details || {}).map(([feature, shift]) => {
      const how = [shift.add ? `${shift.add > 0 ? "+" : ""}${short(shift.add)}` : null,
        shift.multiply !== undefined && shift.multiply !== 1 ? `×${short(shift.multiply)}` : null].filter(Boolean).join(" ");
      const clipped = shift.clipped ? ", clipped to the valid range" : "";
      return [feature.replaceAll("_", " "), `${short(shift.original)} → ${short(shift.shifted)} cm (${how || "unchanged"}${clipped})`];
    });
    const change = sim.confidence_change;
    return [cards, el("div", { class: "card", "data-testid": "drift-simulation" },
      el("h4", {}, "Drift simulation ", sim.prediction_changed ? badge("PREDICTION CHANGED", "warn") : badge("same prediction", "ok")),
      kv([
        ...shifts,
        ["confidence change", typeof change === "number" ? `${change > 0 ? "+" : ""}${(change * 100).toFixed(1)} points` : undefined],
      ]))];
  }

  function setupClassify() {
    const panel = $("#classify");
    const form = $("#classify-form");
    const box = $("#classify-error");
    const result = $("#classify-result");

    async function run(variant) {
      const body = readFeatures(form, box);
      if (!body) return;
      const [path, label] = CLASSIFY_PATHS[variant];
      await guarded(panel, box, form, async () => {
        result.replaceChildren();
        const { data, headers } = await api("POST", path, body);
        if (variant === "shifted") result.replaceChildren(...renderShifted(data));
        else result.replaceChildren(el("div", { class: "cards" }, predictionCard(label, data, headers.get("X-Cache"))));
      });
    }

    form.addEventListener("submit", (event) => { event.preventDefault(); run("rest"); });
    for (const button of form.querySelectorAll("button[type='button'][data-variant]")) {
      button.addEventListener("click", () => run(button.dataset.variant));
    }
  }

  // ------------------------------------------------------------------------- Generate
  // What each pattern family of the injection screen means, for people.
  const PATTERN_TEXT = {
    override_instructions: "tries to override the earlier instructions",
    reveal_system_prompt: "asks to reveal the system prompt",
    role_play: "role-play framing (pretend to be…, DAN)",
    fake_delimiter: "fake role or section delimiters (### system, </user>)",
    invisible_characters: "invisible characters hidden in the text",
    mixed_script_letters: "look-alike letters from another alphabet",
  };
  // Characters the screen treats as evasion: invisible ones and Cyrillic/Greek look-alikes.
  const INVISIBLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0]/g;
  const LOOKALIKE = /[а-яёіїјѕԁα-ω]/gi;

  /** The prompt as nodes, with the evasion characters the screen reported in <mark>.
   *
   * The screen reports pattern families, not positions (it matches a normalized copy of
   * the text), so the families are listed by name and only the characters that can be
   * found in the original text (invisible ones, look-alike letters) are marked in it. */
  function highlight(text, patterns) {
    const spans = [];
    for (const match of text.matchAll(INVISIBLE)) {
      const code = match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      spans.push([match.index, match.index + match[0].length, `⟨U+${code}⟩`]);
    }
    if (patterns.includes("mixed_script_letters")) {
      for (const match of text.matchAll(LOOKALIKE)) spans.push([match.index, match.index + match[0].length, null]);
    }
    spans.sort((a, b) => a[0] - b[0]);
    const nodes = [];
    let cursor = 0;
    for (const [start, end, shown] of spans) {
      if (start < cursor) continue;  // overlapping matches: keep the first
      nodes.push(text.slice(cursor, start), el("mark", { text: shown ?? text.slice(start, end), title: shown ? "invisible character" : null }));
      cursor = end;
    }
    nodes.push(text.slice(cursor));
    return nodes;
  }

  /** "family: what it means" for a detected pattern family. */
  function patternLabel(pattern) {
    return PATTERN_TEXT[pattern] ? `${pattern}: ${PATTERN_TEXT[pattern]}` : pattern;
  }

  /** The security analysis of a prompt: verdict, numbers, families, the marked prompt. */
  function renderSecurity(analysis, prompt) {
    const patterns = analysis.detected_patterns || [];
    const detected = Boolean(analysis.injection_detected);
    const blocked = Boolean(analysis.blocked);
    const card = el("div", { class: "card", "data-testid": "security-analysis" },
      el("h4", {}, "Security analysis ",
        blocked ? badge("BLOCKED", "bad") : detected ? badge("INJECTION DETECTED", "warn") : badge("CLEAN", "ok")),
      kv([
        ["injection detected", detected],
        ["blocked", blocked],
        ["risk score", analysis.risk_score],
        ["sanitized", analysis.sanitized],
        ["length", analysis.original_length === undefined ? undefined
          : `${analysis.original_length} → ${analysis.sanitized_length} characters`],
      ]));
    if (patterns.length) {
      card.append(el("p", { class: "label", text: "Detected patterns" }),
        el("ul", { class: "chips", "data-testid": "detected-patterns" }, patterns.map((p) => el("li", { class: "hit", text: patternLabel(p) }))));
    }
    card.append(el("p", { class: "label", text: "Your prompt" }),
      el("div", { class: "prompt-view", "data-testid": "highlighted-prompt" }, highlight(prompt, patterns)));
    return card;
  }

  /** One line of metadata: v1 answers carry it at the top level, v2 in ``metadata``. */
  function generationMeta(record) {
    const v2 = record.metadata;
    const parts = v2
      ? [`backend ${v2.backend}`, `model ${v2.model_used}`,
        `${v2.tokens.prompt} prompt + ${v2.tokens.completion} completion tokens`,
        `${fmt(v2.response_time_ms, 0)} ms`, `API ${v2.api_version}`]
      : [`backend ${record.backend}`, `model ${record.model}`,
        `${record.prompt_tokens} prompt + ${record.completion_tokens} completion tokens`,
        `${fmt(record.latency_ms, 0)} ms`, record.finish_reason === "length" ? "stopped at max tokens" : null];
    return parts.filter(Boolean).join(" · ");
  }

  function setupGenerate() {
    const panel = $("#generate");
    const form = $("#generate-form");
    const box = $("#generate-error");
    const output = $("#generate-output");
    const meta = $("#generate-meta");
    const security = $("#generate-security");
    const stop = $("#generate-stop");
    stop.dataset.keepEnabled = "1";
    let controller = null;  // aborts the running stream (Stop button)
    let body = {};  // the request being answered

    stop.addEventListener("click", () => { if (controller) controller.abort(); });

    // API v2 answers in one piece with its metadata block; it has no streaming option.
    const endpoint = $("#generate-endpoint");
    const streamBox = $("#generate-stream");
    endpoint.addEventListener("change", () => {
      const v2 = endpoint.value.startsWith("/api/v2/");
      streamBox.disabled = v2;
      if (v2) streamBox.checked = false;
    });

    async function stream(path, body) {
      controller = new AbortController();
      stop.disabled = false;
      try {
        const response = await send("POST", path, body, controller.signal);
        const type = response.headers.get("Content-Type") || "";
        if (!response.ok) throw problemError(response, await readBody(response));
        if (!type.includes("ndjson") || !response.body) {
          return finish(await readBody(response));  // the server answered in one piece
        }
        output.classList.add("streaming");
        await readNdjson(response, handleRecord);
      } catch (error) {
        if (error.name === "AbortError") { meta.textContent = "stopped"; return; }
        throw error;
      } finally {
        output.classList.remove("streaming");
        controller = null;
        stop.disabled = true;
      }
    }

    function handleRecord(record) {
      if (record.token !== undefined) output.append(record.token);
      else if (record.error) throw streamError(record);
      else if (record.done) finish(record);
    }

    function finish(data) {
      if (!data || typeof data !== "object") { output.textContent = fmt(data); return; }
      if (data.response !== undefined) output.textContent = data.response;
      if (data.security_analysis) security.replaceChildren(renderSecurity(data.security_analysis, body.prompt));
      meta.textContent = generationMeta(data);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form, box);
      const prompt = readText(form, "prompt", "Prompt");
      const maxTokens = readNumber(form, "max_tokens", { min: 1, integer: true, label: "Max tokens" });
      const temperature = readNumber(form, "temperature", { min: 0, label: "Temperature" });
      if (prompt === null || maxTokens === null || temperature === null) return;
      const path = $("#generate-endpoint").value;
      const wantStream = streamBox.checked && !streamBox.disabled;
      body = { prompt, max_tokens: maxTokens, temperature };
      if (wantStream) body.stream = true;
      await guarded(panel, box, form, async () => {
        output.replaceChildren();
        meta.textContent = "";
        security.replaceChildren();
        try {
          if (wantStream) await stream(path, body);
          else finish((await api("POST", path, body)).data);
        } catch (error) {
          // A blocked prompt is a 400 problem that carries the analysis: show both.
          const analysis = error.problem && error.problem.security_analysis;
          if (analysis) security.replaceChildren(renderSecurity(analysis, prompt));
          throw error;
        }
      });
    });
  }

  // ----------------------------------------------------------------------------- Chat
  function messageRole(message) {
    return message.role === "user" ? "human" : message.role === "system" ? "system" : "ai";
  }

  function chatBubble(role, text) {
    return el("li", { class: role }, el("span", { class: "who", text: role === "human" ? "You" : role === "system" ? "System" : "Assistant" }), text);
  }

  /** Send one chat message with "stream": true; tokens appear in the answer bubble. */
  async function streamChat(body, history) {
    const response = await send("POST", "/api/v1/chat", { ...body, stream: true });
    if (!response.ok) throw problemError(response, await readBody(response));
    const answer = document.createTextNode("");
    const bubble = chatBubble("ai", answer);
    bubble.classList.add("streaming");
    history.append(chatBubble("human", body.prompt), bubble);
    let final = null;
    try {
      await readNdjson(response, (record) => {
        if (record.token !== undefined) answer.appendData(record.token);
        else if (record.error) throw streamError(record);
        else if (record.done) final = record;
      });
    } catch (error) {
      answer.appendData(" [interrupted]");
      throw error;
    } finally {
      bubble.classList.remove("streaming");
    }
    if (!final) throw new ApiError(0, { title: "Stream ended early", detail: "the server closed the answer before its final record" });
    answer.data = final.response;  // the stored answer, exactly as the server keeps it
    return final;
  }

  function setupChat() {
    const panel = $("#chat");
    const form = $("#chat-form");
    const box = $("#chat-error");
    const session = $("#chat-session");
    const history = $("#chat-history");
    const stats = $("#chat-stats");
    const sessionBox = session.closest(".row");

    function showStats(data) {
      const memory = data.memory_stats || {};
      stats.textContent = [
        data.session_id && `session ${data.session_id}`,
        data.conversation_length !== undefined && `${data.conversation_length} exchanges (${fmt(data.messages_exchanged)} messages)`,
        memory.total_messages !== undefined && `${memory.total_messages} messages in memory (${fmt(memory.human_messages)} from you, ${fmt(memory.ai_messages)} from the assistant)`,
      ].filter(Boolean).join(" · ");
    }

    function requireSession() {
      clearErrors(sessionBox, box);
      const id = session.value.trim();
      if (!id) fieldError(sessionBox, "session_id", "Session id: send a message first, or type an id");
      return id || null;
    }

    async function loadHistory() {
      const id = requireSession();
      if (!id) return;
      await guarded(panel, box, sessionBox, async () => {
        const { data } = await api("GET", `/api/v1/chat/${encodeURIComponent(id)}`);
        const messages = data.messages;
        history.replaceChildren(...messages.map((m) => chatBubble(messageRole(m), m.content)));
        showStats({ session_id: id, ...data });
        if (!messages.length) stats.textContent = `Session ${id} has no stored messages.`;
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form, box);
      clearErrors(sessionBox);
      const prompt = readText(form, "prompt", "Message");
      const maxTokens = readNumber(form, "max_tokens", { min: 1, integer: true, label: "Max tokens" });
      if (prompt === null || maxTokens === null) return;
      const body = { prompt, max_tokens: maxTokens };
      if (session.value.trim()) body.session_id = session.value.trim();
      await guarded(panel, box, form, async () => {
        try {
          const data = await streamChat(body, history);
          session.value = data.session_id;
          showStats(data);
          form.querySelector("[name='prompt']").value = "";
        } catch (error) {
          // An invalid session id is reported on the session field, which is outside the form.
          if (error.problem && Array.isArray(error.problem.errors)) showProblem(box, error, sessionBox);
          throw error;
        }
      });
    });

    $("#chat-load").addEventListener("click", loadHistory);
    $("#chat-new").addEventListener("click", () => {
      clearErrors(sessionBox, box);
      session.value = "";
      history.replaceChildren();
      stats.textContent = "New session: the server assigns an id with your first message.";
      form.querySelector("[name='prompt']").focus();
    });
    $("#chat-forget").addEventListener("click", async () => {
      const id = requireSession();
      if (!id) return;
      await guarded(panel, box, sessionBox, async () => {
        await api("DELETE", `/api/v1/chat/${encodeURIComponent(id)}`);
        history.replaceChildren();
        stats.textContent = `Session ${id} forgotten: the server no longer keeps its messages.`;
      });
    });
  }

  // ------------------------------------------------------------------- Semantic cache
  /** Cache statistics: the top-level numbers, then one card per group with its hit rate. */
  function renderStats(data) {
    const cards = el("div", { class: "cards", "data-testid": "cache-stats" });
    const scalars = [];
    for (const [key, value] of Object.entries(data || {})) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        const card = el("div", { class: "card" }, el("h4", { text: key.replaceAll("_", " ") }), renderValue(value));
        const rate = value.hit_rate;
        if (typeof rate === "number") card.append(bars([["hit rate", rate, percent(rate)]], 1));
        cards.append(card);
      } else {
        scalars.push([key.replaceAll("_", " "), renderValue(value)]);
      }
    }
    if (scalars.length) cards.prepend(el("div", { class: "card" }, el("h4", { text: "overall" }), kv(scalars)));
    return cards;
  }

  function setupSemantic() {
    const panel = $("#semantic");
    const form = $("#semantic-form");
    const box = $("#semantic-error");
    const result = $("#semantic-result");
    const statsBox = $("#semantic-stats-error");
    const stats = $("#semantic-stats");

    async function refresh() {
      clearErrors(null, statsBox);
      try {
        const { data } = await api("GET", "/api/v1/cache/stats");
        stats.replaceChildren(renderStats(data), el("p", { class: "meta", text: `updated ${new Date().toLocaleTimeString()}` }));
      } catch (error) {
        showProblem(statsBox, error);
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form, box);
      const prompt = readText(form, "prompt", "Question");
      const maxTokens = readNumber(form, "max_tokens", { min: 1, integer: true, label: "Max tokens" });
      if (prompt === null || maxTokens === null) return;
      await guarded(panel, box, form, async () => {
        result.replaceChildren();
        // Greedy decoding; the cache is scoped by model and parameters, so equal settings can hit.
        const { data } = await api("POST", "/api/v1/chat-semantic", { prompt, max_tokens: maxTokens, temperature: 0 });
        const info = data.cache_info || {};
        const hit = Boolean(info.cache_hit);
        result.replaceChildren(el("div", { class: "cards" },
          el("div", { class: "card", "data-testid": "semantic-answer" },
            el("h4", {}, "Answer ", badge(hit ? "HIT" : "MISS", hit ? "ok" : "info"),
              hit && info.cache_type ? ` ${info.cache_type}` : ""),
            el("p", { class: "answer", text: fmt(data.response) })),
          el("div", { class: "card" }, el("h4", { text: "Cache lookup" }),
            kv([
              ["similarity", info.similarity_score === undefined ? undefined : `${fmt(info.similarity_score, 3)} (cosine; threshold ${fmt(info.threshold, 3)})`],
              ["matched prompt", info.matched_prompt ?? "(none)"],
              ["response time", info.response_time_ms === undefined ? undefined : `${fmt(info.response_time_ms, 1)} ms`],
              ...Object.entries(info)
                .filter(([key]) => !["cache_hit", "cache_type", "similarity_score", "threshold", "matched_prompt", "response_time_ms"].includes(key))
                .map(([key, value]) => [key.replaceAll("_", " "), renderValue(value)]),
            ]),
            typeof info.similarity_score === "number"
              ? bars([["similarity", info.similarity_score, fmt(info.similarity_score, 3)], ["threshold", info.threshold || 0, fmt(info.threshold, 3)]], 1)
              : null)));
      });
      await refresh();
    });

    $("#semantic-refresh").addEventListener("click", refresh);
    $("#semantic-clear").addEventListener("click", async () => {
      await guarded(panel, box, null, async () => {
        await api("DELETE", "/api/v1/cache");
        result.replaceChildren(el("p", { class: "meta", text: "Caches cleared." }));
      });
      await refresh();
    });

    // Live statistics while the panel is on screen (and the browser tab visible).
    setInterval(() => { if (!panel.hidden && !document.hidden) refresh(); }, 10000);
    return refresh;
  }

  // ------------------------------------------------------------------------ Protocols
  const STAT_NAMES = {
    min: "min_ms", p50: "p50_ms", mean: "mean_ms", p95: "p95_ms", p99: "p99_ms", max: "max_ms",
    rps: "requests_per_second",
  };
  const stat = (obj, name) => (obj ? obj[STAT_NAMES[name]] : undefined);

  /** The per-protocol results of a benchmark answer, as [name, stats or {error}]. */
  function protocolResults(data) {
    const failures = data.failures || {};
    return ["http", "grpc"].map((name) => [name, data[name] || { error: failures[name] || "no result" }]);
  }

  const PROTOCOL_NAMES = { http: "HTTP (REST, JSON)", grpc: "gRPC (protobuf)" };

  /** Inline SVG: per protocol a whisker min..p99, a box p50..p95, a tick at the mean. */
  function latencyChart(results) {
    const ok = results.filter(([, s]) => stat(s, "mean") !== undefined);
    if (!ok.length) return null;
    const top = Math.max(...ok.map(([, s]) => stat(s, "p99")));
    const width = 640, left = 70, right = 20, rowHeight = 46, height = 40 + ok.length * rowHeight;
    const x = (v) => left + ((width - left - right) * v) / (top * 1.05 || 1);
    const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "Latency per protocol in milliseconds: whisker min to p99, box p50 to p95, tick at the mean" });
    for (let i = 0; i <= 4; i++) {
      const value = (top * 1.05 * i) / 4;
      svg.append(el("line", { class: "grid", x1: x(value), x2: x(value), y1: 10, y2: height - 22 }),
        el("text", { x: x(value), y: height - 8, "text-anchor": "middle", text: `${fmt(value, 2)} ms` }));
    }
    ok.forEach(([name, s], index) => {
      const y = 22 + index * rowHeight;
      const cls = name === "grpc" ? "p-grpc" : "p-rest";
      const [low, p50, mean, p95, high] = ["min", "p50", "mean", "p95", "p99"].map((k) => stat(s, k));
      const group = el("g", { class: cls },
        el("title", { text: `${name}: min ${fmt(low)} · p50 ${fmt(p50)} · mean ${fmt(mean)} · p95 ${fmt(p95)} · p99 ${fmt(high)} ms` }),
        el("text", { x: 4, y: y + 15, text: name === "grpc" ? "gRPC" : name.toUpperCase() }),
        el("line", { class: `whisker ${cls}`, x1: x(low), x2: x(high), y1: y + 11, y2: y + 11 }),
        el("rect", { class: `box ${cls}`, x: x(p50), y: y, width: Math.max(2, x(p95) - x(p50)), height: 22 }),
        el("line", { class: `whisker ${cls}`, x1: x(mean), x2: x(mean), y1: y - 4, y2: y + 26 }));
      svg.append(group);
    });
    return svg;
  }

  function setupProtocols() {
    const panel = $("#protocols");
    const form = $("#protocols-form");
    const box = $("#protocols-error");
    const result = $("#protocols-result");

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form, box);
      const iterations = readNumber(form, "iterations", { min: 1, max: 1000, integer: true, label: "Iterations" });
      const features = readFeatures($("#classify-form"), null);
      if (iterations === null) return;
      if (!features) {
        showProblem(box, new ApiError(0, { title: "Invalid measurements", detail: "fix the four measurements on the Classify panel first" }));
        return;
      }
      await guarded(panel, box, form, async () => {
        result.replaceChildren();
        const { data } = await api("POST", "/api/v1/classify-benchmark", { ...features, iterations });
        const results = protocolResults(data);
        const rows = results.map(([name, s]) => el("tr", {},
          el("th", { scope: "row", text: PROTOCOL_NAMES[name] }),
          s.error !== undefined
            ? el("td", { colspan: 7 }, badge("FAILED", "bad"), " ", s.error)
            : ["min", "p50", "mean", "p95", "p99", "max"].map((k) => el("td", { class: "num", text: fmt(stat(s, k), 3) }))
              .concat(el("td", { class: "num", text: fmt(stat(s, "rps"), 0) }))));
        result.replaceChildren(
          el("div", { class: "table-wrap" }, el("table", { "data-testid": "benchmark-table" },
            el("caption", { class: "meta", text: `Latency in ms over ${iterations} iterations per protocol` }),
            el("thead", {}, el("tr", {}, ["protocol", "min", "p50", "mean", "p95", "p99", "max", "req/s"]
              .map((h, i) => el("th", { class: i ? "num" : null, scope: "col", text: h })))),
            el("tbody", {}, rows))),
          latencyChart(results) || el("p", { class: "meta", text: "No protocol answered: nothing to chart." }),
          kv([
            ["faster protocol", data.faster_protocol ? PROTOCOL_NAMES[data.faster_protocol] : "– (needs both)"],
            ["warm-up requests", data.warmup_requests],
            ["speedup", data.speedup_factor == null ? "–" : `${fmt(data.speedup_factor)}×`],
            ["mean difference", data.time_difference_ms == null ? "–" : `${fmt(data.time_difference_ms, 3)} ms`],
          ]));
      });
    });
  }

  // ----------------------------------------------------------------------- Monitoring
  // Badge colour of each monitoring_status (the rules are in the drift report's schema).
  const STATUS_KIND = { NO_DRIFT: "ok", LOW_DRIFT: "warn", MEDIUM_DRIFT: "warn", HIGH_DRIFT: "bad" };

  /** Predicted-class shares now vs in the training data, as paired bars. */
  function predictionDriftCard(prediction) {
    const current = prediction.current_distribution || {};
    const reference = prediction.reference_distribution || {};
    const classes = [...new Set([...Object.keys(reference), ...Object.keys(current)])];
    return el("div", { class: "card", "data-testid": "prediction-drift" },
      el("h4", {}, "Predicted classes ", prediction.drift_detected ? badge("DRIFT", "bad") : badge("ok", "ok")),
      kv([["p-value", prediction.p_value], ["test", prediction.statistical_test], ["threshold", prediction.threshold]]),
      bars(classes.flatMap((name) => [
        [`${name} (now)`, current[name] || 0, percent(current[name] || 0)],
        [`${name} (training)`, reference[name] || 0, percent(reference[name] || 0)],
      ]), 1));
  }

  // Five flowers of each class from Fisher's iris data, the model's own training set.
  const IRIS_SAMPLES = [
    [5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2], [4.7, 3.2, 1.3, 0.2], [5.0, 3.6, 1.4, 0.2], [5.4, 3.9, 1.7, 0.4],
    [7.0, 3.2, 4.7, 1.4], [6.4, 3.2, 4.5, 1.5], [6.9, 3.1, 4.9, 1.5], [5.5, 2.3, 4.0, 1.3], [6.5, 2.8, 4.6, 1.5],
    [6.3, 3.3, 6.0, 2.5], [5.8, 2.7, 5.1, 1.9], [7.1, 3.0, 5.9, 2.1], [6.3, 2.9, 5.6, 1.8], [6.5, 3.0, 5.8, 2.2],
  ];

  /** The i-th demo flower, jittered by up to ±0.1 cm so the log is not 15 repeated rows. */
  function demoFlower(i) {
    const row = IRIS_SAMPLES[i % IRIS_SAMPLES.length];
    const body = {};
    FEATURES.forEach(([name], k) => {
      body[name] = Math.max(MEASUREMENT_MIN, Math.round((row[k] + (Math.random() - 0.5) * 0.2) * 100) / 100);
    });
    return body;
  }

  function setupTraffic() {
    const panel = $("#monitoring");
    const form = $("#traffic-form");
    const box = $("#traffic-error");
    const progress = $("#traffic-progress");
    for (const button of form.querySelectorAll("button[data-traffic]")) {
      button.addEventListener("click", async () => {
        clearErrors(form, box);
        const count = readNumber(form, "count", { min: 1, max: 200, integer: true, label: "Flowers" });
        if (count === null) return;
        const shifted = button.dataset.traffic === "shifted";
        const path = shifted ? "/api/v1/classify-shifted" : "/api/v1/classify";
        await guarded(panel, box, form, async () => {
          for (let i = 0; i < count; i++) {
            await api("POST", path, demoFlower(i));
            progress.textContent = `${i + 1} of ${count} ${shifted ? "shifted" : "normal"} flowers classified and logged`;
          }
        });
      });
    }
  }

  function setupMonitoring() {
    setupTraffic();
    const panel = $("#monitoring");
    const form = $("#monitoring-form");
    const box = $("#monitoring-error");
    const result = $("#monitoring-result");

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form, box);
      const limit = readNumber(form, "limit", { min: 1, integer: true, label: "Limit" });
      if (limit === null) return;
      await guarded(panel, box, form, async () => {
        result.replaceChildren();
        const { data } = await api("GET", `/api/v1/drift-report?limit=${encodeURIComponent(limit)}`);
        const drift = data.drift_analysis || {};
        const summary = data.data_summary || {};
        const advice = data.recommendations || {};
        const status = advice.monitoring_status;
        const features = Object.entries(drift.feature_drift_scores || {});
        const reportUrl = data.html_report;
        const prediction = drift.prediction_drift;
        result.replaceChildren(
          el("div", { class: "cards" },
            el("div", { class: "card", "data-testid": "drift-status" },
              el("h4", {}, "Status ", badge(status, STATUS_KIND[status] || "info")),
              kv([
                ["drift detected", drift.drift_detected],
                ["drifted columns", drift.drifted_columns === undefined ? undefined : `${drift.drifted_columns} of ${features.length + (prediction ? 1 : 0)}`],
                ["overall drift score", drift.overall_drift_score],
                ["analysed at", drift.analysis_timestamp],
              ])),
            el("div", { class: "card" }, el("h4", { text: "Data" }), renderValue(summary)),
            el("div", { class: "card" }, el("h4", { text: "Recommendations" }), kv([
              ["retrain the model", advice.retrain_model],
              ["investigate", (advice.investigate_features || []).join(", ") || "nothing"],
            ]), advice.note ? el("p", { class: "meta", "data-testid": "drift-note", text: advice.note }) : null)),
          el("h3", { text: "Per-feature drift" }),
          el("div", { class: "table-wrap" }, el("table", { "data-testid": "drift-table" },
            el("caption", { class: "meta", text: "p-value of the test: drift when it is below the threshold; drift score = 1 − p (the bar)" }),
            el("thead", {}, el("tr", {}, ["feature", "drift", "p-value", "drift score (1 − p)", "test", "threshold"]
              .map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, features.map(([name, f]) => el("tr", {},
              el("th", { scope: "row", text: name }),
              el("td", {}, f.drift_detected ? badge("DRIFT", "bad") : badge("ok", "ok")),
              el("td", { class: "num", text: fmt(f.p_value, 4) }),
              el("td", {}, bars([["", Math.min(1, f.drift_score || 0), ""]], 1)),
              el("td", { text: fmt(f.statistical_test) }),
              el("td", { class: "num", text: fmt(f.threshold, 3) })))))),
          prediction ? predictionDriftCard(prediction) : null,
          reportUrl
            ? el("p", {}, el("a", { href: reportUrl, target: "_blank", rel: "noopener", "data-testid": "drift-html-link" },
              "Open the full Evidently report (HTML, new tab)"))
            : null,
        );
      });
    });
  }

  // ------------------------------------------------------------------------- Registry
  function versionRows(model) {
    return (model.versions || []).map((v) => {
      const aliases = v.aliases || [];
      return el("tr", { "data-version": v.version },
        el("td", { text: `v${fmt(v.version)}` }),
        el("td", {}, aliases.length ? aliases.map((a) => [badge(a, a === "production" ? "ok" : "info"), " "]) : "–"),
        el("td", { text: fmt(v.stage) }),
        el("td", { class: "num", text: v.accuracy === undefined || v.accuracy === null ? "–" : fmt(Number(v.accuracy), 3) }),
        el("td", { text: fmt(v.created) }),
        el("td", { class: "mono", text: fmt(v.git_commit).slice(0, 12) }));
    });
  }

  function setupRegistry() {
    const panel = $("#registry");
    const box = $("#registry-error");
    const result = $("#registry-result");
    const form = $("#registry-form");
    const classifyBox = $("#registry-classify-error");
    const classifyResult = $("#registry-classify-result");

    async function load() {
      await guarded(panel, box, null, async () => {
        const { data } = await api("GET", "/api/v1/models");
        const models = data.models;
        const store = el("p", { class: "meta", text: `MLflow store: ${fmt(data.tracking_uri)}` });
        if (!models.length) {
          result.replaceChildren(el("p", { text: "No registered models yet: run scripts/train_iris_model.py --register." }), store);
          return;
        }
        result.replaceChildren(store, ...models.map((model) => {
          const production = model.aliases.production;
          return el("div", { class: "card", "data-testid": "registry-model" },
            el("h4", {}, model.name, " ", production !== undefined ? badge(`production → v${production}`, "ok") : badge("no production alias", "warn")),
            model.description ? el("p", { class: "meta", text: model.description }) : null,
            el("div", { class: "table-wrap" }, el("table", {},
              el("thead", {}, el("tr", {}, ["version", "aliases", "stage", "accuracy", "created (UTC)", "git commit"].map((h) => el("th", { scope: "col", text: h })))),
              el("tbody", {}, versionRows(model)))));
        }));
      });
    }

    $("#registry-refresh").addEventListener("click", load);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const features = readFeatures($("#classify-form"), null);
      clearErrors(form, classifyBox);
      if (!features) {
        showProblem(classifyBox, new ApiError(0, { title: "Invalid measurements", detail: "fix the four measurements on the Classify panel first" }));
        return;
      }
      const alias = readText(form, "alias", "Alias");
      if (alias === null) return;
      const query = new URLSearchParams({ model_format: $("#registry-format").value, alias: alias.trim() });
      await guarded(panel, classifyBox, form, async () => {
        classifyResult.replaceChildren();
        const { data } = await api("POST", `/api/v1/classify-registry?${query}`, features);
        classifyResult.replaceChildren(el("div", { class: "cards" },
          predictionCard("Registry model", data),
          el("div", { class: "card" }, el("h4", { text: "Served by" }), renderValue(data.model_registry_info || {}))));
      });
    });
    return load;
  }

  // --------------------------------------------------------------------------- Health
  function setupHealth() {
    const panel = $("#health");
    const box = $("#health-error");
    const result = $("#health-result");

    async function load() {
      await guarded(panel, box, null, async () => {
        // 503 is an answer too: the body still lists every dependency.
        const { data } = await api("GET", "/health", undefined, { okStatuses: [503] });
        const deps = Object.entries(data.dependencies || {});
        const slowest = Math.max(1, ...deps.map(([, d]) => d.latency_ms || 0));
        const kind = data.status === "ok" ? "ok" : data.status === "degraded" ? "warn" : "bad";
        result.replaceChildren(
          el("p", { "data-testid": "health-status" }, "Service ", badge(String(data.status).toUpperCase(), kind),
            ` · version ${fmt(data.version)} · up ${fmt(data.uptime_seconds, 0)} s`,
            data.degraded && data.degraded.length ? ` · down: ${data.degraded.join(", ")}` : ""),
          el("div", { class: "table-wrap" }, el("table", { "data-testid": "health-table" },
            el("thead", {}, el("tr", {}, ["dependency", "state", "implementation", "detail", "probe latency"]
              .map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, deps.map(([name, d]) => el("tr", { "data-dependency": name },
              el("th", { scope: "row" }, name, d.required ? el("span", { class: "meta", text: " (required)" }) : null),
              el("td", {}, d.up ? badge("UP", "ok") : badge("DOWN", d.required ? "bad" : "warn")),
              el("td", { text: fmt(d.implementation) }),
              el("td", { text: fmt(d.detail) }),
              el("td", {}, bars([["", d.latency_ms || 0, `${fmt(d.latency_ms, 1)} ms`]], slowest))))))),
        );
      });
    }

    $("#health-refresh").addEventListener("click", load);
    return load;
  }

  // --------------------------------------------------------------------------- Router
  function setupRouter(onOpen) {
    const panels = [...document.querySelectorAll("main > .panel")];
    const links = [...document.querySelectorAll("#tabs a")];
    const opened = new Set();

    function show(fromUser) {
      const id = (location.hash || "#classify").slice(1);
      const panel = panels.find((p) => p.id === id) || panels[0];
      for (const p of panels) p.hidden = p !== panel;
      for (const link of links) {
        if (link.getAttribute("href") === `#${panel.id}`) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
      document.title = `${panel.querySelector("h2").textContent} · ai-backends-py console`;
      if (fromUser) panel.querySelector("h2").focus();
      // Panels that only show server state load it when first opened.
      if (onOpen[panel.id] && !opened.has(panel.id)) { opened.add(panel.id); onOpen[panel.id](); }
    }

    window.addEventListener("hashchange", () => show(true));
    show(false);
  }

  function setupApiKey() {
    const input = $("#api-key");
    input.value = sessionStorage.getItem(API_KEY_STORE) || "";
    input.addEventListener("change", () => {
      if (input.value.trim()) sessionStorage.setItem(API_KEY_STORE, input.value.trim());
      else sessionStorage.removeItem(API_KEY_STORE);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupApiKey();
    setupClassify();
    setupGenerate();
    setupChat();
    const refreshStats = setupSemantic();
    setupProtocols();
    setupMonitoring();
    const loadModels = setupRegistry();
    const loadHealth = setupHealth();
    setupRouter({ semantic: refreshStats, registry: loadModels, health: loadHealth });
    document.body.dataset.ready = "true";  // the end-to-end tests wait for this
  });
})();
