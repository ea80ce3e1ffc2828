// Stand-in for Double Take's detector factory: actions/index.js requires it, but only its
// checks() runs here, so nothing is looked up.
module.exports.get = () => {
  throw new Error('no detector factory in this test harness');
};
