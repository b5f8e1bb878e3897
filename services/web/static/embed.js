// <script src="https://backstride.example/embed.js" data-key="pk_..."></script>
// Draws the clinic's intake form in an iframe where the script tag stands.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src).origin;
  var frame = document.createElement("iframe");
  frame.src = base + "/embed/form?key=" + encodeURIComponent(script.getAttribute("data-key") || "");
  frame.title = script.getAttribute("data-title") || "Back pain check";
  frame.style.cssText = "width:100%;min-height:640px;border:0;";
  frame.setAttribute("loading", "lazy");
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
