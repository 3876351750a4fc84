// lib/webtask-tools.js — the built-in module webtask-tools: the original
// platform's adapters from a Node HTTP application to a webtask in the
// (context, req, res) model. fromExpress(app) and fromConnect(app) give
// the app every request, with req.webtaskContext set to the context,
// req.url the path below the webtask (plus the query), as the original
// did, and req.user the caller the host's declared auth verified; fromServer(server) does the same for a function (req, res) or an
// object with one as its 'request' listener.

function fromExpress(app) {
  if (typeof app !== 'function' && !(app && typeof app.handle === 'function')) {
    throw new TypeError('webtask-tools: fromExpress needs an Express (or Connect) application');
  }
  var handle = typeof app === 'function' ? app : function (req, res) { app.handle(req, res); };
  return function (context, req, res) {
    req.webtaskContext = context;
    req.originalUrl = req.url;
    if (context.user !== undefined) req.user = context.user; // as express-jwt sets it
    handle(req, res);
  };
}

function fromServer(server) {
  var handler = typeof server === 'function' ? server :
    server && typeof server.listeners === 'function' ? server.listeners('request')[0] : undefined;
  if (typeof handler !== 'function') throw new TypeError('webtask-tools: fromServer needs a function (req, res) or a server with a request listener');
  return fromExpress(handler);
}

module.exports = {
  fromExpress: fromExpress, fromConnect: fromExpress, fromServer: fromServer,
  // The original's auth helpers need the platform's Auth0 integration;
  // they are named here so code that only mentions them loads.
  auth0: function () { throw new Error('webtask-tools: auth0() is not supported by this server'); },
};
