// Replicast's pages: a slider beside each bounded number field, and a prediction page
// that follows the prediction's event stream (urls.stream) without reloading, and its
// place in the queue while it waits to start.
// Plain JavaScript, no build step; the pages load it with `defer`.
"use strict";

(function () {
  const TERMINAL = ["succeeded", "failed", "canceled", "aborted"];
  const IMAGE = /\.(png|jpe?g|webp|gif)$/i;
  const QUEUE_POLL_MS = 2000;

  // Sliders are hidden until this script runs: without it the number field does the work.
  function sliders() {
    document.querySelectorAll("input[type=range][data-for]").forEach(function (slider) {
      const number = document.getElementById(slider.dataset.for);
      if (!number) return;
      if (number.value !== "") slider.value = number.value;
      slider.hidden = false;
      slider.addEventListener("input", function () { number.value = slider.value; });
      number.addEventListener("input", function () {
        if (number.value !== "") slider.value = number.value;
      });
    });
  }

  function when(value) {
    return value ? value.slice(0, 19).replace("T", " ") + " UTC" : "—";
  }

  function ordinal(n) {
    const suffix = n % 100 >= 10 && n % 100 <= 20 ? "th"
      : ({ 1: "st", 2: "nd", 3: "rd" })[n % 10] || "th";
    return n + suffix;
  }

  // A prediction's `queue` in words, as predictions/queue.py `describe` words it.
  function queueWords(queue) {
    if (!queue || typeof queue.position !== "number") return null;
    const where = queue.position <= 1 ? "Next in the queue"
      : ordinal(queue.position) + " in the queue";
    const start = queue.estimated_start ? Date.parse(queue.estimated_start) : NaN;
    if (isNaN(start)) return where;
    const seconds = (start - Date.now()) / 1000;
    if (seconds < 1) return where + ", starting soon";
    if (seconds < 90) return where + ", starting in about " + Math.round(seconds) + " s";
    return where + ", starting in about " + Math.round(seconds / 60) + " min";
  }

  function follow(article) {
    const byId = function (id) { return document.getElementById(id); };
    const status = byId("status");
    const logs = byId("logs");
    const output = byId("output");
    const error = byId("error");
    const cancel = byId("cancel");
    const queue = byId("queue");
    const queuePlace = byId("queue-place");
    const base = article.dataset.base;
    const root = article.dataset.root;
    let current = article.dataset.status;
    let text = null;      // the <pre> that text output goes into
    let images = 0;
    let askedRunning = false;
    let source = null;

    function setStatus(value) {
      if (value === current) return;
      current = value;
      article.dataset.status = value;
      status.textContent = value;
      status.className = "badge status-" + value;
      if (value !== "starting") queuePlace.hidden = true;
      if (TERMINAL.includes(value)) cancel.hidden = true;
    }

    function showQueue(body) {
      const words = body.status === "starting" ? queueWords(body.queue) : null;
      queue.textContent = words || "";
      queuePlace.hidden = words === null;
    }

    // Output files of this server are shown through same-origin paths, as the page's
    // Content-Security-Policy wants; the signature in the path still applies.
    function local(url) {
      const prefix = base + "/outputs/";
      return url.startsWith(prefix) ? root + url.slice(base.length) : null;
    }

    function placeholder(message) {
      output.replaceChildren();
      text = null;
      images = 0;
      const p = document.createElement("p");
      p.id = "no-output";
      p.className = "muted";
      p.textContent = message;
      output.append(p);
    }

    function link(href, label) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = label;
      return a;
    }

    function addItem(value) {
      const empty = byId("no-output");
      if (empty) empty.remove();
      const path = typeof value === "string" ? local(value) : null;
      if (path !== null) {
        const raw = path.split("?")[0].split("/").pop();
        let name = raw;
        try {
          name = decodeURIComponent(raw);
        } catch (error) {
          // A malformed escape in an output's name: show it as it is.
        }
        const figure = document.createElement("figure");
        figure.className = "output-item";
        if (IMAGE.test(name)) {
          images += 1;
          const img = document.createElement("img");
          img.src = path;
          img.alt = "Output image " + images + ": " + name;
          const a = link(path, "");
          a.append(img);
          figure.append(a);
        }
        const caption = document.createElement("figcaption");
        const download = link(path, "Download " + name);
        download.download = name;
        caption.append(download);
        figure.append(caption);
        output.append(figure);
        text = null;
        return;
      }
      if (typeof value === "string" && /^https?:\/\/\S+$/.test(value.trim())) {
        const p = document.createElement("p");
        p.className = "output-link";
        const a = link(value, value);
        a.rel = "noopener noreferrer";
        p.append(a);
        output.append(p);
        text = null;
        return;
      }
      if (!text) {
        text = document.createElement("pre");
        text.className = "text-output";
        output.append(text);
      }
      text.textContent += typeof value === "string" ? value : JSON.stringify(value, null, 2) + "\n";
    }

    function appendLogs(piece) {
      const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.textContent += piece;
      if (atEnd) logs.scrollTop = logs.scrollHeight;
    }

    // `final` renders everything from the stored prediction; otherwise only the status
    // and start time change (the stream is ahead of the store on logs and output).
    function apply(body, final) {
      byId("started-at").textContent = when(body.started_at);
      if (!final) {
        if (!TERMINAL.includes(body.status)) setStatus(body.status);
        if (current === "starting") showQueue(body);
        return;
      }
      const items = Array.isArray(body.output) ? body.output
        : body.output === null || body.output === undefined ? [] : [body.output];
      placeholder(body.data_removed ? "The output was removed." : "No output.");
      items.forEach(addItem);
      logs.textContent = body.logs || "";
      error.textContent = body.error || "";
      error.hidden = !body.error;
      byId("completed-at").textContent = when(body.completed_at);
      const seconds = body.metrics && body.metrics.predict_time;
      byId("predict-time").textContent =
        typeof seconds === "number" ? seconds.toFixed(2) + " s" : "—";
      setStatus(body.status);
    }

    function refresh(final) {
      return fetch(article.dataset.json, {
        headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
      }).then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      }).then(function (body) {
        apply(body, final && TERMINAL.includes(body.status));
        return body;
      });
    }

    // Once the stream has ended for good without `done`: ask now and then instead.
    function poll() {
      refresh(true).then(function (body) {
        if (!TERMINAL.includes(body.status)) setTimeout(poll, 2000);
      }, function () { setTimeout(poll, 5000); });
    }

    function finish(attempt) {
      refresh(true).catch(function () {
        if (attempt < 5) setTimeout(function () { finish(attempt + 1); }, 1000);
      });
    }

    // The stream says nothing of the queue: while the prediction waits, ask now and then
    // (which also notices it begin before its first logs).
    function watchQueue() {
      if (current !== "starting") return;
      refresh(false).then(function () {
        setTimeout(watchQueue, QUEUE_POLL_MS);
      }, function () { setTimeout(watchQueue, 5000); });
    }

    // The stream says nothing of `processing`: its first logs or output mean it began.
    function running() {
      if (current !== "starting" || askedRunning) return;
      askedRunning = true;
      refresh(false).catch(function () { askedRunning = false; });
    }

    function listen() {
      let first = true;
      source = new EventSource(article.dataset.stream);
      source.addEventListener("open", function () {
        // A new stream replays everything from the start; reconnections resume.
        if (!first) return;
        first = false;
        placeholder("No output yet.");
        logs.textContent = "";
      });
      source.addEventListener("logs", function (event) {
        appendLogs(event.data);
        running();
      });
      source.addEventListener("output", function (event) {
        addItem(event.data);
        running();
      });
      source.addEventListener("error", function (event) {
        if (event.data) {
          let detail = event.data;
          try { detail = JSON.parse(event.data).detail || detail; } catch (e) { /* text */ }
          error.textContent = detail;
          error.hidden = false;
        } else if (source.readyState === EventSource.CLOSED) {
          source = null;
          poll();
        }
      });
      source.addEventListener("done", function () {
        source.close();
        source = null;
        finish(0);
      });
    }

    cancel.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = cancel.querySelector("button");
      button.disabled = true;
      fetch(cancel.action, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(cancel)),
      }).then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      }).then(function (body) {
        apply(body, TERMINAL.includes(body.status));
      }).catch(function () {
        cancel.submit();  // let the page post it the plain way
      }).finally(function () {
        button.disabled = false;
      });
    });

    if (!TERMINAL.includes(current) && window.EventSource) listen();
    if (current === "starting") setTimeout(watchQueue, QUEUE_POLL_MS);
  }

  sliders();
  const article = document.querySelector("[data-prediction]");
  if (article) follow(article);
})();
