// Live SMS counts and server previews for the review sheet. Same rules as pipeline/review/sms.py.
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

  function csrf(form) { return form.querySelector("input[name=csrf_token]").value; }

  function wire(form) {
    const area = form.querySelector("textarea");
    const out = form.querySelector("[data-count]");
    const target = form.querySelector("[data-preview-target]");
    let timer = null, seq = 0;
    area.addEventListener("input", () => {
      out.textContent = describe(smsCount(area.value));
      form.closest(".slot").classList.add("dirty");
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const mine = ++seq;
        const body = new URLSearchParams({ text: area.value });
        const res = await fetch(form.dataset.preview, {
          method: "POST", body, credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf(form), "X-Requested-With": "fetch" },
        });
        if (res.ok && mine === seq && target) target.innerHTML = await res.text();  // server-escaped
      }, 400);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form.editor").forEach(wire);
    window.addEventListener("beforeunload", (e) => {
      if (document.querySelector(".slot.dirty") && !window.zipcastSubmitting) e.preventDefault();
    });
    document.addEventListener("submit", () => { window.zipcastSubmitting = true; });
  });
})();
