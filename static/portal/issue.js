// A session form sends once: its buttons wait after the first click (the server also
// refuses the same form twice). Coming back to the page (back button) enables them again.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.classList.contains("issue")) return;
  // After this tick, so the clicked button still chooses the form's action.
  setTimeout(() => form.querySelectorAll("button").forEach((button) => (button.disabled = true)));
});
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form.issue button").forEach((button) => (button.disabled = false));
});
