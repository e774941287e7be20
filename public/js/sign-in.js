// The header's sign-in: user name and password (or a robot token as the
// password) exchanged at the registry's token realm; see api.js.
import { session, signIn, signOut } from "./api.js";
import { el } from "./dom.js";

export async function mountSignIn(container, onChange) {
  // A registry that answers /v2/ without credentials (open mode) has nothing to sign in to.
  const open = await fetch("/v2/").then((response) => response.ok, () => false);
  if (open && !session()) return;
  const render = () => {
    const current = session();
    if (current) {
      container.replaceChildren(el("span", { class: "muted" }, "Signed in as ", el("strong", {}, current.user)), " ",
        el("button", { type: "button", class: "link", onclick: () => { signOut(); render(); onChange(); } }, "Sign out"));
      return;
    }
    const status = el("span", { class: "error", role: "status" });
    const user = el("input", { id: "signin-user", name: "username", autocomplete: "username", required: true });
    const password = el("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const form = el("form", { class: "signin", hidden: true, onsubmit: async (event) => {
      event.preventDefault();
      status.textContent = "";
      try {
        if (!(await signIn(user.value.trim(), password.value))) status.textContent = "This registry needs no sign-in.";
        else { render(); onChange(); }
      } catch (error) {
        status.textContent = error.message;
      }
    } }, el("label", { for: "signin-user" }, "User"), user, el("label", { for: "signin-password" }, "Password or token"), password,
    el("button", { type: "submit" }, "Sign in"), status);
    const toggle = el("button", { type: "button", class: "link", "aria-expanded": "false", onclick: () => {
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) user.focus();
    } }, "Sign in");
    container.replaceChildren(toggle, form);
  };
  render();
}
