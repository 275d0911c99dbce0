/* tousu portal: live triage preview while typing, upload checks, the letter's copy button, and a guard
 * against double submits. Every page works without this file; it only adds to them. No external code. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 600;

  function byId(id) {
    return document.getElementById(id);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function fillList(list, items) {
    clear(list);
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    });
    return items.length > 0;
  }

  function badge(certainty, labels) {
    var span = document.createElement("span");
    span.className = "badge certainty-" + certainty;
    span.textContent = labels[certainty] || "未核实";
    return span;
  }

  function dateText(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    return m ? m[1] + "年" + Number(m[2]) + "月" + Number(m[3]) + "日" : "";
  }

  /* ------------------------------------------------------------------ live triage preview */

  function setUpPreview(form) {
    var text = byId("id_text");
    var panel = byId("triage-preview");
    var status = byId("preview-status");
    var count = byId("text-count");
    var labelsNode = byId("certainty-labels");
    if (!text || !panel || !window.fetch) return;
    var labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
    var url = form.getAttribute("data-preview-url");
    var minimum = Number(form.getAttribute("data-preview-min") || 15);
    var timer = null;
    var sequence = 0;
    var controller = null;
    var lastSent = "";

    function complainantType() {
      var checked = form.querySelector('input[name="complainant_type"]:checked');
      return checked ? checked.value : "unknown";
    }

    function showDeadline(deadline) {
      var dd = byId("preview-deadline");
      clear(dd);
      var due = document.createElement("strong");
      due.textContent = dateText(deadline.due) + " 前";
      dd.appendChild(document.createTextNode((deadline.name || "处理期限") + "："));
      dd.appendChild(due);
      dd.appendChild(document.createTextNode(" "));
      dd.appendChild(badge(deadline.certainty, labels));
      if (deadline.provisional) {
        dd.appendChild(document.createTextNode(" "));
        dd.appendChild(badge("UNVERIFIED", { UNVERIFIED: "暂定" }));
      }
      if (deadline.certainty !== "VERIFIED" || deadline.provisional) {
        var note = document.createElement("span");
        note.className = "hint";
        note.textContent = "（此期限的依据" + (labels[deadline.certainty] || "未核实") + "，仅供参考）";
        dd.appendChild(document.createElement("br"));
        dd.appendChild(note);
      }
    }

    function show(result) {
      byId("preview-category").textContent = result.category_name;
      var names = result.department_names || [];
      byId("preview-department").textContent =
        (names[0] || result.department) + (names.length > 1 ? "（协办：" + names.slice(1).join("、") + "）" : "");
      showDeadline(result.deadline || {});
      byId("preview-self-help-box").hidden = !fillList(byId("preview-self-help"), result.self_help || []);
      byId("preview-evidence-box").hidden = !fillList(byId("preview-evidence"), result.evidence || []);
      status.textContent = result.needs_review ? "描述还不够具体，提交后会由人工确认分类。" : "";
      panel.hidden = false;
    }

    function request() {
      var body = text.value.trim();
      var payload = JSON.stringify({ text: body, complainant_type: complainantType() });
      if (body.length < minimum || payload === lastSent) return;
      lastSent = payload;
      var mine = ++sequence;
      if (controller) controller.abort();
      controller = window.AbortController ? new AbortController() : null;
      var token = form.querySelector('input[name="csrfmiddlewaretoken"]');
      panel.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
        body: payload,
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          return response.json().then(function (data) {
            return { ok: response.ok, data: data };
          });
        })
        .then(function (answer) {
          if (mine !== sequence) return;
          panel.removeAttribute("aria-busy");
          if (answer.ok) {
            show(answer.data);
          } else {
            lastSent = "";
            status.textContent = (answer.data.error && answer.data.error.message) || "暂时无法预判，不影响提交。";
          }
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return;
          if (mine !== sequence) return;
          lastSent = "";
          panel.removeAttribute("aria-busy");
          status.textContent = "暂时无法预判，不影响提交。";
        });
    }

    function schedule() {
      var length = text.value.trim().length;
      if (count) {
        count.textContent =
          length < minimum ? "已写 " + length + " 字，再写几个字即可看到初步判断" : "已写 " + length + " 字";
      }
      clearTimeout(timer);
      if (length >= minimum) timer = setTimeout(request, DEBOUNCE_MS);
    }

    text.addEventListener("input", schedule);
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "complainant_type") schedule();
    });
    if (text.value.trim().length >= minimum) schedule();
  }

  /* ------------------------------------------------------------------ one submit per click */

  function guardDoubleSubmit(form) {
    // The server already refuses duplicates (one-time token); this only spares a second request.
    // Buttons stay enabled so that their name/value (accept or reject) is still sent.
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return; // another check (the upload limits) stopped this submit
      if (form.getAttribute("data-submitting") === "1") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitting", "1");
    });
  }

  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-submitting]"), function (form) {
      form.removeAttribute("data-submitting");
    });
  });

  /* ------------------------------------------------------------------ evidence upload checks */

  function setUpUpload(form) {
    var input = form.querySelector('input[type="file"]');
    var message = byId("evidence-check");
    if (!input || !message) return;
    var maxFiles = Number(form.getAttribute("data-max-files") || 10);
    var maxBytes = Number(form.getAttribute("data-max-mb") || 10) * 1024 * 1024;
    var existing = Number(form.getAttribute("data-existing") || 0);

    function problem() {
      var files = input.files || [];
      if (!files.length) return "请选择要上传的文件";
      if (existing + files.length > maxFiles) return "每件投诉最多上传 " + maxFiles + " 个文件，已有 " + existing + " 个";
      for (var i = 0; i < files.length; i++) {
        if (files[i].size > maxBytes) return "文件“" + files[i].name + "”超过 " + maxBytes / 1024 / 1024 + " MB";
      }
      return "";
    }

    form.addEventListener("submit", function (event) {
      var found = problem();
      message.textContent = found;
      message.hidden = !found;
      if (found) event.preventDefault();
    });
  }

  /* ------------------------------------------------------------------ copying the letter */

  function setUpCopy(button) {
    var target = byId(button.getAttribute("data-target"));
    var status = byId("copy-status");
    if (!target) return;
    button.hidden = false;

    function done(ok) {
      if (status) status.textContent = ok ? "已复制" : "复制失败，请长按文字手动复制";
    }

    button.addEventListener("click", function () {
      var text = target.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () {
            done(true);
          },
          function () {
            done(false);
          }
        );
        return;
      }
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      done(ok);
    });
  }

  /* ------------------------------------------------------------------ start */

  function start() {
    var submitForm = byId("submit-form");
    if (submitForm) setUpPreview(submitForm);
    var uploadForm = byId("evidence-form");
    if (uploadForm) setUpUpload(uploadForm);
    Array.prototype.forEach.call(document.querySelectorAll("form[method='post']"), guardDoubleSubmit);
    var copy = byId("copy-letter");
    if (copy) setUpCopy(copy);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
