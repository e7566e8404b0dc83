/* Busy Lamp Field tab: follow the monitored colleagues' lamps live (Server-Sent Events from
   /portal/blf/events, see webui/lamp_stream.py). Each lamp is a word and a colour; the labels come
   translated in the list's data-label-* attributes. No inline script: the portal's CSP forbids it. */
"use strict";
(function () {
  var list = document.getElementById("blf-selected");
  if (!list || !list.dataset.events || typeof window.EventSource !== "function") {
    return;
  }
  var LAMPS = ["idle", "ringing", "talking", "dialling", "held", "hidden"];
  var lost = document.getElementById("blf-lost");

  function label(lamp) {
    return list.getAttribute("data-label-" + lamp) || lamp;
  }

  function show(user, lamp) {
    var element = document.getElementById("lamp-" + user);
    if (!element || LAMPS.indexOf(lamp) < 0 || element.getAttribute("data-lamp") === lamp) {
      return;
    }
    element.setAttribute("data-lamp", lamp);
    element.querySelector(".lamp-text").textContent = label(lamp);
  }

  var source = new EventSource(list.dataset.events);
  source.addEventListener("lamp", function (event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (data && typeof data.user === "string" && typeof data.lamp === "string") {
      show(data.user, data.lamp);
    }
  });
  source.addEventListener("open", function () {
    if (lost) {
      lost.hidden = true;
    }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED && lost) {  /* refused (logged out): no more retries */
      lost.hidden = false;
    }
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
