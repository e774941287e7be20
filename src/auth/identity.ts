// Who a request comes from and what it may do. Shared by the token endpoint,
// the request gate, users from configuration, robot tokens and GitHub Actions
// OIDC trust rules: each of them turns credentials into an Identity.

export const ACTIONS = ["pull", "push", "delete", "admin"] as const;
export type Action = (typeof ACTIONS)[number];

/** Actions on the repositories whose names match a glob (src/registry/glob.ts: `*` one segment, `**` any). */
export interface Grant {
  repositories: string;
  actions: Action[];
}

export interface Identity {
  kind: "anonymous" | "user" | "robot" | "workflow";
  /**
   * Shown in tag history and logs: the user's name, `robot:<token name>`, or for a GitHub
   * workflow `github:<repository>@<ref>`. Never a secret.
   */
  name: string;
  grants: Grant[];
}
