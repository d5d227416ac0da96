import { createRequire } from 'node:module';
import { FrameCounter, type Frame, type FrameSource, type SourceOptions } from './types.ts';

interface NodeWebcam {
  capture(location: string, cb: (err: Error | null, data: unknown) => void): void;
}

/**
 * `webcam[:DEVICE]` through node-webcam (fswebcam on Linux, imagesnap on macOS). Kept thin: it
 * cannot be tested without a camera; `command:fswebcam ...` is the tested equivalent.
 */
export class WebcamSource implements FrameSource {
  readonly name: string;
  private readonly counter: FrameCounter;
  private cam: NodeWebcam | null = null;
  private closed = false;
  constructor(private readonly device: string | undefined, private readonly opts: SourceOptions & { width?: number; height?: number } = {}) {
    this.name = device ? `webcam:${device}` : 'webcam';
    this.counter = new FrameCounter(this.name);
  }
  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    if (!this.cam) {
      const require = createRequire(import.meta.url);
      const NodeWebcam = require('node-webcam') as { create(opts: Record<string, unknown>): NodeWebcam };
      this.cam = NodeWebcam.create({
        width: this.opts.width ?? 640,
        height: this.opts.height ?? 480,
        quality: 90,
        frames: 1,
        delay: 0,
        saveShots: false,
        output: 'jpeg',
        device: this.device ?? false,
        callbackReturn: 'buffer',
        verbose: false,
      });
    }
    const cam = this.cam;
    const data = await new Promise<unknown>((resolve, reject) => {
      cam.capture('/tmp/edgeloom-webcam', (err, d) => (err ? reject(new Error(`webcam: ${err.message ?? String(err)} (is fswebcam installed?)`)) : resolve(d)));
    });
    if (!Buffer.isBuffer(data)) throw new Error('webcam: capture returned no image');
    return this.counter.frame(data);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
