// The lesson page's only script: filters for the case list, and opening
// the case a link points to. With scripting off the filters stay hidden
// and every case is listed.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) return;
  var byClass = document.getElementById("f-class");
  var byCons = document.getElementById("f-cons");
  var byServer = document.getElementById("f-server");
  var count = document.getElementById("f-count");
  var cases = Array.prototype.slice.call(document.querySelectorAll("details.case"));
  var themes = Array.prototype.slice.call(document.querySelectorAll("section.theme"));
  form.hidden = false;

  // A case is shown when its class matches and, on the chosen server (or
  // on any), its consequence does.
  function shown(details) {
    if (byClass.value && details.dataset.class !== byClass.value) return false;
    if (!byCons.value) return true;
    var all = details.dataset.cons.split(" ");
    var picked = byServer.value === "" ? all : [all[Number(byServer.value)]];
    return picked.some(function (c) {
      return byCons.value === "bad" ? c !== "ok" : c === byCons.value;
    });
  }

  function apply() {
    var n = 0;
    cases.forEach(function (d) {
      var show = shown(d);
      d.classList.toggle("out", !show);
      if (show) n++;
    });
    themes.forEach(function (t) {
      t.classList.toggle("out", !t.querySelector("details.case:not(.out)"));
    });
    count.textContent = n + " of " + cases.length + " cases shown";
  }

  [byClass, byCons, byServer].forEach(function (s) {
    s.addEventListener("change", apply);
  });
  form.addEventListener("reset", function () {
    setTimeout(apply, 0);
  });

  // A matrix cell filters the list to its class, server and consequence.
  document.querySelectorAll("a[data-filter-class]").forEach(function (a) {
    a.addEventListener("click", function (event) {
      event.preventDefault();
      byClass.value = a.dataset.filterClass;
      byServer.value = a.dataset.filterServer;
      byCons.value = a.dataset.filterCons;
      apply();
      document.getElementById("cases").scrollIntoView();
    });
  });

  // A link to a case opens it, showing every case again if it was filtered out.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target || !target.classList.contains("case")) return;
    if (target.classList.contains("out")) {
      form.reset();
      byClass.value = byCons.value = byServer.value = "";
      apply();
    }
    target.open = true;
    target.scrollIntoView();
  }
  window.addEventListener("hashchange", openTarget);

  // On paper every case is open; the ones opened only for printing close after.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = cases.filter(function (d) { return !d.open; });
    opened.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });

  apply();
  openTarget();
})();
