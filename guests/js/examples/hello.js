module.exports = function (context, cb) {
  cb(null, { message: 'hello, world' });
};
