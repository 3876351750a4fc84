// jwt.js — seed 003 ("Protect your Function with JSON Web Token", a
// Twilio Function) as one webtask: POST /jwt issues a token for the right
// credentials (the seed's jwt.sign call), /bearer answers the salaries for
// a valid HS256 token with an exp and 401 with WWW-Authenticate otherwise.
// The seed's hard-coded credentials and secret are the webtask's secrets
// (username, password, jwt-secret), as its comments advise.
const express = require('express');
const jwt = require('jsonwebtoken');
const Webtask = require('webtask-tools');

const salaries = [
  { username: 'jdoe', salary: '$2000.00' },
  { username: 'mturner', salary: '$2500.00' },
];

const app = express();
app.use(express.json());

const text = (res, status, body) => res.status(status).type('text/plain').send(body);
// json sends exactly application/json (res.json would add a charset).
const json = (res, status, value) => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(value));
};

app.post('/jwt', (req, res) => {
  const secrets = req.webtaskContext.secrets;
  const secret = secrets['jwt-secret'];
  if (!secret) return text(res, 500, 'jwt-secret is not set');
  // The seed's event merges the query and the body.
  const { username, password } = Object.assign({}, req.query, req.body);
  if (!secrets.username || username !== secrets.username || password !== secrets.password) {
    return text(res, 401, 'Username or password is incorrect');
  }
  const token = jwt.sign(
    {
      sub: username,
      iss: 'twil.io',
      org: 'twilio',
      perms: ['read'],
    },
    secret,
    { expiresIn: '1d' }
  );
  res.set('access_token', token);
  text(res, 200, 'OK');
});

app.all('/bearer', (req, res) => {
  const secret = req.webtaskContext.secrets['jwt-secret'];
  const auth = req.get('authorization') || '';
  try {
    if (!secret || !auth.startsWith('Bearer ')) throw new Error('no bearer token');
    const payload = jwt.verify(auth.slice('Bearer '.length), secret, { algorithms: ['HS256'] });
    if (typeof payload.exp !== 'number') throw new Error('no exp');
  } catch (e) {
    res.set('WWW-Authenticate', 'Bearer realm="Access to read salaries"');
    return text(res, 401, 'Unauthorized');
  }
  json(res, 200, salaries);
});

app.use((req, res) => json(res, 404, { code: 404, message: 'no route for ' + req.method + ' ' + req.path }));

module.exports = Webtask.fromExpress(app);
