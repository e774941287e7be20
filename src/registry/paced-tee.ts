// ReadableStream.tee() queues without limit for the slower branch, so a
// cache fill feeding a fast client and a slower R2 write (or the reverse)
// would buffer the blob in memory. This tee reads the source only when every
// live branch has room, so memory stays at a few chunks. A branch that is
// cancelled (the client went away) stops counting; the other carries on.

interface Branch {
  controller?: ReadableStreamDefaultController<Uint8Array>;
  cancelled: boolean;
  waiting?: () => void;
}

export function pacedTee(source: ReadableStream<Uint8Array>): [ReadableStream<Uint8Array>, ReadableStream<Uint8Array>] {
  const reader = source.getReader();
  const branches: Branch[] = [{ cancelled: false }, { cancelled: false }];
  let reading = false;
  let finished = false;

  const live = () => branches.filter((b) => !b.cancelled);
  const wake = () => {
    for (const branch of branches) {
      const resolve = branch.waiting;
      branch.waiting = undefined;
      resolve?.();
    }
  };

  const pump = async (): Promise<void> => {
    while (!reading && !finished) {
      const open = live();
      if (open.length === 0) {
        finished = true;
        await reader.cancel().catch(() => undefined);
        return;
      }
      if (open.some((b) => (b.controller?.desiredSize ?? 0) <= 0)) return;
      reading = true;
      try {
        const { done, value } = await reader.read();
        if (done) {
          finished = true;
          for (const b of live()) b.controller?.close();
        } else {
          for (const b of live()) b.controller?.enqueue(value);
        }
      } catch (error) {
        finished = true;
        for (const b of live()) b.controller?.error(error);
      } finally {
        reading = false;
        wake();
      }
    }
  };

  const make = (branch: Branch) =>
    new ReadableStream<Uint8Array>(
      {
        start(controller) {
          branch.controller = controller;
        },
        pull() {
          if (finished) return;
          const wait = new Promise<void>((resolve) => {
            branch.waiting = resolve;
          });
          void pump();
          return wait;
        },
        cancel() {
          branch.cancelled = true;
          branch.waiting?.();
          void pump();
        },
      },
      { highWaterMark: 2 },
    );

  return [make(branches[0]!), make(branches[1]!)];
}
