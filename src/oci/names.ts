import { OciError } from "../http/errors";

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function assertName(name: string): string {
  if (!isValidName(name)) throw new OciError("NAME_INVALID", `invalid repository name "${name}"`);
  return name;
}

export function assertTag(tag: string): string {
  if (!isValidTag(tag)) throw new OciError("TAG_INVALID", `invalid tag "${tag}"`, undefined, 400);
  return tag;
}
