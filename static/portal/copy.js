// Copy buttons: <button data-copy-target="element-id"> copies that element's text;
// <button data-copy-link="/path/" hidden> copies the whole address of a link (shown only
// where this script runs). Kept in a static file so the Content-Security-Policy needs no
// inline script.
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
  function copy(text, element, done) {
    var copied = done || "Copied to the clipboard.";
    function byHand() {
      announce(fallbackCopy(element) ? copied : "Select the text and copy it.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { announce(copied); }, byHand);
    } else {
      byHand();
    }
  }
  document.querySelectorAll("[data-copy-link]").forEach(function (button) {
    button.hidden = false;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target], [data-copy-link]");
    if (!button) { return; }
    if (button.hasAttribute("data-copy-link")) {
      // A link's address has no element to select: a hidden one holds it meanwhile.
      var holder = document.createElement("textarea");
      holder.className = "visually-hidden";
      holder.value = new URL(button.getAttribute("data-copy-link"), window.location.href).href;
      document.body.appendChild(holder);
      copy(holder.value, holder, "Copied the link to this role.");
      // Said where the eye is, too: the status line may be far below.
      var label = button.firstChild.textContent;
      button.firstChild.textContent = "Link copied";
      setTimeout(function () { holder.remove(); button.firstChild.textContent = label; }, 2000);
      return;
    }
    var element = document.getElementById(button.getAttribute("data-copy-target"));
    if (element) { copy(textOf(element), element); }
  });
})();
