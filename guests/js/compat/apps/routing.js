// routing.js — Express routing, middleware and responses, with
// body-parser: served by the real packages on Node and by the built-in
// modules on wasmtask, every request answered alike (compat_test.go).
const express = require('express');
const bodyParser = require('body-parser');
const Webtask = require('webtask-tools');

const app = express();
app.set('json spaces', 2);
app.use(bodyParser.json({ limit: '1kb' }));
app.use(bodyParser.urlencoded({ extended: true }));
app.use(bodyParser.text());
app.use(bodyParser.raw({ type: 'application/octet-stream' }));

app.use((req, res, next) => { res.set('X-Trace', 'mw'); next(); });

app.get('/', (req, res) => res.send('home'));
app.get('/users/:id', (req, res) => res.json({ id: req.params.id, q: req.query, path: req.path, base: req.baseUrl }));
app.get('/files/*', (req, res) => res.json({ rest: req.params[0] }));
app.get('/opt/:a/:b?', (req, res) => res.json(req.params));
app.get('/skip', (req, res, next) => next('route'), (req, res) => res.send('not me'));
app.get('/skip', (req, res) => res.send('second route'));
app.param('num', (req, res, next, v) => { if (!/^\d+$/.test(v)) return next(Object.assign(new Error('bad num'), { status: 422 })); req.num = +v; next(); });
app.get('/n/:num', (req, res) => res.json({ num: req.num }));
app.post('/echo', (req, res) => res.json({ body: req.body, type: req.get('Content-Type'), is: req.is('json'), isText: req.is('text/*') }));
app.put('/raw', (req, res) => res.json({ isBuffer: Buffer.isBuffer(req.body), len: req.body.length, hex: req.body.toString('hex') }));
app.route('/thing').get((req, res) => res.send('get thing')).delete((req, res) => res.status(204).send('gone'));
app.all('/any', (req, res) => res.send('any ' + req.method));

const api = express.Router({ mergeParams: true });
api.use((req, res, next) => { res.set('X-Api', req.baseUrl); next(); });
api.get('/items/:item', (req, res) => res.json({ params: req.params, url: req.url, originalUrl: req.originalUrl, baseUrl: req.baseUrl }));
app.use('/api/:version', api);

app.get('/send/buffer', (req, res) => res.send(Buffer.from('bytes\x00\x01')));
app.get('/send/object', (req, res) => res.send({ a: [1, 'two'], b: null }));
app.get('/send/null', (req, res) => res.send(null));
app.get('/send/status', (req, res) => res.sendStatus(403));
app.get('/send/type', (req, res) => res.type('txt').send('plain'));
app.get('/send/html', (req, res) => res.set('Content-Type', 'text/html').status(201).send('<b>hi</b>'));
app.get('/redirect', (req, res) => res.redirect('/there?x=1'));
app.get('/redirect301', (req, res) => res.redirect(301, 'https://example.com/a b'));
app.get('/cookie', (req, res) => res.cookie('sid', 'a b', { httpOnly: true, path: '/x' }).cookie('obj', { k: 1 }).send('ok'));
app.get('/headers', (req, res) => { res.append('X-List', 'a'); res.append('X-List', 'b'); res.vary('Accept'); res.json({ ua: req.get('user-agent'), host: req.hostname, proto: req.protocol, xhr: req.xhr }); });
app.get('/format', (req, res) => res.format({ 'text/plain': () => res.send('text'), 'application/json': () => res.json({ f: 'json' }), default: () => res.status(406).send('none') }));
app.get('/attach', (req, res) => res.attachment('report.csv').send('a,b'));
app.get('/throw', () => { throw new Error('sync boom'); });
app.get('/teapot', (req, res, next) => { const e = new Error('short and stout'); e.status = 418; next(e); });
app.get('/handled', (req, res, next) => next(new Error('handled')));

app.use('/handled', (err, req, res, next) => res.status(500).json({ caught: err.message }));
app.use((err, req, res, next) => {
  if (err.status === 422) return res.status(422).json({ error: err.message });
  next(err);
});

module.exports = Webtask.fromExpress(app);
