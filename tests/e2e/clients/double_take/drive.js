// Double Take's CompreFace path against a real server: train each (name, photo) given, then
// recognize each photo and normalize the answer as Double Take does; prints one JSON object.
// Usage: node drive.js '{"train": [[name, path], ...], "recognize": [path, ...]}'
const compreface = require('./src/util/detectors/compreface');

const main = async () => {
  const plan = JSON.parse(process.argv[2]);
  const out = { train: [], recognize: [] };
  for (const [name, key] of plan.train) {
    const { status, data } = await compreface.train({ name, key });
    out.train.push({ status, data });
  }
  for (const key of plan.recognize) {
    const { status, data } = await compreface.recognize({ key, test: false });
    let normalized;
    try {
      normalized = compreface.normalize({ camera: 'test', data });
    } catch (error) {
      normalized = { error: error.message };
    }
    out.recognize.push({ key, status, data, normalized });
  }
  const removed = await compreface.remove({ name: plan.train[0][0] });
  out.remove = { status: removed.status, data: removed.data };
  console.log(JSON.stringify(out));
};

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
