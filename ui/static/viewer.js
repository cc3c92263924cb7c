// The part page's 3D viewer: loads the STL from raw/, shows it on a
// millimetre grid with orbit, zoom and pan, and offers reset view, fit,
// wireframe, grid and bounding-box dimensions. The preview image stays in
// place until the mesh is drawn, and for browsers without WebGL.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/OrbitControls.js';
import { STLLoader } from 'three/addons/STLLoader.js';

const AUTO_LOAD_LIMIT = 64 * 1024 * 1024;

for (const el of document.querySelectorAll('.viewer[data-src]')) {
  setUp(el);
}

// Start-up is ordered for slow GPUs and high-density (phone) screens. Every
// call that waits on the GPU process (creating the context, allocating the
// drawing buffer, reading it) is slow there, above all with a software GPU,
// so: the model's download starts before the context is made and runs
// while it is; the canvas gets its final size before the context exists,
// so the drawing buffer is allocated once (three.js would allocate it at
// 300×150, then again at the page's pixel ratio, then at the stage's
// size); an unchanged size is never set again (setting a canvas's size
// clears it, which costs another full render); and screens of two device
// pixels per CSS pixel or more draw without multisampling, which would
// quadruple the buffers for little visible gain at that density.
function setUp(el) {
  const stage = el.querySelector('.stage');
  const canvas = el.querySelector('.viewer-canvas');
  const status = el.querySelector('.viewer-status');
  const say = (msg) => { status.textContent = msg; };

  const bytes = Number(el.dataset.bytes || 0);
  if (bytes > AUTO_LOAD_LIMIT) {
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'primary';
    btn.textContent = `Load 3D view (${(bytes / 1048576).toFixed(0)} MB)`;
    btn.style.position = 'absolute';
    btn.style.right = '12px';
    btn.style.bottom = '12px';
    stage.appendChild(btn);
    btn.addEventListener('click', () => { btn.remove(); start(); });
  } else {
    start();
  }

  async function start() {
    const abort = new AbortController();
    const download = fetchModel(el.dataset.src, abort.signal, say);
    download.catch(() => {}); // awaited below, unless WebGL is missing
    el.dataset.state = 'loading';
    say('Loading 3D model…');

    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    const deviceSize = () => [Math.max(1, Math.round(stage.clientWidth * ratio)), Math.max(1, Math.round(stage.clientHeight * ratio))];
    [canvas.width, canvas.height] = deviceSize();
    let renderer;
    try {
      renderer = new THREE.WebGLRenderer({ canvas, antialias: ratio < 2, preserveDrawingBuffer: true, alpha: true });
    } catch (err) {
      abort.abort();
      el.dataset.state = 'no-webgl';
      say('The 3D view needs WebGL; this is a still preview.');
      return;
    }
    // The renderer works in device pixels (pixel ratio 1): the canvas is
    // sized here, from the stage's CSS size times ratio.
    renderer.setClearColor(0x000000, 0);

    let buf;
    try {
      buf = await download;
    } catch (err) {
      el.dataset.state = 'error';
      say(`Could not load the model (${err.message}); showing the preview.`);
      return;
    }
    let geometry;
    try {
      geometry = new STLLoader().parse(buf);
    } catch (err) {
      el.dataset.state = 'error';
      say('This file could not be read as STL; showing the preview.');
      return;
    }
    show(el, renderer, geometry, deviceSize);
  }
}

// fetchModel downloads the model, reporting progress when the size is
// known.
async function fetchModel(src, signal, say) {
  const res = await fetch(src, { signal });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const total = Number(res.headers.get('Content-Length') || 0);
  if (!res.body || total <= 0) return res.arrayBuffer();
  const reader = res.body.getReader();
  const out = new Uint8Array(total);
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > total) throw new Error('more bytes than announced');
    out.set(value, got);
    got += value.length;
    say(`Loading 3D model… ${Math.round((100 * got) / total)} %`);
  }
  return out.buffer.slice(0, got);
}

// show puts the part on the stage, draws it once, and wires up the
// controls.
function show(el, renderer, geometry, deviceSize) {
  const stage = el.querySelector('.stage');
  const canvas = el.querySelector('.viewer-canvas');
  const status = el.querySelector('.viewer-status');
  const tools = el.querySelector('.viewer-tools');
  const labels = el.querySelector('.viewer-labels');
  const preview = el.querySelector('.viewer-preview');
  geometry.computeBoundingBox();
  const bb0 = geometry.boundingBox;
  // Stand the part on the bed, centred: STL is Z-up, and so is this scene.
  geometry.translate(-(bb0.min.x + bb0.max.x) / 2, -(bb0.min.y + bb0.max.y) / 2, -bb0.min.z);
  if (!geometry.hasAttribute('normal')) geometry.computeVertexNormals();
  geometry.computeBoundingBox();
  geometry.computeBoundingSphere();
  const box = geometry.boundingBox.clone();
  const size = box.getSize(new THREE.Vector3());
  const sphere = geometry.boundingSphere;

  const scene = new THREE.Scene();
  const material = new THREE.MeshStandardMaterial({ color: 0x3f7fd9, roughness: 0.55, metalness: 0.05, side: THREE.DoubleSide });
  const mesh = new THREE.Mesh(geometry, material);
  scene.add(mesh);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8899aa, 1.6));

  const camera = new THREE.PerspectiveCamera(35, canvas.width / canvas.height, 0.1, 1000);
  camera.up.set(0, 0, 1);
  const key = new THREE.DirectionalLight(0xffffff, 1.8);
  key.position.set(0.5, 0.3, 1);
  camera.add(key);
  scene.add(camera);

  // Millimetre grid: 1, 10 or 100 mm squares, whichever suits the part.
  const span = Math.max(size.x, size.y, 1);
  const step = span < 15 ? 1 : span < 400 ? 10 : 100;
  const extent = Math.ceil((span * 1.5) / step / 2) * step * 2;
  const grid = new THREE.GridHelper(extent, extent / step, 0x8a9bb0, 0xc9d3de);
  grid.rotation.x = Math.PI / 2;
  grid.material.transparent = true;
  grid.material.opacity = 0.8;
  scene.add(grid);
  const gridNote = el.querySelector('.grid-note');
  if (gridNote) gridNote.textContent = `Grid: ${step} mm squares`;

  const boxHelper = new THREE.Box3Helper(box, 0x16202b);
  boxHelper.visible = false;
  scene.add(boxHelper);
  const dimLabels = [
    { axis: 'x', text: `X ${size.x.toFixed(1)} mm`, at: () => new THREE.Vector3(0, box.min.y, box.min.z) },
    { axis: 'y', text: `Y ${size.y.toFixed(1)} mm`, at: () => new THREE.Vector3(box.max.x, 0, box.min.z) },
    { axis: 'z', text: `Z ${size.z.toFixed(1)} mm`, at: () => new THREE.Vector3(box.min.x, box.min.y, (box.min.z + box.max.z) / 2) },
  ].map((d) => {
    const span = document.createElement('span');
    span.className = `dim-label ${d.axis}`;
    span.textContent = d.text;
    span.hidden = true;
    labels.appendChild(span);
    return { ...d, el: span };
  });

  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = false;
  controls.screenSpacePanning = true;
  controls.listenToKeyEvents(canvas);
  controls.keyPanSpeed = 20;

  const center = new THREE.Vector3(0, 0, size.z / 2);
  const home = new THREE.Vector3(1, -1.35, 0.95).normalize();
  function fit(direction) {
    const dir = direction || camera.position.clone().sub(controls.target).normalize();
    const fov = THREE.MathUtils.degToRad(camera.fov);
    const fitH = sphere.radius / Math.sin(fov / 2);
    const fitW = sphere.radius / Math.sin(Math.atan(Math.tan(fov / 2) * camera.aspect));
    const dist = Math.max(fitH, fitW) * 1.08;
    controls.target.copy(center);
    camera.position.copy(center).addScaledVector(dir, dist);
    camera.near = Math.max(dist / 1000, 0.01);
    camera.far = dist * 20 + extent * 4;
    camera.updateProjectionMatrix();
    controls.maxDistance = camera.far / 2;
    controls.update();
    draw();
  }

  let frame = 0;
  function draw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      renderer.render(scene, camera);
      if (boxHelper.visible) placeLabels();
    });
  }
  function placeLabels() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    for (const d of dimLabels) {
      const p = d.at().project(camera);
      d.el.hidden = p.z > 1;
      d.el.style.left = `${((p.x + 1) / 2) * w}px`;
      d.el.style.top = `${((1 - p.y) / 2) * h}px`;
    }
  }
  function resize() {
    if (!stage.clientWidth || !stage.clientHeight) return;
    const [w, h] = deviceSize();
    if (w === canvas.width && h === canvas.height) return;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    draw();
  }

  controls.addEventListener('change', draw);

  const actions = {
    reset: () => fit(home),
    fit: () => fit(),
    wireframe: (btn) => { material.wireframe = !material.wireframe; press(btn, material.wireframe); draw(); },
    dims: (btn) => {
      boxHelper.visible = !boxHelper.visible;
      for (const d of dimLabels) d.el.hidden = !boxHelper.visible;
      press(btn, boxHelper.visible);
      draw();
    },
    grid: (btn) => { grid.visible = !grid.visible; press(btn, grid.visible); draw(); },
  };
  const keys = { r: 'reset', f: 'fit', w: 'wireframe', d: 'dims', g: 'grid' };
  function press(btn, on) { if (btn) btn.setAttribute('aria-pressed', String(on)); }
  tools.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (btn) actions[btn.dataset.action](btn);
  });
  el.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest('input, select, textarea')) return;
    const name = keys[ev.key.toLowerCase()];
    if (!name) return;
    ev.preventDefault();
    actions[name](tools.querySelector(`button[data-action="${name}"]`));
  });

  canvas.hidden = false;
  tools.hidden = false;
  resize();
  fit(home);
  // One picture now; the frames fit and resize asked for would repeat it.
  if (frame) {
    cancelAnimationFrame(frame);
    frame = 0;
  }
  renderer.render(scene, camera);
  new ResizeObserver(resize).observe(stage);
  if (preview) {
    preview.hidden = true;
    preview.style.display = 'none';
  }
  el.dataset.state = 'ready';
  el.dataset.triangles = String(geometry.attributes.position.count / 3);
  status.textContent = '';
}
