// How an upload's SHA-256 is computed. Native hashing (crypto.DigestStream) is several times
// faster than the resumable JavaScript SHA-256, but its state cannot be saved: it serves a
// request that sends the upload from its first byte, which is what docker, podman and skopeo do
// (one PATCH, or one PUT). A chunked client (Content-Range) gets the resumable hash from the
// start. Should a natively hashed upload receive more bytes after all, nothing is hashed any
// more and the assembled blob is re-read natively at the end.

import { toHex } from "../oci/digest";
import { ResumableSha256 } from "../oci/sha256-resumable";
import type { UploadSession } from "./upload-session";

export type UploadHashState = Pick<UploadSession, "sha256" | "wholeSha256">;

export class UploadHash {
  private readonly resumable: ResumableSha256 | undefined;
  private readonly native: { stream: DigestStream; writer: WritableStreamDefaultWriter<Uint8Array> } | undefined;
  private hashedAny = false;

  /** `preferNative`: this request may well be the whole upload. */
  constructor(
    private readonly session: UploadSession,
    preferNative: boolean,
  ) {
    if (session.offset === 0 && preferNative) {
      const stream = new crypto.DigestStream("SHA-256");
      stream.digest.catch(() => undefined); // an abandoned hash rejects; nobody waits for it then
      this.native = { stream, writer: stream.getWriter() };
    } else if (session.sha256) {
      this.resumable = new ResumableSha256(session.sha256);
    }
  }

  async update(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength === 0) return;
    this.hashedAny = true;
    if (this.native) await this.native.writer.write(chunk);
    else this.resumable?.update(chunk);
  }

  /** The state to keep in the session between requests. */
  async state(): Promise<UploadHashState> {
    if (!this.hashedAny) return { sha256: this.session.sha256, wholeSha256: this.session.wholeSha256 };
    if (this.native) return { wholeSha256: await this.hex() };
    if (this.resumable) return { sha256: this.resumable.save() };
    return {};
  }

  /** The SHA-256 (hex) of everything received, or undefined when the blob must be re-read to know it. */
  async digest(): Promise<string | undefined> {
    if (this.native) return this.hex();
    if (this.resumable) return this.resumable.digestHex();
    return this.hashedAny ? undefined : this.session.wholeSha256;
  }

  abandon(): void {
    this.native?.writer.abort().catch(() => undefined);
  }

  private hexValue: Promise<string> | undefined;

  private hex(): Promise<string> {
    const native = this.native!;
    this.hexValue ??= native.writer.close().then(async () => toHex(await native.stream.digest));
    return this.hexValue;
  }
}
