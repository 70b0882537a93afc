// The printout's Print button (a file, not inline: the Content-Security-Policy allows no
// inline script).
"use strict";
const printButton = document.getElementById("print-now");
if (printButton) {
  printButton.addEventListener("click", () => window.print());
}
