/**
 * A few DOM helpers. Text from MQTT payloads only ever goes into `textContent` or attribute values,
 * never into HTML, so a hostile label or device name cannot inject markup.
 */
type Attrs = Record<string, string | number | boolean | ((ev: Event) => void) | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Sets text only when it changed (keeps selections and avoids layout work on every tick). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setClass(el: Element, name: string, on: boolean): void {
  el.classList.toggle(name, on);
}

/** Replaces an element's children with `items`, reusing nothing (for short lists). */
export function fill(el: Element, items: Child[]): void {
  el.replaceChildren(...items.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

export function ago(ms: number | null, now: number): string {
  if (ms === null) return 'unknown';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

const SNAPSHOT_TYPES: [string, number[]][] = [['image/jpeg', [0xff, 0xd8, 0xff]], ['image/png', [0x89, 0x50, 0x4e, 0x47]]];

/** A data: URL for a snapshot only when its bytes are a JPEG or PNG (never SVG or HTML). */
export function snapshotUrl(base64: unknown): string | null {
  if (typeof base64 !== 'string' || base64.length < 8 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) return null;
  const head = atob(base64.slice(0, 8));
  for (const [type, magic] of SNAPSHOT_TYPES) if (magic.every((b, i) => head.charCodeAt(i) === b)) return `data:${type};base64,${base64}`;
  return null;
}
