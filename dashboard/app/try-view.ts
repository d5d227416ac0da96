import type { TryModelInfo } from '../try-model.ts';
import type { Classification, Classifier } from './classify.ts';
import { fill, fmt, h, setText } from './dom.ts';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';

/**
 * "Try the model": drop a photo or pick a test image; the page runs the agent's preprocessing and
 * the shipped int8 model in this browser (onnxruntime-web, WebAssembly) and shows the top-3 and the
 * 28x28 image the model saw. Nothing is uploaded: the server only hands out the model and the wasm.
 */
type Info = TryModelInfo | { unavailable: string };

export class TryView {
  readonly el: HTMLElement;
  private readonly about = h('p', { class: 'muted' }, 'Loading the model description…');
  private readonly input = h('input', { type: 'file', accept: 'image/*', 'aria-label': 'photo to classify' });
  private readonly drop = h('label', { class: 'drop' }, 'Drop a photo here, or choose one: ', this.input);
  private readonly samples = h('div', { class: 'samples' });
  private readonly status = h('p', { class: 'status', 'aria-live': 'polite' });
  private readonly photo = h('img', { class: 'photo', alt: 'the image tried', hidden: true });
  private readonly seen = h('canvas', { class: 'seen', width: IMAGE_SIZE, height: IMAGE_SIZE, 'aria-label': 'the 28x28 image the model saw', hidden: true });
  private readonly top = h('ol', { class: 'top3' });
  private readonly details = h('p', { class: 'details muted' });
  private readonly result = h('div', { class: 'result', 'data-seq': '0' }, this.status, h('div', { class: 'seen-top' }, this.photo, this.seen, this.top), this.details);
  private classifier: Promise<Classifier> | null = null;
  private info: TryModelInfo | null = null;
  private seq = 0;

  constructor() {
    this.el = h('section', { class: 'tryit' }, this.about, this.drop, this.samples, this.result);
    this.input.addEventListener('change', () => {
      const file = this.input.files?.[0];
      if (file) void this.tryImage(file);
    });
    this.drop.addEventListener('dragover', (ev) => {
      ev.preventDefault();
      this.drop.classList.add('over');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('over'));
    this.drop.addEventListener('drop', (ev) => {
      ev.preventDefault();
      this.drop.classList.remove('over');
      const file = ev.dataTransfer?.files[0];
      if (file) void this.tryImage(file);
    });
  }

  async start(): Promise<void> {
    let info: Info;
    try {
      info = (await (await fetch('/try/model.json')).json()) as Info;
    } catch {
      info = { unavailable: 'Try the model is unavailable: the server did not describe the model' };
    }
    if ('unavailable' in info) {
      setText(this.about, info.unavailable);
      this.drop.hidden = true;
      return;
    }
    this.info = info;
    const accuracy = info.accuracy === null ? '' : ` (${fmt(info.accuracy * 100, 2)} % test accuracy)`;
    setText(this.about, `Model ${info.id}${accuracy}, run in this browser with the agent's preprocessing. Nothing is uploaded.`);
    fill(this.samples, info.samples.map((s, i) => this.sampleButton(s.pixels, info.classes[s.label] ?? `class ${s.label}`, i)));
  }

  /** Classifies one image and shows the result; what the file input, drop zone and samples call. */
  async tryImage(image: Blob): Promise<Classification | null> {
    if (!this.info) return null;
    const seq = ++this.seq;
    setText(this.status, this.classifier ? 'Classifying…' : 'Loading the model…');
    try {
      const result = await (await this.loadClassifier()).classify(image);
      if (seq === this.seq) this.show(result, image);
      return result;
    } catch (err) {
      if (seq === this.seq) {
        setText(this.status, (err as Error).message ?? String(err));
        this.status.className = 'status failed';
        fill(this.top, []);
        this.seen.hidden = true;
        this.showPhoto(null);
        setText(this.details, '');
      }
      return null;
    } finally {
      if (seq === this.seq) this.result.dataset.seq = String(seq);
    }
  }

  /** The chunk with onnxruntime-web and the model, loaded once; a failed load is retried next time. */
  private async loadClassifier(): Promise<Classifier> {
    const classes = this.info!.classes;
    this.classifier ??= import('./classify.ts').then((m) => m.Classifier.load('/try/model.onnx', classes));
    try {
      return await this.classifier;
    } catch (err) {
      this.classifier = null;
      throw err;
    }
  }

  private showPhoto(image: Blob | null): void {
    if (this.photo.src) URL.revokeObjectURL(this.photo.src);
    this.photo.hidden = image === null;
    if (image) this.photo.src = URL.createObjectURL(image);
    else this.photo.removeAttribute('src');
  }

  private show(r: Classification, image: Blob): void {
    this.showPhoto(image);
    this.status.className = 'status';
    setText(this.status, `${r.top[0].label} ${fmt(r.top[0].confidence * 100)} %`);
    fill(this.top, r.top.map((t) => h('li', { 'data-class-id': t.classId, 'data-confidence': t.confidence }, `${t.label} ${fmt(t.confidence * 100)} %`)));
    const ctx = this.seen.getContext('2d')!;
    ctx.putImageData(grayToImageData(r.pixels), 0, 0);
    this.seen.hidden = false;
    const issues = r.quality.issues.length ? ` · ${r.quality.issues.join(', ')}` : '';
    setText(this.details, `${r.width}x${r.height} decoded · ${r.inverted ? 'negated' : 'not negated'} · garment fills ${Math.round(r.quality.fill * 100)} %${issues} · ` +
      `decode ${fmt(r.ms.decode)} ms, preprocess ${fmt(r.ms.preprocess)} ms, inference ${fmt(r.ms.inference)} ms`);
  }

  private sampleButton(base64: string, label: string, i: number): HTMLButtonElement {
    const canvas = h('canvas', { width: IMAGE_SIZE, height: IMAGE_SIZE });
    const pixels = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    if (pixels.length === IMAGE_PIXELS) canvas.getContext('2d')!.putImageData(grayToImageData(pixels), 0, 0);
    // A PNG of the test image goes the way a dropped file goes: decode, preprocess, model.
    const pick = () => canvas.toBlob((blob) => { if (blob) void this.tryImage(blob); }, 'image/png');
    return h('button', { class: 'sample', type: 'button', title: `test image ${i}: ${label}`, 'aria-label': `test image ${i}: ${label}`, onclick: pick }, canvas);
  }
}

function grayToImageData(pixels: Uint8Array): ImageData {
  const img = new ImageData(IMAGE_SIZE, IMAGE_SIZE);
  for (let i = 0; i < IMAGE_PIXELS; i++) {
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = pixels[i];
    img.data[i * 4 + 3] = 255;
  }
  return img;
}
