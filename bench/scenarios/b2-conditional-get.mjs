// B2 (SPEC 7): conditional GET answered 304 (If-None-Match the current ETag). The baseline is the
// simplest GET handler, which ignores If-None-Match and answers a small 200.
/** @type {import('./scenario.mjs').Scenario} */
export const b2 = {
  id: 'B2',
  title: 'conditional GET answered 304 (If-None-Match current)',
  connections: 64,
  resources: 64 * 4,
  target: { minRatio: 0.7 },
  expectedStatus: { baseline: 200, truce: 304 },
  load: { method: 'GET' },

  requests(resources) {
    let next = 0;
    return [
      {
        setupRequest(request) {
          const resource = resources[next];
          next = (next + 1) % resources.length;
          request.path = resource.path;
          request.headers['if-none-match'] = resource.etag;
          return request;
        },
      },
    ];
  },
};
