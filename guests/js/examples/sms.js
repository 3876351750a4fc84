'use latest';
import bodyParser from 'body-parser';
import express from 'express';
import Webtask from 'webtask-tools';

const server = express();

server.use(bodyParser.json());

server.post('/', (req, res, next) => {
  console.log(req.body);
  res.statusCode = 200;
  res.end();
});

module.exports = Webtask.fromExpress(server);
