// Ask before destructive form submissions (buttons with data-confirm).
// A static file because the Content-Security-Policy forbids inline script.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
