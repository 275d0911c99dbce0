// Staff console: reply templates fill their textarea. Everything works without this script too.
(function () {
  "use strict";
  document.querySelectorAll("select[data-fills]").forEach(function (select) {
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var target = document.getElementById(select.dataset.fills);
      if (!target || !option || !option.dataset.body) return;
      if (target.value.trim() && !window.confirm("用模板替换已输入的内容？")) return;
      target.value = option.dataset.body;
      target.focus();
    });
  });
})();
