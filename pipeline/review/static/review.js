// The review sheet's script: live SMS counts, fact check and preview as you type, saving one
// row without reloading the page (so text typed in other rows stays), unsaved-row markers and
// a warning before leaving, keyboard shortcuts, filters and sorting, who is on which slot, and
// the comment thread. Without it the sheet still works with plain forms.
// SMS rules: the same as pipeline/editorial/sms.py (tests check both agree).
"use strict";
(function () {
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const EXTENSION = "\f^{}\\[~]|€";
  const LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  function smsCount(text) {
    const chars = Array.from(text);  // code points, like Python's str
    let encoding = "GSM-7", trigger = null;
    for (const c of chars) {
      if (!BASIC.includes(c) && !EXTENSION.includes(c)) { encoding = "UCS-2"; trigger = c; break; }
    }
    const costs = chars.map(c => encoding === "GSM-7"
      ? (EXTENSION.includes(c) ? 2 : 1) : (c.codePointAt(0) > 0xFFFF ? 2 : 1));
    const units = costs.reduce((a, b) => a + b, 0);
    const [single, part] = LIMITS[encoding];
    let segments = 0;
    if (units > 0 && units <= single) segments = 1;
    if (units > single) {
      let used = 0; segments = 1;
      for (const cost of costs) { if (used + cost > part) { segments += 1; used = 0; } used += cost; }
    }
    return { encoding, characters: chars.length, units, segments, trigger };
  }
  window.zipcastSmsCount = smsCount;

  function describe(n) {
    let s = `${n.characters} characters · ${n.encoding} · ${n.segments} SMS`;
    if (n.trigger) {
      const hex = n.trigger.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      s += ` · ${n.trigger} (U+${hex}) forces UCS-2`;
    }
    return s;
  }

  function token() {
    const input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }
  const HEADERS = () => ({ "X-CSRF-Token": token(), "X-Requested-With": "fetch" });

  // -- one row ------------------------------------------------------------------------------
  function markDirty(row) {
    const area = row.querySelector("form.editor textarea");
    if (!area) return;
    row.classList.toggle("dirty", area.value !== area.dataset.saved);
  }

  function say(row, text) {  // a problem reaching the server: shown in the row, text kept
    let box = row.querySelector(".flash.client");
    if (!box) {
      box = document.createElement("div");
      box.className = "flash error client";
      box.setAttribute("role", "alert");
      row.querySelector("form.editor .buttons").after(box);
    }
    box.textContent = text;
  }

  async function send(form, submitter) {
    const row = form.closest(".slot");
    const body = new FormData(form);
    if (submitter && submitter.name) body.set(submitter.name, submitter.value);
    let res;
    try {
      res = await fetch(form.getAttribute("action"), { method: "POST", body, credentials: "same-origin",
                                       headers: HEADERS() });
    } catch (err) {
      say(row, "Not saved: the server did not answer. Your text is still here; try again.");
      return;
    }
    const html = await res.text();
    const holder = document.createElement("template");
    holder.innerHTML = html;  // server-rendered and escaped
    const fresh = holder.content.querySelector("article.slot");
    if (!fresh) {
      say(row, res.status === 401 || res.status === 403 || res.redirected
        ? "Not saved: your session ended. Sign in again in another tab, then save: your text is still here."
        : `Not saved (${res.status}). Your text is still here; try again.`);
      return;
    }
    const hidden = row.hidden;
    row.replaceWith(fresh);
    fresh.hidden = hidden;
    wireRow(fresh);
    markDirty(fresh);
    const title = fresh.querySelector(".slot-title");
    if (title) title.scrollIntoView({ block: "nearest" });
    const flash = fresh.querySelector(".flash textarea, .flash button");
    (flash || fresh.querySelector("form.editor textarea")).focus({ preventScroll: true });
    updateCounts();
  }

  function wireEditor(form) {
    const row = form.closest(".slot");
    const area = form.querySelector("textarea[name=text]");
    const out = form.querySelector("[data-count]");
    const target = form.querySelector("[data-preview-target]");
    let timer = null, seq = 0;
    area.addEventListener("input", () => {
      out.textContent = describe(smsCount(area.value));
      markDirty(row);
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const mine = ++seq;
        const body = new URLSearchParams({ text: area.value });
        try {
          const res = await fetch(form.dataset.preview, { method: "POST", body,
                                   credentials: "same-origin", headers: HEADERS() });
          if (res.ok && mine === seq && target) target.innerHTML = await res.text();  // escaped
        } catch (err) { /* the preview is a help; saving reports its own errors */ }
      }, 300);
    });
    area.addEventListener("focus", () => reportPresence(row.dataset.slot));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      send(form, e.submitter);
    });
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        const value = e.shiftKey ? "approve" : "save";
        send(form, form.querySelector(`button[name=action][value=${value}]`));
      }
    });
    const next = form.querySelector("[data-next]");
    if (next) { next.hidden = false; next.addEventListener("click", () => nextUnapproved(row)); }
  }

  function wireRow(row) {
    const form = row.querySelector("form.editor");
    if (form) wireEditor(form);
    const copy = row.querySelector("form.copy-previous");
    if (copy) copy.addEventListener("submit", (e) => { e.preventDefault(); send(copy, e.submitter); });
    const thread = row.querySelector("details.thread");
    if (thread) thread.addEventListener("toggle", () => { if (thread.open) loadThread(thread); });
  }

  // -- comments and history --------------------------------------------------------------
  async function loadThread(details, response) {
    const target = details.querySelector("[data-thread-target]");
    let res = response;
    try {
      res = res || await fetch(details.dataset.thread, { credentials: "same-origin",
                                                         headers: HEADERS() });
    } catch (err) {
      target.textContent = "Could not reach the server; open the thread again in a moment.";
      return;
    }
    const html = await res.text();
    if (!res.ok && res.status !== 422) {  // 422: the thread again, with the comment's error
      target.textContent = `Could not load the thread (${res.status}).`;
      return;
    }
    target.innerHTML = html;  // server-rendered and escaped
    const form = target.querySelector("form.comment");
    if (form) form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        loadThread(details, await fetch(form.getAttribute("action"), {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: HEADERS() }));
      } catch (err) {
        target.insertAdjacentText("beforeend", " Not sent: the server did not answer.");
      }
    });
  }

  // -- moving around -----------------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll(".sheet article.slot")); }

  function nextUnapproved(from) {
    const all = rows().filter(r => !r.hidden);
    const start = from ? all.indexOf(from) + 1 : 0;
    const order = all.slice(start).concat(all.slice(0, start));
    const next = order.find(r => r.dataset.status !== "approved" && r !== from);
    if (!next) { alert("Every shown slot is approved."); return; }
    next.scrollIntoView({ block: "start" });
    next.querySelector("form.editor textarea").focus({ preventScroll: true });
  }

  function current() {
    const el = document.activeElement;
    return el && el.closest ? el.closest("article.slot") : null;
  }

  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.tagName === "SELECT");
  }

  // -- filter and sort ---------------------------------------------------------------------
  function applyToolbar(bar) {
    const f = Object.fromEntries(new FormData(bar).entries());
    const sheet = document.querySelector(".sheet");
    let shown = 0;
    for (const row of rows()) {
      const status = row.dataset.status;
      const hazards = row.dataset.hazards ? row.dataset.hazards.split(",") : [];
      const ok = (!f.status || (f.status === "unapproved" ? status !== "approved" : status === f.status))
        && (!f.state || row.dataset.states.split(" ").includes(f.state))
        && (!f.hazard || (f.hazard === "none" ? hazards.length === 0 : hazards.includes(f.hazard)));
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    const key = { audience: r => -Number(r.dataset.audience) * 1e6 - Number(r.dataset.zips),
                  zips: r => -Number(r.dataset.zips), rank: r => Number(r.dataset.rank),
                  cost: r => -Number(r.dataset.cost),
                  status: r => ({ empty: 0, draft: 1, approved: 2 })[r.dataset.status] }[f.sort];
    if (key) rows().sort((a, b) => key(a) - key(b)).forEach(r => sheet.appendChild(r));
    const label = bar.querySelector("[data-shown]");
    if (label) label.textContent = `${shown} of ${rows().length} slots shown`;
  }

  function updateCounts() {
    const counts = document.querySelector(".deadline .counts");
    if (!counts) return;
    const all = rows();
    const approved = all.filter(r => r.dataset.status === "approved").length;
    counts.textContent = `${approved} approved, ${all.length - approved} remaining`;
  }

  // -- who is where ------------------------------------------------------------------------
  let presenceSlot = "";
  async function reportPresence(slot) {
    const sheet = document.querySelector(".sheet[data-presence-url]");
    if (!sheet) return;
    if (slot !== undefined) presenceSlot = slot;
    try {
      const res = await fetch(sheet.dataset.presenceUrl, {
        method: "POST", body: new URLSearchParams({ slot: presenceSlot }),
        credentials: "same-origin", headers: HEADERS() });
      if (!res.ok) return;
      const here = await res.json();
      for (const row of rows()) {
        const names = here[row.dataset.slot] || [];
        const spot = row.querySelector("[data-presence]");
        if (spot) spot.textContent = names.length ? `✎ ${names.join(", ")} editing` : "";
        row.classList.toggle("busy", names.length > 0);
      }
    } catch (err) { /* presence is a hint */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    rows().forEach(wireRow);
    document.querySelectorAll("article.slot").forEach(r => { if (!r.closest(".sheet[data-run]")) wireRow(r); });
    const bar = document.querySelector("[data-toolbar]");
    if (bar) {
      bar.hidden = false;  // filters and sorting need the script
      bar.addEventListener("change", () => applyToolbar(bar));
      bar.addEventListener("submit", (e) => e.preventDefault());
    }
    document.addEventListener("keydown", (e) => {
      if ((e.key === "n" && !typing(document.activeElement) && !e.ctrlKey && !e.metaKey)
          || (e.altKey && (e.key === "n" || e.key === "N" || e.code === "KeyN"))) {
        e.preventDefault();
        nextUnapproved(current());
      }
    });
    window.addEventListener("beforeunload", (e) => {
      if (document.querySelector(".slot.dirty")) { e.preventDefault(); e.returnValue = ""; }
    });
    if (document.querySelector(".sheet[data-presence-url]")) {
      reportPresence("");
      setInterval(() => reportPresence(), 15000);
    }
  });
})();
