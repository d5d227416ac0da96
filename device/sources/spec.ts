import { UserError } from '../../src/errors.ts';
import type { FrameSource, SourceOptions } from './types.ts';

export type SourceSpec =
  | { kind: 'webcam'; device?: string }
  | { kind: 'command'; command: string }
  | { kind: 'http'; url: string }
  | { kind: 'mjpeg'; url: string }
  | { kind: 'rtsp'; url: string }
  | { kind: 'dir'; path: string }
  | { kind: 'file'; path: string }
  | { kind: 'fashion-mnist'; split: 'test' };

export const SOURCE_SPEC_HELP = 'webcam[:DEVICE] | command:CMD | http(s)://URL | mjpeg:URL | rtsp://URL | dir:PATH | file:PATH | fashion-mnist:test';
/** The sources that end (what `edgeloom drift` replays). */
export const FINITE_SOURCE_SPEC_HELP = 'dir:PATH | file:PATH | fashion-mnist:test | command:CMD';

/** Parses a `--source` string. Pure: nothing is opened or checked on disk here. */
export function parseSourceSpec(spec: string): SourceSpec {
  const s = spec.trim();
  const rest = (prefix: string) => s.slice(prefix.length);
  const need = (value: string, what: string) => {
    if (!value) throw new UserError(`--source "${spec}": missing ${what} (expected ${SOURCE_SPEC_HELP})`);
    return value;
  };
  if (s === 'webcam') return { kind: 'webcam' };
  if (s.startsWith('webcam:')) return { kind: 'webcam', device: need(rest('webcam:'), 'device') };
  if (s.startsWith('command:')) return { kind: 'command', command: need(rest('command:'), 'command') };
  if (/^https?:\/\//i.test(s)) return { kind: 'http', url: s };
  if (s.startsWith('mjpeg:')) {
    const url = need(rest('mjpeg:'), 'URL');
    if (!/^https?:\/\//i.test(url)) throw new UserError(`--source "${spec}": mjpeg needs an http(s) URL`);
    return { kind: 'mjpeg', url };
  }
  if (/^rtsps?:\/\//i.test(s)) return { kind: 'rtsp', url: s };
  if (s.startsWith('dir:')) return { kind: 'dir', path: need(rest('dir:'), 'path') };
  if (s.startsWith('file:')) return { kind: 'file', path: need(rest('file:'), 'path') };
  if (s.startsWith('fashion-mnist:')) {
    if (rest('fashion-mnist:') !== 'test') throw new UserError(`--source "${spec}": only fashion-mnist:test is available (training data stays off the device)`);
    return { kind: 'fashion-mnist', split: 'test' };
  }
  throw new UserError(`--source "${spec}": unknown source (expected ${SOURCE_SPEC_HELP})`);
}

/** Sources whose end means "connection lost": the agent reopens them with backoff. */
export function isLiveSource(spec: SourceSpec): boolean {
  return spec.kind === 'mjpeg' || spec.kind === 'rtsp';
}

/** Opens a source; each implementation module is loaded only when used. */
export async function createFrameSource(spec: SourceSpec, opts: SourceOptions & { fps?: number } = {}): Promise<FrameSource> {
  switch (spec.kind) {
    case 'webcam':
      return new (await import('./webcam.ts')).WebcamSource(spec.device, opts);
    case 'command':
      return new (await import('./command.ts')).CommandSource(spec.command, opts);
    case 'http':
      return new (await import('./network.ts')).HttpSnapshotSource(spec.url, opts);
    case 'mjpeg':
      return new (await import('./network.ts')).MjpegSource(spec.url, opts);
    case 'rtsp':
      return new (await import('./network.ts')).RtspSource(spec.url, opts);
    case 'dir':
      return new (await import('./files.ts')).DirSource(spec.path, opts);
    case 'file':
      return new (await import('./files.ts')).FileSource(spec.path, opts);
    case 'fashion-mnist':
      return new (await import('./fashion-mnist.ts')).FashionMnistSource(opts);
  }
}
