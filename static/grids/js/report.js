/* The resident report form: live compound search, a photo size check, no double submit.
   Without JavaScript the page still works: the search form reloads the page with the matches. */
(function () {
  "use strict";
  var search = document.getElementById("compound-search");
  var form = document.getElementById("report-form");
  var list = document.getElementById("compound-results");
  if (!search || !form || !list) { return; }
  var input = search.querySelector("input[name=q]");
  var timer = null;
  var latest = 0;

  function chosen() {
    var radio = list.querySelector("input[name=compound]:checked");
    return radio ? radio.closest("label") : null;
  }

  function hint(text) {
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    return p;
  }

  function option(item) {
    var label = document.createElement("label");
    label.className = "choice";
    var radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "compound";
    radio.value = String(item.id);
    radio.required = true;
    var text = document.createElement("span");
    var name = document.createElement("strong");
    name.textContent = item.name;
    text.appendChild(name);
    if (item.community) {
      var community = document.createElement("small");
      community.textContent = item.community;
      text.appendChild(community);
    }
    label.appendChild(radio);
    label.appendChild(text);
    return label;
  }

  function render(results) {
    // The compound already picked stays at the top while the resident searches again.
    var keep = chosen();
    var keptId = keep ? keep.querySelector("input").value : null;
    list.textContent = "";
    if (keep) { list.appendChild(keep); }
    results.forEach(function (item) {
      if (String(item.id) !== keptId) { list.appendChild(option(item)); }
    });
    if (!results.length && !keep) { list.appendChild(hint(search.dataset.empty)); }
  }

  function run() {
    var query = input.value.trim();
    if (!query) { return; }
    var ticket = ++latest;
    var url = search.dataset.endpoint + "?q=" + encodeURIComponent(query);
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (data) { if (ticket === latest) { render(data.results || []); } })
      .catch(function () {
        if (ticket !== latest) { return; }
        var keep = chosen();
        list.textContent = "";
        if (keep) { list.appendChild(keep); }
        list.appendChild(hint(search.dataset.failed));
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  search.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    run();
  });

  var photo = form.querySelector("input[type=file][name=photo]");
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  if (photo && maxBytes) {
    photo.addEventListener("change", function () {
      var file = photo.files && photo.files[0];
      photo.setCustomValidity(file && file.size > maxBytes ? form.dataset.tooBig : "");
      photo.reportValidity();
    });
  }

  form.addEventListener("submit", function () {
    var button = form.querySelector("button[type=submit]");
    // After the browser's own checks passed: block a second tap while the photo uploads.
    setTimeout(function () { if (button) { button.disabled = true; } }, 0);
  });
  // Coming back with the Back button restores the page as it was: let it be sent again.
  window.addEventListener("pageshow", function () {
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = false; }
  });
})();
