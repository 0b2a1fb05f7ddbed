// The story page's player: one <audio>, the leg chosen with radio buttons
// (arrow keys move between them); the download link follows the choice.
"use strict";
(() => {
  const player = document.getElementById("player");
  if (!player) return;
  for (const radio of document.querySelectorAll('input[name="leg"]')) {
    radio.addEventListener("change", () => {
      const kind = encodeURIComponent(radio.value);
      player.pause();
      player.src = player.dataset.base + "?kind=" + kind;
      document.getElementById("download").href = player.dataset.base.replace(/\/play$/, "/download") + "?kind=" + kind;
    });
  }
})();
