// A grant as configuration spells it (AUTH_USERS, OIDC_TRUST, robot tokens): a repository
// glob and the actions it allows. One schema, so every source reads grants the same way.

import { z } from "zod";
import { ACTIONS } from "./identity";

export const GrantSchema = z
  .object({
    repositories: z.string().min(1, 'must be a repository pattern such as "org/app/**"'),
    actions: z.array(z.enum(ACTIONS)).min(1, `must list actions from ${ACTIONS.join(", ")}`),
  })
  .strict();
