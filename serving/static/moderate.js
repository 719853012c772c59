// Keyboard shortcuts for the moderator page. Comment text is never inserted as HTML: the server escapes it
// and this script only clicks buttons, toggles checkboxes and follows links.
(function () {
  "use strict";
  function typing(event) {
    const t = event.target;
    return t && (t.tagName === "INPUT" && t.type !== "checkbox" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function move(step) {
    const links = Array.from(document.querySelectorAll("#items a[data-item]"));
    if (!links.length) return;
    const current = document.getElementById("current");
    const at = current ? links.findIndex(a => a.dataset.item === current.dataset.item) : -1;
    const next = links[Math.min(links.length - 1, Math.max(0, at + step))];
    if (next && (!current || next.dataset.item !== current.dataset.item)) window.location.href = next.href;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    const click = id => { const el = document.getElementById(id); if (el) { event.preventDefault(); el.click(); } };
    switch (event.key) {
      case "a": click("approve"); break;
      case "r": click("reject"); break;
      case "u": event.preventDefault(); document.getElementById("undo").requestSubmit(); break;
      case "j": event.preventDefault(); move(1); break;
      case "k": event.preventDefault(); move(-1); break;
      case "1": case "2": case "3": {
        const boxes = document.querySelectorAll("#decide fieldset input[type=checkbox]");
        const box = boxes[Number(event.key) - 1];
        if (box) { event.preventDefault(); box.checked = !box.checked; }
        break;
      }
    }
  });
})();
