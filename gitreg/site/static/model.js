/* gitreg site: a model's page. Hovering or focusing a point of a metric trend shows its
 * version, value and stage history; ticking versions and pressing "Compare selected" opens
 * the comparison with them. Text is set with textContent only. */
(function () {
  "use strict";
  var tip = document.getElementById("trend-tip");
  function show(point) {
    if (!tip) { return; }
    tip.textContent = point.getAttribute("data-tip");
    var box = point.getBoundingClientRect();
    tip.style.left = Math.round(window.scrollX + box.left + 10) + "px";
    tip.style.top = Math.round(window.scrollY + box.top - 34) + "px";
    tip.hidden = false;
    point.classList.add("hot");
  }
  function hide(point) {
    if (tip) { tip.hidden = true; }
    point.classList.remove("hot");
  }
  Array.prototype.forEach.call(document.querySelectorAll("svg circle[data-tip]"), function (point) {
    point.addEventListener("mouseenter", function () { show(point); });
    point.addEventListener("focus", function () { show(point); });
    point.addEventListener("mouseleave", function () { hide(point); });
    point.addEventListener("blur", function () { hide(point); });
  });

  var form = document.getElementById("compare-form");
  if (form) {
    /* The page's policy allows no form submission (form-action 'none'): the script opens
     * the comparison itself. */
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var picked = form.querySelectorAll("input[name=v]:checked");
      if (picked.length < 2) {
        var hint = form.querySelector(".hint");
        if (hint) { hint.textContent = "Tick two or more versions to compare (" + picked.length + " ticked)."; }
        return;
      }
      var params = new URLSearchParams();
      Array.prototype.forEach.call(picked, function (box) { params.append("v", box.value); });
      window.location.href = form.getAttribute("data-compare") + "&" + params.toString();
    });
  }
}());
