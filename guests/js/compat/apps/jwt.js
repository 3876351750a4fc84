// jwt.js — jsonwebtoken's sign, verify and decode (seed 003's calls and
// their options and errors), as a webtask: POST a JSON {op, args}.
const express = require('express');
const jwt = require('jsonwebtoken');
const Webtask = require('webtask-tools');

const app = express();
app.use(express.json());

const now = 1700000000;
const errorOf = (e) => ({ name: e.name, message: e.message, expiredAt: e.expiredAt, date: e.date });

app.post('/sign', (req, res) => {
  const { payload, secret, options } = req.body;
  try {
    res.json({ token: jwt.sign(payload, secret, options) });
  } catch (e) {
    res.status(400).json(errorOf(e));
  }
});
app.post('/verify', (req, res) => {
  const { token, secret, options } = req.body;
  try {
    res.json({ payload: jwt.verify(token, secret, Object.assign({ clockTimestamp: now }, options)) });
  } catch (e) {
    res.status(401).json(errorOf(e));
  }
});
app.post('/decode', (req, res) => res.json({ decoded: jwt.decode(req.body.token, req.body.options) }));
app.get('/callback', (req, res) => {
  jwt.sign({ sub: 'cb', iat: now }, 'k', { expiresIn: 60 }, (err, token) => {
    jwt.verify(token, 'k', { clockTimestamp: now + 61 }, (err2, payload) => res.json({ token, err2: err2 && errorOf(err2), payload }));
  });
});
app.get('/types', (req, res) => {
  const e = new jwt.TokenExpiredError('jwt expired', new Date(0));
  res.json({ isJWTError: e instanceof jwt.JsonWebTokenError, isError: e instanceof Error, name: e.name });
});

module.exports = Webtask.fromExpress(app);
