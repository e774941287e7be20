// The one place that decides which Repository implementation serves a name.

import { assertName } from "../oci/names";
import { HostedRepository } from "./hosted-repository";
import type { Repository } from "./repository";

export function openRepository(env: Env, name: string): Repository {
  return new HostedRepository(env, assertName(name));
}
