// "Find a role" as you type: hides the roles whose words do not hold every word typed, and
// the accounts and tenants left empty. Without JavaScript the form filters on the server.
const input = document.getElementById("role-filter");
if (input) {
  const roles = [...document.querySelectorAll("li.role[data-search]")];
  const count = document.getElementById("find-count");
  const none = document.getElementById("no-match");
  const apply = () => {
    const terms = input.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const role of roles) {
      const match = terms.every((term) => role.dataset.search.includes(term));
      role.hidden = !match;
      if (match) shown += 1;
    }
    for (const box of document.querySelectorAll(".account, section.tenant")) {
      box.hidden = !box.querySelector("li.role:not([hidden])");
    }
    count.textContent = terms.length ? `${shown} of ${roles.length} roles` : "";
    if (none) none.hidden = shown > 0 || !terms.length;
  };
  input.addEventListener("input", apply);
}
