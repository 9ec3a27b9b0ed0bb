/*
 * Loads the tab's own htmx (2.x) only when the host's page has none.
 *
 * A host whose base template already loads htmx (1.x or 2.x) keeps it: two
 * htmx instances on one page would both answer every history event, and the
 * Back button would restore the wrong period. The tab's markup uses only
 * attributes and headers that htmx 1.9 and 2.x share. The script is included
 * where the plugin's own htmx would be (parser-blocking, at the end of the
 * body), so document.write inserts htmx exactly there, before analytics.js,
 * and htmx initialises on DOMContentLoaded as usual; a script added any other
 * way could run after DOMContentLoaded, when htmx 2.x would never start.
 * Same-origin, no inline code: allowed by script-src 'self'.
 */
(function () {
  'use strict';
  if (window.htmx) {
    document.documentElement.setAttribute('data-aa-htmx', 'host');
    return;
  }
  var src = document.currentScript && document.currentScript.getAttribute('data-htmx-src');
  if (src) {
    document.documentElement.setAttribute('data-aa-htmx', 'plugin');
    document.write('<script src="' + src.replace(/"/g, '&quot;') + '"><\/script>');
  }
})();
