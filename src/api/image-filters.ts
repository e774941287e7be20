// `docker image ls --filter` terms for images across repositories:
//   dangling=true|false          untagged, unreferenced manifests instead of tags
//   reference=<repo glob>[:<tag glob>]   e.g. team/*:v1*, **/app, nginx
//   before=<repo>:<tag> | <time>  tagged (or pushed) before that image / time
//   since=<repo>:<tag> | <time>   … after it
// Repository globs use the retention rules (`*` one segment, `**` any);
// tag globs the shell rules of ?pattern=. Times are ISO 8601. Pure.

import { OciError } from "../http/errors";
import { compileGlob, compileRepositoryGlob, globPrefix } from "./glob";

export type TimeBound = { kind: "time"; at: number } | { kind: "image"; repository: string; tag: string };

export interface ImageFilters {
  dangling: boolean;
  /** Matches a repository name. */
  repository: (name: string) => boolean;
  /** Catalog prefix every matching repository has (narrows the scan). */
  prefix: string;
  tag: (tag: string) => boolean;
  before?: TimeBound;
  since?: TimeBound;
}

function invalid(term: string, problem: string): OciError {
  return new OciError("UNSUPPORTED", `filter "${term}": ${problem}`, { filter: term }, 400);
}

export function parseImageFilters(terms: readonly string[]): ImageFilters {
  const filters: ImageFilters = { dangling: false, repository: () => true, prefix: "", tag: () => true };
  for (const term of terms) {
    const at = term.indexOf("=");
    if (at <= 0) throw invalid(term, "use key=value (dangling, reference, before, since)");
    const key = term.slice(0, at);
    const value = term.slice(at + 1);
    if (key === "dangling") {
      if (!["true", "false", "1", "0"].includes(value)) throw invalid(term, "dangling is true or false");
      filters.dangling = value === "true" || value === "1";
    } else if (key === "reference") {
      if (value === "") throw invalid(term, "reference needs a pattern");
      const colon = value.lastIndexOf(":");
      const split = colon > value.lastIndexOf("/");
      const repositoryGlob = split ? value.slice(0, colon) : value;
      filters.repository = compileRepositoryGlob(repositoryGlob);
      filters.prefix = globPrefix(repositoryGlob);
      if (split) filters.tag = compileGlob(value.slice(colon + 1));
    } else if (key === "before" || key === "since") {
      filters[key] = timeBound(term, value);
    } else {
      throw invalid(term, `unknown filter "${key}" (dangling, reference, before, since)`);
    }
  }
  return filters;
}

function timeBound(term: string, value: string): TimeBound {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) throw invalid(term, `"${value}" is not an ISO 8601 time`);
    return { kind: "time", at };
  }
  const colon = value.lastIndexOf(":");
  if (colon <= value.lastIndexOf("/") || colon === value.length - 1) throw invalid(term, "name an image as <repository>:<tag> or give an ISO 8601 time");
  return { kind: "image", repository: value.slice(0, colon), tag: value.slice(colon + 1) };
}
