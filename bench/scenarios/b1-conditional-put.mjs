// B1 (SPEC 7): conditional PUT with If-Match the current ETag, on distinct resources.
//
// autocannon resets a connection's `context` each time its request sequence starts over, that is
// after every request here, so a context cannot carry ETags from one request to the next. Instead
// each request checks a resource out of an idle queue in setupRequest, keeps it in its context
// until onResponse records the new ETag, and puts it back. A resource is thus owned by at most one
// connection at a time and every PUT is conditional on its current ETag: none should fail. The
// queue is first in, first out, so the writes spread evenly over all the resources.
import { BODY } from '../lib/resources.mjs';

/** @type {import('./scenario.mjs').Scenario} */
export const b1 = {
  id: 'B1',
  title: 'conditional PUT (If-Match current), distinct resources, SQLite',
  connections: 64,
  // Four per connection, so a resource waits in the queue between writes instead of being reused at once.
  resources: 64 * 4,
  target: { minRatio: 0.4, maxP99Ms: 20 },
  expectedStatus: { baseline: 200, truce: 200 },
  load: { method: 'PUT', headers: { 'content-type': 'application/json' }, body: BODY },

  requests(resources) {
    const idle = [...resources];
    return [
      {
        setupRequest(request, context) {
          const resource = idle.shift();
          // More resources than connections, and one request in flight per connection.
          if (!resource) throw new Error('B1: no idle resource; raise `resources`');
          context.resource = resource;
          request.path = resource.path;
          request.headers['if-match'] = resource.etag;
          return request;
        },
        onResponse(status, _body, context, headers) {
          const resource = context.resource;
          if (status === 200 && headers.etag) resource.etag = headers.etag;
          idle.push(resource);
        },
      },
    ];
  },
};
