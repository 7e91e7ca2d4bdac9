// Copy buttons: <button data-copy-target="element-id">. Kept in a static file so the
// Content-Security-Policy needs no inline script.
(function () {
  "use strict";
  function textOf(element) {
    return "value" in element && element.tagName !== "PRE" ? element.value : element.textContent;
  }
  function announce(message) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = message; }
  }
  function fallbackCopy(element) {
    if (element.select) {
      element.select();
    } else {
      var range = document.createRange();
      range.selectNodeContents(element);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return document.execCommand("copy");
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var element = document.getElementById(button.getAttribute("data-copy-target"));
    if (!element) { return; }
    var text = textOf(element);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { announce("Copied to the clipboard."); },
        function () { announce(fallbackCopy(element) ? "Copied to the clipboard." : "Select the text and copy it."); }
      );
    } else {
      announce(fallbackCopy(element) ? "Copied to the clipboard." : "Select the text and copy it.");
    }
  });
})();
