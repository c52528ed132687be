#!/usr/bin/env node
/*
 * check-dump.js - re-derive, independently of tfjs and face-api, everything around the three
 * networks from an image, a --dump folder and reference.js's JSON line for that image, and
 * compare. It is the executable form of the pre- and post-processing described in README.md:
 * a C port that does what this file does gets the same network inputs bit for bit.
 *
 *   node check-dump.js IMAGE DUMPDIR OUTPUT.jsonl [--min-score S]
 *
 * IMAGE is the file given to reference.js (JPEG or P6 PPM); DUMPDIR the per-image folder
 * written by --dump; OUTPUT.jsonl the stdout of that run (the line whose "file" is IMAGE's
 * basename is used). Prints one line per check; exits 1 if a check fails.
 * All arithmetic that tfjs does in float32 is done here with Math.fround after each operation;
 * what face-api does in JavaScript numbers (float64) is done in float64.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const fr = Math.fround;
const MEAN_RGB = [122.782, 117.001, 104.298]; // face-api's normalize(); tfjs fills float32
let failed = false;

function readImage(file) {
  const buf = fs.readFileSync(file);
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    const img = require('jpeg-js').decode(buf, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 100 });
    return { width: img.width, height: img.height, data: img.data };
  }
  // P6 header: magic, width, height, maxval (comments allowed), one whitespace byte, raster.
  let pos = 2;
  const nums = [];
  while (nums.length < 3) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (buf[pos] === 0x23) { while (buf[pos] !== 0x0a) pos++; continue; }
    const start = pos;
    while (buf[pos] >= 0x30 && buf[pos] <= 0x39) pos++;
    nums.push(Number(buf.toString('latin1', start, pos)));
  }
  const [width, height] = nums;
  return { width, height, data: buf.subarray(pos + 1, pos + 1 + width * height * 3) };
}

function readF32(dir, name) {
  const b = fs.readFileSync(path.join(dir, `${name}.f32`));
  const a = new Float32Array(b.length / 4);
  for (let i = 0; i < a.length; i++) a[i] = b.readFloatLE(4 * i);
  return a;
}

function report(name, ok, detail) {
  if (!ok) failed = true;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}\n`);
}

function compare(name, got, want, tol = 0) {
  let maxDiff = 0;
  let nDiff = 0;
  if (got.length !== want.length) return report(name, false, `length ${got.length} != ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxDiff)) maxDiff = d;
    if (got[i] !== want[i]) nDiff++;
  }
  return report(name, maxDiff <= tol, `${got.length} values, ${nDiff} differ, max |diff| ${maxDiff}${tol ? ` (tolerance ${tol})` : ''}`);
}

/* ---- image operations, as the tfjs wasm kernels do them ---- */

// Copies the w x h region at (x, y) of an RGB image into a float array.
function crop(img, x, y, w, h) {
  const out = new Float32Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w * 3; c++) out[r * w * 3 + c] = img.data[((y + r) * img.width + x) * 3 + c];
  }
  return out;
}

// face-api's padToSquare: zeros along the shorter side. Not centred: all of them after the
// image (bottom or right). Centred: round(d/2) after the image, d - round(d/2) before it.
function padToSquare(src, w, h, centred) {
  if (w === h) return { data: src, size: w };
  const d = Math.abs(w - h);
  const after = Math.round(d * (centred ? 0.5 : 1));
  const before = d - after;
  const size = Math.max(w, h);
  const ox = w < h ? before : 0;
  const oy = h < w ? before : 0;
  const out = new Float32Array(size * size * 3);
  for (let r = 0; r < h; r++) out.set(src.subarray(r * w * 3, (r + 1) * w * 3), ((r + oy) * size + ox) * 3);
  return { data: out, size };
}

// tf.image.resizeBilinear(x, [n, n], alignCorners=false, halfPixelCenters=false) on the wasm
// backend = XNNPACK resize-bilinear in TensorFlow legacy mode: scale = in/out (float32),
// source coordinate = out_index * scale (float32), top-left neighbour = truncation,
// the other one clamped to in-1, weights = fraction; no fused multiply-add.
function resizeBilinear(src, inSize, outSize) {
  const scale = fr(inSize / outSize);
  const out = new Float32Array(outSize * outSize * 3);
  for (let oy = 0; oy < outSize; oy++) {
    const iy = fr(oy * scale);
    const y0 = Math.trunc(iy);
    const y1 = Math.min(y0 + 1, inSize - 1);
    const ay = fr(iy - y0);
    for (let ox = 0; ox < outSize; ox++) {
      const ix = fr(ox * scale);
      const x0 = Math.trunc(ix);
      const x1 = Math.min(x0 + 1, inSize - 1);
      const ax = fr(ix - x0);
      for (let c = 0; c < 3; c++) {
        const tl = src[(y0 * inSize + x0) * 3 + c];
        const tr = src[(y0 * inSize + x1) * 3 + c];
        const bl = src[(y1 * inSize + x0) * 3 + c];
        const br = src[(y1 * inSize + x1) * 3 + c];
        const top = fr(tl + fr(fr(tr - tl) * ax));
        const bottom = fr(bl + fr(fr(br - bl) * ax));
        out[(oy * outSize + ox) * 3 + c] = fr(top + fr(fr(bottom - top) * ay));
      }
    }
  }
  return out;
}

// Landmark (112) and recognition (150) net input from an integer crop box of the image.
function faceNetInput(img, box, size) {
  const sq = padToSquare(crop(img, box.x, box.y, box.width, box.height), box.width, box.height, true);
  const res = sq.size === size ? sq.data : resizeBilinear(sq.data, sq.size, size);
  const mean = MEAN_RGB.map(fr);
  return res.map((v, i) => fr(fr(v - mean[i % 3]) / 255));
}

// Box.clipAtImageBorders: clip the left/top at 0 and the right/bottom at the image size,
// then floor x, y, width and height separately.
function clipAtImageBorders(b, W, H) {
  const x = Math.max(b.x, 0);
  const y = Math.max(b.y, 0);
  const width = Math.min(b.x + b.width - x, W - x);
  const height = Math.min(b.y + b.height - y, H - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(width), height: Math.floor(height) };
}

/* ---- SSD post-processing ---- */

function decodeBoxes(anchors, enc) {
  const n = anchors.length / 4;
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const [a0, a1, a2, a3] = anchors.subarray(4 * i, 4 * i + 4); // ymin, xmin, ymax, xmax
    const [ty, tx, th, tw] = enc.subarray(4 * i, 4 * i + 4);
    const h = fr(a2 - a0);
    const w = fr(a3 - a1);
    const cy = fr(a0 + fr(h / 2));
    const cx = fr(a1 + fr(w / 2));
    const halfH = fr(fr(fr(Math.exp(fr(th / 5))) * h) / 2);
    const y = fr(fr(fr(ty / 10) * h) + cy);
    const halfW = fr(fr(fr(Math.exp(fr(tw / 5))) * w) / 2);
    const x = fr(fr(fr(tx / 10) * w) + cx);
    out.set([fr(y - halfH), fr(x - halfW), fr(y + halfH), fr(x + halfW)], 4 * i);
  }
  return out;
}

// face-api's ssdMobilenetv1 nonMaxSuppression: candidates with score > minScore in descending
// score order (stable); a candidate is kept if its IoU with every kept box is <= 0.5;
// at most 100 kept.
function nms(boxes, scores, minScore, maxResults = 100, iouThreshold = 0.5) {
  const iou = (i, j) => {
    const b = (k) => [Math.min(boxes[4 * k], boxes[4 * k + 2]), Math.min(boxes[4 * k + 1], boxes[4 * k + 3]),
      Math.max(boxes[4 * k], boxes[4 * k + 2]), Math.max(boxes[4 * k + 1], boxes[4 * k + 3])];
    const [y0i, x0i, y1i, x1i] = b(i);
    const [y0j, x0j, y1j, x1j] = b(j);
    const areaI = (y1i - y0i) * (x1i - x0i);
    const areaJ = (y1j - y0j) * (x1j - x0j);
    if (areaI <= 0 || areaJ <= 0) return 0;
    const inter = Math.max(Math.min(y1i, y1j) - Math.max(y0i, y0j), 0) * Math.max(Math.min(x1i, x1j) - Math.max(x0i, x0j), 0);
    return inter / (areaI + areaJ - inter);
  };
  const cands = Array.from(scores, (s, i) => ({ s, i })).filter((c) => c.s > minScore).sort((a, b) => b.s - a.s);
  const kept = [];
  for (const c of cands) {
    if (kept.length >= Math.min(maxResults, scores.length)) break;
    if (kept.every((k) => iou(c.i, k) <= iouThreshold)) kept.push(c.i);
  }
  return kept;
}

function main() {
  const args = process.argv.slice(2);
  let minScore = 0.5;
  const k = args.indexOf('--min-score');
  if (k >= 0) { minScore = Number(args[k + 1]); args.splice(k, 2); }
  if (args.length !== 3) {
    process.stderr.write('usage: node check-dump.js IMAGE DUMPDIR OUTPUT.jsonl [--min-score S]\n');
    process.exit(2);
  }
  const [imageFile, dir, jsonl] = args;
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const line = fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .find((o) => o.file === index.file);
  if (!line) throw new Error(`no line with "file": "${index.file}" in ${jsonl}`);
  let img = readImage(imageFile);
  const dx = index.pad_x;
  const dy = index.pad_y;
  if (index.padded) { // black border of floor(W/2) left and right, floor(H/2) top and bottom
    const W = img.width + 2 * dx;
    const H = img.height + 2 * dy;
    const data = new Uint8Array(W * H * 3);
    for (let r = 0; r < img.height; r++) data.set(img.data.subarray(r * img.width * 3, (r + 1) * img.width * 3), ((r + dy) * W + dx) * 3);
    img = { width: W, height: H, data };
  }
  const W = img.width;
  const H = img.height;

  // SSD input: pad to a square (not centred), resize to 512, x / 127.5 - 1.
  const sq = padToSquare(crop(img, 0, 0, W, H), W, H, false);
  const res = sq.size === 512 ? sq.data : resizeBilinear(sq.data, sq.size, 512);
  compare('ssd_input', res.map((v) => fr(fr(v / 127.5) - 1)), readF32(dir, 'ssd_input'));

  // SSD outputs: decoding and sigmoid (exp and sigmoid of the wasm backend may differ by an ulp).
  const boxes = readF32(dir, 'ssd_boxes');
  const scores = readF32(dir, 'ssd_scores');
  compare('ssd_boxes from encodings', decodeBoxes(readF32(dir, 'ssd_anchors'), readF32(dir, 'ssd_box_encodings')), boxes, 1e-6);
  const logits = readF32(dir, 'ssd_class_logits');
  compare('ssd_scores from logits', scores.map((_, i) => fr(1 / (1 + Math.exp(-logits[3 * i + 1])))), scores, 1e-6);

  // NMS and the boxes in image coordinates (face-api's locateFaces, float64).
  const kept = nms(boxes, scores, minScore);
  const scale = 512 / Math.max(W, H);
  const padX = 512 / Math.round(W * scale);
  const padY = 512 / Math.round(H * scale);
  const dets = kept.map((i) => {
    const top = Math.max(0, boxes[4 * i]) * padY;
    const bottom = Math.min(1, boxes[4 * i + 2]) * padY;
    const left = Math.max(0, boxes[4 * i + 1]) * padX;
    const right = Math.min(1, boxes[4 * i + 3]) * padX;
    return { score: scores[i], x: left * W, y: top * H, width: (right - left) * W, height: (bottom - top) * H };
  });
  report('face count', dets.length === line.faces.length, `${dets.length} from the dump, ${line.faces.length} in the JSON`);
  const boxDiff = Math.max(0, ...dets.flatMap((d, i) => (line.faces[i]
    ? [d.x - dx - line.faces[i].box.x, d.y - dy - line.faces[i].box.y, d.width - line.faces[i].box.width, d.height - line.faces[i].box.height].map(Math.abs)
    : [Infinity])));
  report('boxes and scores after NMS', boxDiff === 0 && dets.every((d, i) => line.faces[i] && fr(line.faces[i].score) === d.score), `max |diff| ${boxDiff}`);
  if (!index.face || dets.length === 0) return;

  // Landmark net input: the detection box clipped and floored.
  const det = dets[0];
  const lmBox = clipAtImageBorders(det, W, H);
  report('landmark crop', JSON.stringify(lmBox) === JSON.stringify(index.face.landmark_crop), JSON.stringify(lmBox));
  compare('landmark_input', faceNetInput(img, lmBox, 112), readF32(dir, 'landmark_input'));

  // Landmark post-processing (float32 tensors), then positions in the image (float64).
  const raw = readF32(dir, 'landmark_output_raw');
  const s = 112 / Math.max(lmBox.width, lmBox.height);
  const wS = lmBox.width * s;
  const hS = lmBox.height * s;
  const padLx = wS < hS ? Math.abs(wS - hS) / 2 : 0;
  const padLy = hS < wS ? Math.abs(wS - hS) / 2 : 0;
  const rel = raw.map((v, i) => fr(fr(fr(v * 112) - fr(i % 2 ? padLy : padLx)) / fr(i % 2 ? hS : wS)));
  compare('landmark_output from raw', rel, readF32(dir, 'landmark_output'), 1e-6);
  const pts = [];
  for (let i = 0; i < 68; i++) {
    // FaceLandmarks68(rel, crop size) then shiftBy(detection box x, y), as face-api does it.
    const px = rel[2 * i] * lmBox.width;
    const py = rel[2 * i + 1] * lmBox.height;
    pts.push([(px / lmBox.width) * lmBox.width + det.x, (py / lmBox.height) * lmBox.height + det.y]);
  }
  compare('landmarks', pts.flat().map((v, i) => v - (i % 2 ? dy : dx)), line.faces[0].landmarks.flat(), 1e-3);

  // Descriptor crop: dlib-style alignment from the landmarks, then clipped and floored.
  const centre = (p) => {
    let x = 0;
    let y = 0;
    for (const q of p) { x += q[0]; y += q[1]; }
    return [x / p.length, y / p.length];
  };
  const le = centre(pts.slice(36, 42));
  const re = centre(pts.slice(42, 48));
  const mouth = centre(pts.slice(48, 68));
  const dist = (a) => Math.sqrt((mouth[0] - a[0]) ** 2 + (mouth[1] - a[1]) ** 2);
  const size = Math.floor((dist(le) + dist(re)) / 2 / 0.45);
  const ref = centre([le, re, mouth]);
  const ax = Math.floor(Math.max(0, ref[0] - 0.5 * size));
  const ay = Math.floor(Math.max(0, ref[1] - 0.43 * size));
  const alBox = clipAtImageBorders({ x: ax, y: ay, width: Math.min(size, lmBox.width + ax), height: Math.min(size, lmBox.height + ay) }, W, H);
  const jsonBox = line.faces[0].aligned_box;
  report('aligned crop', JSON.stringify(alBox) === JSON.stringify(index.face.aligned_crop)
    && alBox.x - dx === jsonBox.x && alBox.y - dy === jsonBox.y && alBox.width === jsonBox.width && alBox.height === jsonBox.height, JSON.stringify(alBox));
  compare('recognition_input', faceNetInput(img, alBox, 150), readF32(dir, 'recognition_input'));
  compare('descriptor', readF32(dir, 'recognition_output'), Float32Array.from(line.faces[0].descriptor));
}

try {
  main();
} catch (e) {
  process.stderr.write(`check-dump: ${e.message}\n`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
