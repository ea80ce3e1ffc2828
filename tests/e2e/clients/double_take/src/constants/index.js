// Stand-in for Double Take's constants: its defaults for the CompreFace detector
// (det_prob_threshold 0.8, timeout 15, no face_plugins), with the URL and key from the test.
module.exports = () => ({
  DETECTORS: {
    COMPREFACE: {
      URL: process.env.COMPREFACE_URL,
      KEY: process.env.COMPREFACE_KEY,
      DET_PROB_THRESHOLD: 0.8,
      TIMEOUT: 15,
      FACE_PLUGINS: undefined,
    },
  },
});
