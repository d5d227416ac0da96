/** A broker host of 0.0.0.0 (the broker listens everywhere) means the host that served the page. */
export function brokerUrlFor(configured: string, pageHost: string): string {
  const u = new URL(configured);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = pageHost;
  return u.toString().replace(/\/$/, '');
}
