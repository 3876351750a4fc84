'use latest';
import bodyParser from 'body-parser';
import express from 'express';
import Webtask from 'webtask-tools';
import request from 'request';

const server = express();

server.use(bodyParser.json());

server.post('/', (req, res, next) => {

 request.post(req.webtaskContext.data.SMS_URL || 'https://api.clickatell.com/http/sendmsg',{
    qs: {
      "from": req.body.sender,
      "user": req.webtaskContext.data.SMS_USERNAME,
      "password": req.webtaskContext.data.SMS_PASSWORD, 
      "api_id": req.webtaskContext.data.SMS_API_ID,
      "to": req.body.recipient,
      "text": req.body.body
    },
    headers: {
      'user-agent': 'Auth0 - Passwordless',
    }
  }, (e,s,b) => {
      if(e) return next(e);
      if(s.statusCode != 200) return next(new Error('Send SMS - request failed: ' + s.statusCode));
      if(b.indexOf("ERR") === 0) return next(new Error('Send SMS failed: ' + b));
      res.statusCode = 200;
      res.end();
  });
});

module.exports = Webtask.fromExpress(server);
