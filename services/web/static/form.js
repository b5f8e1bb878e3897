// The embedded intake form: steps, conditional questions, sending, errors, advice.
// No framework and no build step; the page works as one long form without it.
(function () {
  "use strict";
  var app = document.getElementById("app");
  var form = document.getElementById("intake");
  var steps = Array.prototype.slice.call(form.querySelectorAll(".step"));
  var errors = document.getElementById("errors");
  var current = 0;

  function show(index) {
    current = index;
    steps.forEach(function (step, i) { step.hidden = i !== index; });
    document.getElementById("progress").textContent = "Step " + (index + 1) + " of " + steps.length;
    var heading = steps[index].querySelector("h2");
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  // Follow-up questions, shown after an answer elsewhere ("yes", or pain spreading into a leg).
  function toggleConditional() {
    form.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var values = field.getAttribute("data-shown-values").split(" ");
      var name = field.getAttribute("data-shown-when").replace(/-/g, ".");
      var chosen = form.querySelector('input[name="' + name + '"]:checked');
      field.hidden = !(chosen && values.indexOf(chosen.value) !== -1);
    });
  }
  // An answer that by itself means emergency care (the server marks which, from its rules):
  // warn at once, in place, before anything is sent.
  function earlyAlert() {
    var urgent = Array.prototype.some.call(form.querySelectorAll("[data-emergency-if]"), function (field) {
      if (field.hidden) return false;
      var chosen = field.querySelector("input:checked");
      return chosen !== null && chosen.value === field.getAttribute("data-emergency-if");
    });
    form.querySelectorAll(".early-alert").forEach(function (box) { box.hidden = !urgent; });
  }
  form.addEventListener("change", function () { toggleConditional(); earlyAlert(); });

  function fieldsOf(step) { return step.querySelectorAll(".field:not([hidden])"); }

  function stepValid(step) {
    var ok = true;
    clearErrors(step);
    fieldsOf(step).forEach(function (field) {
      field.querySelectorAll("input, textarea").forEach(function (input) {
        if (!input.checkValidity()) {
          setError(field.id.replace(/-field$/, ""), input.validationMessage || "Please answer this question.");
          ok = false;
        }
      });
    });
    return ok;
  }

  function clearErrors(scope) {
    (scope || form).querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
    (scope || form).querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    errors.textContent = "";
  }

  function setError(id, message) {
    var target = document.getElementById(id + "-error");
    if (!target) return false;
    target.textContent = message;
    var field = document.getElementById(id + "-field");
    field.querySelectorAll("input, textarea").forEach(function (el) { el.setAttribute("aria-invalid", "true"); });
    return true;
  }

  form.addEventListener("click", function (event) {
    if (event.target.classList.contains("next")) {
      if (stepValid(steps[current])) { show(current + 1); }
      else { errors.textContent = "Please check the highlighted answers."; }
    }
    if (event.target.classList.contains("back")) { show(current - 1); }
  });

  function body() {
    var result = {};
    function put(name, value) {
      var parts = name.split("."), target = result;
      for (var i = 0; i < parts.length - 1; i++) { target = target[parts[i]] = target[parts[i]] || {}; }
      target[parts[parts.length - 1]] = value;
    }
    form.querySelectorAll(".field").forEach(function (field) {
      if (field.hidden) return;
      var inputs = field.querySelectorAll("input, textarea");
      var kind = inputs[0].getAttribute("data-kind"), name = inputs[0].name;
      if (kind === "list") {
        put(name, Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; }));
      } else if (kind === "boolean" || kind === "choice") {
        var chosen = Array.prototype.find.call(inputs, function (i) { return i.checked; });
        if (chosen) put(name, kind === "boolean" ? chosen.value === "true" : chosen.value);
      } else if (inputs[0].value.trim() !== "") {
        var raw = inputs[0].value.trim();
        put(name, kind === "integer" ? parseInt(raw, 10) : kind === "decimal" ? parseFloat(raw) : raw);
      }
    });
    return result;
  }

  // Sending failed: safety advice written into the page when it loaded, so it needs nothing
  // from the server now; the same Idempotency-Key makes a retry create one intake.
  function sendFailed(why, ageRefused, focus) {
    document.getElementById("send-failed-why").textContent = why;
    document.getElementById("age-help").hidden = !ageRefused;
    var box = document.getElementById("send-failed");
    box.hidden = false;
    if (focus) { box.scrollIntoView(); box.focus(); }  // 422s focus the first answer to fix instead
  }

  function showServerErrors(problem) {
    var first = null;
    (problem.errors || []).forEach(function (e) {
      var id = e.loc.slice(1).join("-");
      while (id && !document.getElementById(id + "-error")) { id = id.split("-").slice(0, -1).join("-"); }
      if (id && setError(id, e.msg) && first === null) { first = id; }
    });
    errors.textContent = "Some answers need another look." + (first ? "" : " " + (problem.detail || ""));
    if (first) {
      var step = document.getElementById(first + "-field").closest(".step");
      show(Number(step.getAttribute("data-step")));
      var input = document.getElementById(first + "-field").querySelector("input, textarea");
      if (input) input.focus();
    }
  }

  function showAdvice(triage) {
    form.hidden = true;
    var result = document.getElementById("result");
    var advice = triage.advice.slice();
    if (triage.urgency === "emergency") {
      var box = document.getElementById("emergency");
      box.textContent = advice.shift();
      box.hidden = false;
    }
    var list = document.getElementById("advice");
    advice.forEach(function (text) { var li = document.createElement("li"); li.textContent = text; list.appendChild(li); });
    document.getElementById("disclaimer").textContent = triage.disclaimer;
    result.hidden = false;
    result.focus();
  }

  var sending = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending || !stepValid(steps[current])) return;
    sending = true;
    var button = document.getElementById("submit");
    button.disabled = true;
    button.textContent = "Sending…";
    fetch("/v1/intakes", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + app.getAttribute("data-key"),
        // The same key for every try of this form: a double click or a retry creates one intake.
        "Idempotency-Key": app.getAttribute("data-idempotency-key")
      },
      body: JSON.stringify(body())
    }).then(function (response) {
      // A gateway's 502/503 may not be JSON: the status is what matters then.
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    }).then(function (answer) {
      if (answer.status === 201) {
        document.getElementById("send-failed").hidden = true;
        var urgency = answer.data.referral.urgency;
        showAdvice(answer.data.referral.triage);
        // Only the type and the urgency go to the page around the form: no clinical details.
        if (window.parent !== window) {
          // To the embedding page's origin when the browser tells it (it is one the clinic allowed).
          var target = document.referrer ? new URL(document.referrer).origin : "*";
          window.parent.postMessage({ type: "backstride:submitted", urgency: urgency }, target);
        }
      } else if (answer.status === 422) {
        showServerErrors(answer.data);
        var ageRefused = (answer.data.errors || []).some(function (e) { return e.loc.join(".") === "body.patient.birth_date"; });
        sendFailed("Some answers need another look (they are marked).", ageRefused, false);
      } else {
        sendFailed("The clinic's system did not accept them just now (error " + answer.status + ").", false, true);
      }
    }).catch(function () {
      errors.textContent = "Your answers could not be sent. Please check your connection and try again.";
      sendFailed("There was no connection to the clinic's system.", false, true);
    }).then(function () {
      sending = false;
      button.disabled = false;
      button.textContent = "Send";
    });
  });

  toggleConditional();
  show(0);
  form.querySelectorAll(".next, .back").forEach(function (button) { button.hidden = false; });
})();
