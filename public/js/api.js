// The JSON API (/api/v1). Errors carry the registry's own message.

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const first = body?.errors?.[0];
    throw new ApiError(response.status, first?.code ?? "", first?.message ?? `${response.status} ${response.statusText}`, first?.detail);
  }
  return body;
}

export const repoPath = (name) => name.split("/").map(encodeURIComponent).join("/");
