// Configuración: a plugin's list of rows (tiers, cashback programs, packs, punch cards)
// grows and shrinks in place. The "add" and "remove" buttons are submit buttons that,
// without JavaScript, redraw the page on the server without saving; here they act
// at once. A new row is a copy of the list's <template>, its "__index__" replaced by
// an index no other row of the page has used.
(function () {
  "use strict";

  function renumber(list) {
    var legends = list.querySelectorAll(".rows-items > .row > legend");
    for (var i = 0; i < legends.length; i++) {
      legends[i].textContent = list.dataset.item + " " + (i + 1);
    }
  }

  function add(list) {
    var index = String(list.dataset.next);
    list.dataset.next = String(Number(list.dataset.next) + 1);
    var html = list.querySelector("template").innerHTML.split("__index__").join(index);
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var row = holder.firstElementChild;
    list.querySelector(".rows-items").appendChild(row);
    renumber(list);
    var first = row.querySelector("input:not([type=hidden]), select");
    if (first) first.focus();
  }

  function remove(row) {
    var list = row.closest(".rows-list");
    var next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber(list);
    var focus = next && next.querySelector("input:not([type=hidden]), select");
    (focus || list.querySelector("button")).focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[value^='add:'], button[value^='remove:']");
    if (!button || !button.closest(".rows-list")) return;
    event.preventDefault();
    if (button.value.indexOf("add:") === 0) {
      add(button.closest(".rows-list"));
    } else {
      remove(button.closest(".row"));
    }
  });
})();
