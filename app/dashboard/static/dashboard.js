// Threadline dashboard: local times, and live updates of a conversation page (Server-Sent
// Events). Everything works without this script; it only makes pages current and local.
"use strict";

(function () {
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.title = el.getAttribute("datetime");
      el.textContent = timeFormat.format(when);
    });
  }

  function live(transcript) {
    var url = transcript.getAttribute("data-events");
    var after = transcript.getAttribute("data-after") || "0";
    var box = document.getElementById("live");
    var text = box.querySelector(".text");
    var steps = box.querySelector(".steps");
    var state = document.getElementById("state");
    var slot = state ? state.querySelector(".running-slot") : null;
    var source = new EventSource(url + "?after=" + encodeURIComponent(after));

    function data(event) {
      try { return JSON.parse(event.data); } catch (e) { return {}; }
    }
    function clearLive() {
      text.textContent = "";
      steps.textContent = "";
      box.hidden = true;
    }
    source.addEventListener("entries", function (event) {
      var template = document.createElement("template");
      template.innerHTML = data(event).html || "";
      localTimes(template.content);
      transcript.appendChild(template.content);
      var empty = transcript.parentNode.querySelector(".empty");
      if (empty) empty.remove();
      clearLive();
    });
    source.addEventListener("start", function () {
      clearLive();
      box.hidden = false;
    });
    source.addEventListener("delta", function (event) {
      box.hidden = false;
      text.textContent += data(event).text || "";
    });
    source.addEventListener("tool", function (event) {
      var d = data(event);
      box.hidden = false;
      steps.textContent = (d.state === "started" ? "Using " : d.state === "failed" ? "Failed: " : "Used ") + (d.name || "a tool");
    });
    source.addEventListener("note", function (event) {
      box.hidden = false;
      steps.textContent = data(event).text || "";
    });
    source.addEventListener("done", function (event) {
      var note = data(event).note;
      if (note) steps.textContent = note;
    });
    source.addEventListener("status", function (event) {
      var running = !!data(event).running;
      if (state) state.setAttribute("data-running", running ? "true" : "false");
      if (slot) {
        slot.innerHTML = running
          ? '<span class="running" title="A turn is running now"><span class="dot" aria-hidden="true"></span>answering now</span>'
          : "";
      }
      var hint = document.getElementById("running-hint");
      if (hint && !running) hint.remove();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var transcript = document.getElementById("transcript");
    if (transcript && window.EventSource) live(transcript);
  });
})();
