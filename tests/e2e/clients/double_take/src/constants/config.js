// Stand-in for Double Take's config: detect() gives its default thresholds (match 60 % and
// 10000 px², unknown 40 %), upper-cased as Double Take's own config.detect() gives them.
module.exports.detect = () => ({
  MATCH: { SAVE: true, BASE64: false, CONFIDENCE: 60, MIN_AREA: 10000 },
  UNKNOWN: { SAVE: true, BASE64: false, CONFIDENCE: 40, MIN_AREA: 0 },
});
