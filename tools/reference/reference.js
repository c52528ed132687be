#!/usr/bin/env node
/*
 * reference.js - run the reference implementation, @vladmandic/face-api 1.7.15 on
 * @tensorflow/tfjs 4.22.0 with the wasm backend (one thread), on JPEG or binary PPM
 * images and write one JSON object per image per line on stdout.
 *
 * The pipeline is face-api's own:
 *   detectAllFaces(img, new SsdMobilenetv1Options({ minConfidence }))
 *     .withFaceLandmarks().withFaceDescriptors()
 * Nothing of the networks or of their pre- and post-processing is re-implemented here;
 * --dump and --time only call face-api's public pieces (toNetInput, extractFaceTensors,
 * forwardInput, runNet, postProcess, detectLandmarks, computeFaceDescriptor) and record
 * the tensors that pass through tfjs kernels. See README.md for what each tensor is.
 *
 * Usage: node reference.js [--models DIR] [--min-score S] [--pad-fallback] [--time N]
 *                          [--dump DIR] IMAGE...
 * Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a usage error.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');
const { performance } = require('perf_hooks');

// tfjs and face-api may print notices with console.log; stdout carries only JSON.
console.log = (...args) => process.stderr.write(`${util.format(...args)}\n`);
console.info = console.log;

const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const jpeg = require('jpeg-js');
// The node-wasm build of face-api requires @tensorflow/tfjs and tfjs-backend-wasm
// (the package's main entry would require @tensorflow/tfjs-node).
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const PROG = 'reference';
const MAX_PIXELS = 100 * 1000 * 1000; // jpeg-js' own default limit, also used for PPM
const MODEL_NAMES = ['ssd_mobilenetv1_model', 'face_landmark_68_model', 'face_recognition_model'];

class UsageError extends Error {}

const USAGE = `usage: node reference.js [--models DIR] [--min-score S] [--pad-fallback] [--time N] [--dump DIR] IMAGE...
  --models DIR     folder with the face-api weights manifests (default: <repo>/models/model)
  --min-score S    SSD minimum confidence, 0 < S < 1 (default 0.5)
  --pad-fallback   when no face is found, retry on the image with a black border of half its
                   width left and right and half its height top and bottom
  --time N         also time each stage over N repetitions; medians as JSON lines on stderr
  --dump DIR       write network inputs/outputs of each image's first face under DIR
IMAGE is a JPEG or a binary PPM (P6, maxval 255).`;

function parseArgs(argv) {
  const o = {
    models: path.resolve(__dirname, '..', '..', 'models', 'model'),
    minScore: 0.5,
    padFallback: false,
    time: 0,
    dump: null,
    images: [],
  };
  const value = (i, name) => {
    if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { o.images.push(...argv.slice(i + 1)); break; }
    if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    if (a === '--models') { o.models = path.resolve(value(i, a)); i++; } else if (a === '--min-score') {
      const s = value(i, a); i++;
      if (!/^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) throw new UsageError(`--min-score: not a number: '${s}'`);
      o.minScore = Number(s);
      if (!(o.minScore > 0 && o.minScore < 1)) throw new UsageError(`--min-score must be between 0 and 1 (exclusive), got ${s}`);
    } else if (a === '--pad-fallback') {
      o.padFallback = true;
    } else if (a === '--time') {
      const s = value(i, a); i++;
      if (!/^[0-9]+$/.test(s) || Number(s) < 1 || Number(s) > 10000) throw new UsageError(`--time needs a repetition count 1..10000, got '${s}'`);
      o.time = Number(s);
    } else if (a === '--dump') {
      o.dump = path.resolve(value(i, a)); i++;
    } else if (a.startsWith('-') && a !== '-') {
      throw new UsageError(`unknown option '${a}'`);
    } else {
      o.images.push(a);
    }
  }
  if (o.images.length === 0) throw new UsageError('no IMAGE given');
  return o;
}

/* ---------- image decoding ---------- */

// Binary PPM (P6): "P6" <ws> width <ws> height <ws> maxval <one ws byte> raster.
// Comments ('#' to end of line) may appear in the header wherever whitespace may.
function decodePpm(buf, file) {
  const bad = (msg) => new Error(`${file}: bad PPM: ${msg}`);
  if (buf.length < 2 || buf[0] !== 0x50 /* P */) throw bad('missing magic number');
  if (buf[1] !== 0x36 /* 6 */) throw bad(`unsupported format P${String.fromCharCode(buf[1])} (only binary P6 is supported)`);
  let pos = 2;
  const isWs = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d;
  const readInt = (name) => {
    // skip whitespace and comments
    for (;;) {
      if (pos >= buf.length) throw bad(`truncated header (no ${name})`);
      const c = buf[pos];
      if (isWs(c)) { pos++; continue; }
      if (c === 0x23 /* # */) {
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < buf.length && buf[pos] >= 0x30 && buf[pos] <= 0x39) pos++;
    if (pos === start) throw bad(`${name} is not a decimal number`);
    if (pos - start > 9) throw bad(`${name} is too large`);
    if (pos >= buf.length) throw bad(`truncated header after ${name}`);
    if (!isWs(buf[pos])) throw bad(`${name} is followed by '${String.fromCharCode(buf[pos])}', not whitespace`);
    return Number(buf.toString('latin1', start, pos));
  };
  if (buf.length > 2 && !isWs(buf[2]) && buf[2] !== 0x23) throw bad('magic number P6 not followed by whitespace');
  const width = readInt('width');
  const height = readInt('height');
  const maxval = readInt('maxval');
  if (width < 1 || height < 1) throw bad(`image size ${width}x${height} is empty`);
  if (width * height > MAX_PIXELS) throw bad(`image size ${width}x${height} exceeds ${MAX_PIXELS} pixels`);
  if (maxval !== 255) throw bad(`maxval ${maxval} is not supported (only 255)`);
  pos++; // the single whitespace byte after maxval
  const need = width * height * 3;
  const have = buf.length - pos;
  if (have < need) throw bad(`truncated raster: ${have} bytes, expected ${need} for ${width}x${height}`);
  if (have > need) throw bad(`${have - need} bytes of trailing data after the ${width}x${height} raster`);
  return { width, height, data: new Uint8Array(buf.buffer, buf.byteOffset + pos, need) };
}

function decodeJpeg(buf, file) {
  let img;
  try {
    img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_PIXELS / 1e6 });
  } catch (e) {
    throw new Error(`${file}: bad JPEG: ${e.message || e}`);
  }
  if (!img.width || !img.height) throw new Error(`${file}: bad JPEG: empty image`);
  return { width: img.width, height: img.height, data: img.data };
}

function readImage(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read: ${e.code || e.message}`);
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return decodeJpeg(buf, file);
  if (buf.length >= 2 && buf[0] === 0x50 && buf[1] >= 0x31 && buf[1] <= 0x37) return decodePpm(buf, file);
  throw new Error(`${file}: not a JPEG or PPM file`);
}

// RGB bytes with a black border of floor(W/2) left and right, floor(H/2) top and bottom.
function padImage(img) {
  const px = Math.floor(img.width / 2);
  const py = Math.floor(img.height / 2);
  const width = img.width + 2 * px;
  const height = img.height + 2 * py;
  const data = new Uint8Array(width * height * 3); // zero = black
  const rowIn = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    data.set(img.data.subarray(y * rowIn, (y + 1) * rowIn), ((y + py) * width + px) * 3);
  }
  return { width, height, data, px, py };
}

// The image as face-api receives it: an int32 tf.Tensor3D [height, width, 3], RGB 0..255.
const toTensor = (img) => tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');

/* ---------- output formatting ---------- */

// Shortest decimal that reads back as the same float32 (exact for float32 data).
function f32(v) {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const n = Number(v.toPrecision(p));
    if (Math.fround(n) === v) return n;
  }
  return v;
}

const rect = (b, dx = 0, dy = 0) => ({ x: b.x - dx, y: b.y - dy, width: b.width, height: b.height });

// The box face-api crops for the descriptor: landmarks.align(null, { useDlibAlignment: true })
// clipped by Box.clipAtImageBorders (which floors), exactly as extractFaceTensors does.
const alignedBox = (r, W, H) => r.landmarks.align(null, { useDlibAlignment: true }).clipAtImageBorders(W, H);
// The box face-api crops for the landmark net: the detection box, clipped and floored.
const landmarkBox = (r, W, H) => r.detection.forSize(W, H).box.clipAtImageBorders(W, H);

function faceJson(r, W, H, dx, dy) {
  return {
    score: f32(r.detection.score),
    box: rect(r.detection.box, dx, dy),
    landmarks: r.landmarks.positions.map((p) => [p.x - dx, p.y - dy]),
    aligned_box: rect(alignedBox(r, W, H), dx, dy),
    descriptor: Array.from(r.descriptor, f32),
  };
}

/* ---------- face-api ---------- */

async function setup(opts) {
  for (const name of MODEL_NAMES) {
    const manifest = path.join(opts.models, `${name}-weights_manifest.json`);
    if (!fs.existsSync(manifest)) throw new Error(`missing model: ${manifest} (run scripts/fetch-models, or pass --models DIR)`);
  }
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${wasmDir}${path.sep}`);
  wasm.setThreadsCount(1);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // Node has none anyway: one thread
  if (!(await tf.setBackend('wasm'))) throw new Error('cannot initialise the tfjs wasm backend');
  await tf.ready();
  try {
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(opts.models);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(opts.models);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(opts.models);
  } catch (e) {
    throw new Error(`cannot load models from ${opts.models}: ${e.message || e}`);
  }
}

async function runPipeline(tensor, minScore) {
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: minScore });
  const res = await faceapi.detectAllFaces(tensor, options).withFaceLandmarks().withFaceDescriptors();
  // face-api already returns NMS order (descending score); a stable sort keeps it so.
  return res.slice().sort((a, b) => b.detection.score - a.detection.score);
}

// Records, while fn() runs synchronously, the tensors that pass through tfjs kernels and that
// pick(kernelName, inputs, output) names; returns { result, got: { name: {shape, data} } }.
function capture(pick, fn) {
  const engine = tf.engine();
  const original = engine.runKernel;
  const got = {};
  engine.runKernel = function runKernel(kernelName, inputs, attrs) {
    const out = original.call(this, kernelName, inputs, attrs);
    const picked = pick(kernelName, inputs, out);
    if (picked && !got[picked.name]) got[picked.name] = { shape: picked.tensor.shape.slice(), data: Float32Array.from(picked.tensor.dataSync()) };
    return out;
  };
  try {
    return { result: fn(), got };
  } finally {
    engine.runKernel = original;
  }
}

const shapeIs = (t, shape) => t && t.shape && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
const firstConvInput = (size) => (name, inputs) => (name === 'Conv2D' && shapeIs(inputs.x, [1, size, size, 3]) ? { name: 'input', tensor: inputs.x } : null);

function writeF32(dir, name, shape, data, desc, index) {
  const file = `${name}.f32`;
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`internal: ${name}: ${data.length} values for shape ${shape}`);
  const f = Float32Array.from(data);
  const bytes = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (os.endianness() !== 'LE') bytes.swap32();
  fs.writeFileSync(path.join(dir, file), bytes);
  index.tensors[name] = { file, dtype: 'float32', shape, desc };
}

function sameF32(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Math.fround(a[i]) !== Math.fround(b[i])) return false;
  return true;
}

// Writes the network inputs and outputs of the first face of one image under dir.
async function dump(dir, label, tensor, results, W, H, pad) {
  fs.mkdirSync(dir, { recursive: true });
  const index = { file: label, width: W, height: H, padded: !!pad, pad_x: pad ? pad.px : 0, pad_y: pad ? pad.py : 0, tensors: {} };
  const nets = faceapi.nets;

  // SSD: face-api's forwardInput; the kernels give its 512x512 input and the raw heads.
  const netInput = await faceapi.toNetInput(tensor);
  const ssd = capture((name, inputs, out) => {
    if (name === 'Conv2D' && shapeIs(inputs.x, [1, 512, 512, 3])) return { name: 'input', tensor: inputs.x };
    if (name === 'Concat' && out.shape.length === 4 && out.shape[3] === 4 && out.shape[2] === 1) return { name: 'box_encodings', tensor: out };
    if (name === 'Concat' && out.shape.length === 3 && out.shape[2] === 3) return { name: 'class_logits', tensor: out };
    return null;
  }, () => nets.ssdMobilenetv1.forwardInput(netInput));
  const { boxes, scores } = ssd.result;
  const nAnchors = boxes[0].shape[0];
  writeF32(dir, 'ssd_input', ssd.got.input.shape, ssd.got.input.data,
    'SSD input: RGB image zero-padded at the bottom or right to a square, resizeBilinear to 512x512 (alignCorners=false, halfPixelCenters=false), then x/127.5 - 1', index);
  writeF32(dir, 'ssd_box_encodings', ssd.got.box_encodings.shape, ssd.got.box_encodings.data,
    'SSD raw box encodings (ty, tx, th, tw) per anchor, the 6 heads concatenated in order', index);
  writeF32(dir, 'ssd_class_logits', ssd.got.class_logits.shape, ssd.got.class_logits.data,
    'SSD raw class logits per anchor (3 classes; score = sigmoid(logit[1]))', index);
  writeF32(dir, 'ssd_anchors', [nAnchors, 4], nets.ssdMobilenetv1.params.output_layer.extra_dim.dataSync(),
    'SSD anchors from the weights (Output/extra_dim): ymin, xmin, ymax, xmax, relative to the padded square', index);
  writeF32(dir, 'ssd_boxes', [nAnchors, 4], boxes[0].dataSync(),
    'SSD decoded boxes before NMS: ymin, xmin, ymax, xmax, relative to the padded square', index);
  writeF32(dir, 'ssd_scores', [nAnchors], scores[0].dataSync(), 'SSD scores before NMS: sigmoid(class_logits[..., 1])', index);
  tf.dispose([boxes, scores]);

  if (results.length > 0) {
    const r = results[0];
    const lmBox = landmarkBox(r, W, H);
    const alBox = alignedBox(r, W, H);
    index.face = {
      score: r.detection.score,
      box: rect(r.detection.box),
      landmark_crop: rect(lmBox),
      aligned_crop: rect(alBox),
      note: 'coordinates in the image the networks saw (the padded one when padded is true)',
    };

    // Landmark net on the crop face-api takes (extractFaceTensors of the detection).
    const [crop] = await faceapi.extractFaceTensors(tensor, [r.detection]);
    const lmInput = await faceapi.toNetInput(crop);
    const lm = capture(firstConvInput(112), () => nets.faceLandmark68Net.runNet(lmInput));
    const rawLm = lm.result.dataSync();
    const post = nets.faceLandmark68Net.postProcess(lm.result, 112, [{ width: crop.shape[1], height: crop.shape[0] }]);
    const postLm = post.dataSync();
    writeF32(dir, 'landmark_input', lm.got.input.shape, lm.got.input.data,
      'landmark net input: the clipped, floored detection crop zero-padded to a square (centred), resizeBilinear to 112x112 (alignCorners=false, halfPixelCenters=false), then (x - [122.782, 117.001, 104.298]) / 255', index);
    writeF32(dir, 'landmark_output_raw', [1, 136], rawLm,
      'landmark net output (fully connected layer): x0, y0, x1, y1, ... relative to the 112x112 padded square', index);
    writeF32(dir, 'landmark_output', [1, 136], postLm,
      'landmark positions after FaceLandmark68NetBase.postProcess: x0, y0, ... relative to the crop (times crop width/height, plus the detection box x/y, gives image coordinates)', index);
    // Check: same positions as the pipeline's.
    const expect = r.landmarks.positions;
    const cw = crop.shape[1];
    const ch = crop.shape[0];
    const box = r.detection.box;
    for (let i = 0; i < 68; i++) {
      const x = new faceapi.Point(postLm[2 * i], postLm[2 * i + 1]).mul(new faceapi.Point(cw, ch));
      if (Math.abs(x.x + box.x - expect[i].x) > 1e-6 || Math.abs(x.y + box.y - expect[i].y) > 1e-6) {
        process.stderr.write(`${PROG}: warning: ${label}: dumped landmark ${i} differs from the pipeline's\n`);
        break;
      }
    }
    tf.dispose([crop, lm.result, post]);

    // Recognition net on the aligned crop.
    const [aligned] = await faceapi.extractFaceTensors(tensor, [r.landmarks.align(null, { useDlibAlignment: true })]);
    const recInput = await faceapi.toNetInput(aligned);
    const rec = capture(firstConvInput(150), () => nets.faceRecognitionNet.forwardInput(recInput));
    const desc = rec.result.dataSync();
    writeF32(dir, 'recognition_input', rec.got.input.shape, rec.got.input.data,
      'recognition net input: the aligned crop zero-padded to a square (centred), resizeBilinear to 150x150 (alignCorners=false, halfPixelCenters=false), then (x - [122.782, 117.001, 104.298]) / 255', index);
    writeF32(dir, 'recognition_output', [1, 128], desc, 'face descriptor (not normalised)', index);
    if (!sameF32(desc, r.descriptor)) process.stderr.write(`${PROG}: warning: ${label}: dumped descriptor differs from the pipeline's\n`);
    tf.dispose([aligned, rec.result]);
  }
  const text = JSON.stringify(index, null, 1).replace(/\[\s+([-0-9.,\s]+?)\s+\]/g, (_, a) => `[${a.replace(/\s+/g, '')}]`);
  fs.writeFileSync(path.join(dir, 'index.json'), `${text}\n`);
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

// Times each stage N times (the normal run before was the warm-up) and prints the medians:
//   ssd_ms                  SsdMobilenetv1.forwardInput (pad, resize, normalise, network,
//                           box decoding), outputs read back; no NMS
//   detect_ms               SsdMobilenetv1.locateFaces: the above plus face-api's NMS
//   landmarks_ms_per_face   FaceLandmark68Net.detectLandmarks on the detection crop
//   descriptor_ms_per_face  FaceRecognitionNet.computeFaceDescriptor on a 150x150 input
//   image_ms                the whole detectAllFaces().withFaceLandmarks().withFaceDescriptors()
async function timeStages(label, tensor, results, img, pad, n, minScore) {
  const nets = faceapi.nets;
  const netInput = await faceapi.toNetInput(tensor);
  const crops = await faceapi.extractFaceTensors(tensor, results.map((r) => r.detection));
  const aligned = await faceapi.extractFaceTensors(tensor, results.map((r) => r.landmarks.align(null, { useDlibAlignment: true })));
  // 150x150 recognition inputs, exactly as face-api builds them (pad to square, resize).
  const rec150 = [];
  for (const a of aligned) rec150.push((await faceapi.toNetInput(a)).toBatchTensor(150, true));
  tf.dispose(aligned);
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: minScore });
  const t = { ssd: [], detect: [], lm: [], desc: [], image: [] };
  for (let rep = 0; rep < n; rep++) {
    let t0 = performance.now();
    const { boxes, scores } = nets.ssdMobilenetv1.forwardInput(netInput);
    boxes[0].dataSync(); scores[0].dataSync();
    t.ssd.push(performance.now() - t0);
    tf.dispose([boxes, scores]);

    t0 = performance.now();
    await nets.ssdMobilenetv1.locateFaces(tensor, options);
    t.detect.push(performance.now() - t0);

    if (crops.length) {
      t0 = performance.now();
      for (const c of crops) await nets.faceLandmark68Net.detectLandmarks(c);
      t.lm.push((performance.now() - t0) / crops.length);
      t0 = performance.now();
      for (const x of rec150) await nets.faceRecognitionNet.computeFaceDescriptor(x);
      t.desc.push((performance.now() - t0) / rec150.length);
    }

    t0 = performance.now();
    await runPipeline(tensor, minScore);
    t.image.push(performance.now() - t0);
  }
  tf.dispose([crops, rec150]);
  const line = {
    file: label,
    width: img.width,
    height: img.height,
    ...(pad ? { padded: true } : {}),
    faces: results.length,
    reps: n,
    ssd_ms: ms(median(t.ssd)),
    detect_ms: ms(median(t.detect)),
    landmarks_ms_per_face: crops.length ? ms(median(t.lm)) : null,
    descriptor_ms_per_face: crops.length ? ms(median(t.desc)) : null,
    image_ms: ms(median(t.image)),
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  await setup(opts);
  const dumpNames = new Set();
  for (const file of opts.images) {
    const img = readImage(file);
    const label = path.basename(file);
    let tensor = toTensor(img);
    let W = img.width;
    let H = img.height;
    let results = await runPipeline(tensor, opts.minScore);
    let pad = null;
    if (results.length === 0 && opts.padFallback) {
      pad = padImage(img);
      tf.dispose(tensor);
      tensor = toTensor(pad);
      W = pad.width;
      H = pad.height;
      results = await runPipeline(tensor, opts.minScore);
    }
    const dx = pad ? pad.px : 0;
    const dy = pad ? pad.py : 0;
    const out = { file: label, width: img.width, height: img.height };
    if (pad) out.padded = true;
    out.faces = results.map((r) => faceJson(r, W, H, dx, dy));
    process.stdout.write(`${JSON.stringify(out)}\n`);

    if (opts.dump) {
      let name = label.replace(/\.[^.]*$/, '') || 'image';
      for (let k = 2; dumpNames.has(name); k++) name = `${label.replace(/\.[^.]*$/, '')}_${k}`;
      dumpNames.add(name);
      await dump(path.join(opts.dump, name), label, tensor, results, W, H, pad);
    }
    if (opts.time) await timeStages(label, tensor, results, img, pad, opts.time, opts.minScore);
    tf.dispose(tensor);
  }
}

main().catch((e) => {
  const usage = e instanceof UsageError;
  const msg = (e && e.message) || String(e);
  process.stderr.write(`${PROG}: ${msg.split('\n')[0]}${usage ? ' (--help for usage)' : ''}\n`);
  process.exit(usage ? 2 : 1);
});
