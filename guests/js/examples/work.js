// work.js — three pieces of real work behind one webtask, for bench/'s
// work section (issue 17), answering exactly what its native Go baseline
// (bench/work.go) and the other languages' work guests answer:
//
//   POST /json   a ~2 KB JSON document (bench/testdata/work.json, sent as
//                application/json, so context.body is already parsed):
//                {"id": <order.customer.id>}, 400 when it is not there
//   POST /jwt    Authorization: Bearer <HS256 token> (seed 003's claims),
//                key the secret jwt-secret, verified with the built-in
//                jsonwebtoken: {"sub": <sub>}, else 401 Unauthorized
//   POST /hmac   any body (the harness sends 64 KiB of ASCII), key the
//                secret hmac-key: {"hmac": <hex HMAC-SHA256 of the body>}
//                with the built-in crypto
'use strict';

const crypto = require('crypto');
const jwt = require('jsonwebtoken');

function fail(status, message) {
  const e = new Error(message);
  e.statusCode = status;
  return e;
}

function jsonField(context) {
  const b = context.body;
  const id = b && b.order && b.order.customer && b.order.customer.id;
  if (typeof id !== 'string' || id === '') throw fail(400, 'no order.customer.id in the body');
  return { id: id };
}

function verify(context) {
  const key = context.secrets['jwt-secret'];
  const auth = context.headers.authorization || '';
  if (!key || !auth.startsWith('Bearer ')) throw fail(401, 'Unauthorized');
  let payload;
  try {
    payload = jwt.verify(auth.slice(7), key, { algorithms: ['HS256'] });
  } catch (e) {
    throw fail(401, 'Unauthorized');
  }
  if (typeof payload.exp !== 'number' || typeof payload.sub !== 'string' || payload.sub === '') {
    throw fail(401, 'Unauthorized');
  }
  return { sub: payload.sub };
}

function hmac(context) {
  const key = context.secrets['hmac-key'];
  if (!key) throw fail(500, 'hmac-key is not set');
  return { hmac: crypto.createHmac('sha256', key).update(context.body || '').digest('hex') };
}

const routes = { '/json': jsonField, '/jwt': verify, '/hmac': hmac };

module.exports = function (context, cb) {
  const route = context.method === 'POST' && routes[context.path];
  if (!route) return cb(fail(404, 'no route for ' + context.method + ' ' + context.path));
  let out;
  try {
    out = route(context);
  } catch (e) {
    return cb(e);
  }
  cb(null, out);
};
