// Berth's web UI: a read-only view over the JSON API (/api/v1). Plain ES
// modules, no build step. Routes live in the hash so deep links survive a
// reload behind the Worker's static assets:
//   #/[?q=<filter>]        repositories, filter, resolve, upstream caches
//   #/repo/<name>          a repository: tags, untagged manifests, tag history
//   #/image/<name>:<tag>   an image (also <name>@<digest>)
import { ApiError } from "./api.js";
import { el, failure } from "./dom.js";
import { home } from "./home.js";
import { image } from "./image.js";
import { repository } from "./repository.js";
import { mountSignIn } from "./sign-in.js";

const view = document.getElementById("view");

function notFound(message) {
  document.title = "Not found · Berth";
  view.replaceChildren(el("h1", {}, "Not found"), el("p", { role: "alert" }, message), el("p", {}, el("a", { href: "#/" }, "← Back to all repositories")));
}

async function route() {
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  const [path, query = ""] = hash.split("?");
  view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    if (path === "/" || path === "") {
      document.title = "Berth";
      await home(view, new URLSearchParams(query).get("q") ?? "");
    } else if (path.startsWith("/repo/")) {
      document.title = `${path.slice(6)} · Berth`;
      await repository(view, path.slice(6));
    } else if (path.startsWith("/image/")) {
      document.title = `${path.slice(7)} · Berth`;
      await image(view, path.slice(7));
    } else {
      notFound(`There is no page at ${hash}.`);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) notFound(error.message);
    else view.replaceChildren(el("h1", {}, "Something went wrong"), failure(error), el("p", {}, el("a", { href: "#/" }, "← Back to all repositories")));
  }
  if (document.activeElement === document.body) view.focus({ preventScroll: true });
}

addEventListener("hashchange", route);
mountSignIn(document.getElementById("account"), route);
route();
