// The resident's page from the token link: status history (no names, no internal notes) and the rating form.
const STATES = {
  reported: "已受理 received", registered: "已立案 registered", dispatched: "已派遣 dispatched", accepted: "处理人员已签收 accepted",
  in_progress: "处置中 in progress", handled: "已处置，待核查 handled", verified: "已核查 verified", closed: "已办结 closed",
  returned: "重新派遣中 being reassigned", reopened: "重新办理 reopened", cancelled: "已撤销 cancelled",
};
const RATINGS = { satisfied: "满意 satisfied", basically: "基本满意 mostly satisfied", not_satisfied: "不满意 not satisfied" };
const token = location.hash.slice(1);
const box = document.getElementById("case");
const form = document.getElementById("rating");
const say = document.getElementById("rating-status");

function line(text, cls) { const p = document.createElement(cls === "li" ? "li" : "p"); p.textContent = text; return p; }
const when = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });

async function load() {
  const resp = await fetch(`/api/v1/progress/${encodeURIComponent(token)}`);
  if (!resp.ok) { box.replaceChildren(line("链接无效或已过期 · This link is not known")); document.body.dataset.ready = "missing"; return; }
  const c = await resp.json();
  const list = document.createElement("ol"); list.className = "timeline"; list.id = "history";
  for (const e of c.history) list.append(line(`${when(e.at)} · ${e.kind === "resident.rating" ? "居民评价 rated" : STATES[e.to_state] || e.kind}`, "li"));
  const head = line(`#${c.id} ${c.title}`); head.className = "case-title";
  const kind = line(`${c.category_name.zh} · ${c.category_name.en}`); kind.id = "case-category";
  const st = line(`${STATES[c.state] || c.state}`); st.id = "case-state"; st.dataset.state = c.state;
  box.replaceChildren(head, kind, st, list);
  if (c.reporters > 1) { const n = line(`共 ${c.reporters} 人报告 · reported by ${c.reporters} people`); n.id = "case-reporters"; box.append(n); }
  if (c.rating) box.append(line(`您的评价 · Your rating: ${RATINGS[c.rating] || c.rating}`));
  form.hidden = !c.can_rate || !!c.rating;
  document.body.dataset.ready = "progress";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { rating: form.rating.value, comment: form.comment.value };
  const resp = await fetch(`/api/v1/progress/${encodeURIComponent(token)}/rating`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  say.textContent = resp.ok ? "谢谢您的评价 · Thank you" : `提交失败 · Not sent (${resp.status})`;
  await load();
});
load();
