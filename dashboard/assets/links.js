// Links inside Markdown tables (dashboard.components.md_table) are plain <a> elements: a
// click would reload the whole app. Navigate inside it instead, as dcc.Link does (push
// the URL, tell dcc.Location). Modified clicks (new tab, new window) keep their default.
document.addEventListener("click", function (e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
    return;
  }
  var a = e.target && e.target.closest ? e.target.closest(".md-table a[href^='/']") : null;
  if (!a || a.target) {
    return;
  }
  e.preventDefault();
  window.history.pushState({}, "", a.getAttribute("href"));
  window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
  window.scrollTo(0, 0);
});
