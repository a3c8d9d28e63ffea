/**
 * Why `origin` is not an origin as browsers send it in `Origin` (RFC 6454, the URL standard's
 * serialisation), or undefined when it is: what `cors.origins` of the server and of the gateway
 * take, so that a listed origin can be compared with the header as a plain string.
 */
export function originIssue(origin: string): string | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `"${origin}" is not an origin (scheme://host[:port])`;
  }
  // Only special schemes have a tuple origin in the URL standard; others (an extension's scheme)
  // are compared as written, so they need only be scheme://host with nothing after it.
  if (url.origin === 'null')
    return url.host !== '' && url.pathname === ''
      ? undefined
      : `"${origin}" is not an origin (scheme://host[:port])`;
  if (url.origin === origin) return undefined;
  return `"${origin}" is not an origin as browsers send it (scheme://host[:port], lower case, no default port, nothing after the port): use "${url.origin}"`;
}
