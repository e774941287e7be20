// Takes exactly-sized pieces out of a stream of buffers of any size: a chunked upload sends the
// next n bytes of a blob as one PATCH body without holding more than one buffer of it.

export class ByteReader {
  /** @param {AsyncIterable<Buffer|Uint8Array>} source */
  constructor(source) {
    this.iterator = source[Symbol.asyncIterator]();
    this.pending = null;
    this.source = source;
  }

  /**
   * Calls `sink(buffer)` (awaited) with the next `length` bytes, in pieces; throws if the stream
   * ends first.
   */
  async take(length, sink) {
    let left = length;
    while (left > 0) {
      let piece = this.pending;
      this.pending = null;
      if (!piece) {
        const next = await this.iterator.next();
        if (next.done) throw new Error(`the source ended ${left} bytes early`);
        piece = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        if (piece.length === 0) continue;
      }
      if (piece.length > left) {
        this.pending = piece.subarray(left);
        piece = piece.subarray(0, left);
      }
      left -= piece.length;
      await sink(piece);
    }
  }

  /** Stops reading (closes the underlying file or response). */
  async close() {
    this.pending = null;
    try {
      await this.iterator.return?.();
    } catch {
      // already broken
    }
    this.source.destroy?.();
  }
}
