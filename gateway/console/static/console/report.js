// The resident's report page: pick what is wrong, tap where (or GPS), add photos, send. No account: the answer
// is a progress link. Photos are scaled down in the browser (a phone's 10 MB picture becomes a few hundred KB,
// and re-encoding drops its EXIF, GPS included) before they leave the phone.
const form = document.getElementById("report");
const say = document.getElementById("status");
const where = document.getElementById("where");
const MAX_SIDE = 1600;
let settings = null;
let point = null;
let marker = null;
let map = null;
const photos = [];

function status(text, isError) { say.textContent = text; say.className = isError ? "error" : ""; }

function choose(lat, lon, how) {
  point = { lat, lon };
  where.textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)} · ${how}`;
  if (marker) marker.setLatLng([lat, lon]); else marker = L.marker([lat, lon]).addTo(map);
  document.body.dataset.point = "set";
}

function drawMap() {
  map = L.map("map", { attributionControl: !!settings.map.attribution });
  if (settings.map.tile_url) {
    L.tileLayer(settings.map.tile_url, { maxZoom: settings.map.max_zoom, attribution: settings.map.attribution }).addTo(map);
  }
  const outline = L.geoJSON(settings.areas, {
    style: (f) => ({ color: "#0969da", weight: f.properties.level === "district" ? 2 : 1, fillOpacity: 0.04, className: `area area-${f.properties.code}` }),
  }).addTo(map);
  if (settings.bounds) map.fitBounds(settings.bounds); else map.setView([0, 0], 2);
  map.on("click", (e) => choose(e.latlng.lat, e.latlng.lng, "地图 map"));
  outline.on("click", (e) => choose(e.latlng.lat, e.latlng.lng, "地图 map"));
}

function drawChoices() {
  const box = document.getElementById("choices");
  for (const c of settings.categories) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio"; input.name = "service"; input.value = c.code; input.required = true;
    const text = document.createElement("span");
    text.textContent = `${c.zh} · ${c.en}`;
    if (c.description) label.title = c.description;
    label.append(input, text);
    box.append(label);
  }
}

async function shrink(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { content_type: "image/jpeg", data_base64: btoa(binary), preview: URL.createObjectURL(blob) };
}

document.getElementById("photos").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  const room = settings.max_photos - photos.length;
  if (files.length > room) status(`最多 ${settings.max_photos} 张照片 · at most ${settings.max_photos} photos`, true);
  for (const file of files.slice(0, room)) {
    try {
      const photo = await shrink(file);
      photos.push(photo);
      const img = document.createElement("img"); img.src = photo.preview; img.alt = file.name;
      document.getElementById("previews").append(img);
    } catch { status(`无法读取照片 · cannot read ${file.name}`, true); }
  }
  event.target.value = "";
});

document.getElementById("locate").addEventListener("click", () => {
  if (!navigator.geolocation) { status("此浏览器不能定位 · no location on this browser: tap the map", true); return; }
  status("定位中… · locating…");
  navigator.geolocation.getCurrentPosition(
    (pos) => { choose(pos.coords.latitude, pos.coords.longitude, "GPS"); map.setView([pos.coords.latitude, pos.coords.longitude], 17); status(""); },
    () => status("无法定位，请点地图 · no location: tap the map", true),
    { enableHighAccuracy: true, timeout: 10000 },
  );
});

document.getElementById("send-code").addEventListener("click", async () => {
  const resp = await fetch("/api/v1/public/phone-codes", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ phone: form.phone.value }),
  });
  const body = await resp.json();
  status(resp.ok ? "验证码已发送 · code sent" : (body.detail || `未发送 · not sent (${resp.status})`), !resp.ok);
});

form.phone.addEventListener("input", () => {
  document.getElementById("verify").hidden = settings.phone_verification === "off" || !form.phone.value.trim();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!form.service.value) { status("请选择问题类型 · pick what is wrong", true); return; }
  if (!point) { status("请点地图选择位置 · tap the map to say where", true); return; }
  if (!form.description.value.trim()) { status("请简单描述 · say what you see", true); return; }
  const body = {
    service: form.service.value, description: form.description.value, lat: point.lat, lon: point.lon,
    photos: photos.map(({ content_type, data_base64 }) => ({ content_type, data_base64 })),
  };
  if (form.address.value.trim()) body.address = form.address.value.trim();
  if (form.phone.value.trim()) body.phone = form.phone.value.trim();
  if (form.code.value.trim()) body.code = form.code.value.trim();
  document.getElementById("submit").disabled = true;
  status("提交中… · sending…");
  try {
    const resp = await fetch("/api/v1/public/reports", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await resp.json();
    if (!resp.ok) {
      const wait = resp.headers.get("Retry-After");
      status((answer.detail || `提交失败 · not sent (${resp.status})`) + (wait ? ` (${wait} s)` : ""), true);
      return;
    }
    form.hidden = true;
    document.getElementById("done").hidden = false;
    document.getElementById("done-title").textContent = answer.duplicate ? "已有人报告 · Already reported" : "已受理 · Received";
    document.getElementById("done-message").textContent = answer.message;
    document.getElementById("done-link").href = answer.progress_url;
    document.body.dataset.ready = answer.duplicate ? "joined" : "reported";
  } catch (exc) {
    status(`网络错误 · network error: ${exc}`, true);
  } finally {
    document.getElementById("submit").disabled = false;
  }
});

async function start() {
  const resp = await fetch("/api/v1/public/intake");
  if (!resp.ok) { status("此处未开放居民上报 · reporting is not open here", true); document.body.dataset.ready = "closed"; return; }
  settings = await resp.json();
  drawChoices();
  drawMap();
  if (settings.max_photos === 0) document.getElementById("photos").closest("fieldset").hidden = true;
  document.body.dataset.ready = "form";
}
start();
