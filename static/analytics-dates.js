/*
 * The period's date inputs: ISO dates (YYYY-MM-DD) whatever the browser's locale.
 *
 * The inputs are plain text (templates/.../partials/_dates.html), so what the
 * user sees and types is what the URL and every panel say. This script adds
 * what a native date input would have given:
 *
 * - ArrowUp / ArrowDown step the date by a day (with Shift, by a week), and
 *   the change applies like a typed one (the form's "change delay" debounces
 *   a held key into one request);
 * - 20260301 (a phone's digits-only keypad) becomes 2026-03-01 before the
 *   form is sent (the server reads both forms alike);
 * - a calendar button beside each input opens the browser's own date picker
 *   on a hidden date input and writes the chosen day back as ISO text: a
 *   date input's value is ISO in every locale, only its display follows it.
 *
 * Without this script the inputs still take typed dates, and a malformed one
 * gets the tab's error box from the server.
 */
(function () {
  'use strict';

  var ISO = /^(\d{4})-(\d{2})-(\d{2})$/;
  var COMPACT = /^(\d{4})(\d{2})(\d{2})$/;
  var DAY_MS = 86400000;

  function parse(text) {
    var m = ISO.exec(text);
    if (!m) {
      return null;
    }
    var day = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    // Date.UTC rolls 2026-02-30 over into March: such a day is not a date.
    return day.getUTCMonth() === +m[2] - 1 && day.getUTCDate() === +m[3] ? day : null;
  }

  function format(day) {
    return day.toISOString().slice(0, 10);
  }

  function yesterday() {
    return new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS);
  }

  function normalise(input) {
    var m = COMPACT.exec(input.value.trim());
    if (m) {
      input.value = m[1] + '-' + m[2] + '-' + m[3];
    } else if (input.value !== input.value.trim()) {
      input.value = input.value.trim();
    }
  }

  function changed(input) {
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }

  function isDateInput(element) {
    return element && element.matches && element.matches('input[data-aa-date]');
  }

  document.addEventListener('keydown', function (event) {
    var input = event.target;
    if (!isDateInput(input) || (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') ||
        event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    event.preventDefault();
    normalise(input);
    var day = parse(input.value) || yesterday();
    var step = (event.key === 'ArrowUp' ? 1 : -1) * (event.shiftKey ? 7 : 1);
    input.value = format(new Date(day.getTime() + step * DAY_MS));
    changed(input);
  });

  // Capture phase: runs before htmx (on the form) reads the values.
  document.addEventListener('change', function (event) {
    if (isDateInput(event.target)) {
      normalise(event.target);
    }
  }, true);
  document.addEventListener('submit', function (event) {
    if (event.target && event.target.querySelectorAll) {
      event.target.querySelectorAll('input[data-aa-date]').forEach(normalise);
    }
  }, true);

  // Drawn, not an emoji: not every system has a font with one.
  function calendarIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('width', '16');
    svg.setAttribute('height', '16');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M2.5 3.5h11v10h-11z M2.5 6.5h11 M5 2v3 M11 2v3 M5 9h2 M9 9h2 M5 11.5h2');
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '1.3');
    svg.appendChild(path);
    return svg;
  }

  // The picker: a button and a hidden date input beside each text input, added once per input.
  function addPicker(input) {
    var holder = input.parentElement;
    if (!holder || holder.querySelector('.aa-date-pick')) {
      return;
    }
    var native = document.createElement('input');
    native.type = 'date';
    native.className = 'aa-date-native';
    native.tabIndex = -1;
    native.setAttribute('aria-hidden', 'true');
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'aa-date-pick';
    var label = document.querySelector('label[for="' + input.id + '"]');
    var name = label ? label.firstChild.textContent.trim() : input.name;
    button.setAttribute('aria-label', 'Choose the ' + name.toLowerCase() + ' date from a calendar');
    button.setAttribute('aria-controls', input.id);
    button.appendChild(calendarIcon());
    button.addEventListener('click', function () {
      normalise(input);
      native.value = parse(input.value) ? input.value : '';
      if (typeof native.showPicker === 'function') {
        try {
          native.showPicker();
          return;
        } catch (e) {
          // Not allowed here (no user activation, say): fall back to the input itself.
        }
      }
      native.focus();
    });
    native.addEventListener('change', function (event) {
      event.stopPropagation(); // the form hears the text input's change, not this one
      if (native.value) {
        input.value = native.value; // ISO in every locale
        changed(input);
        input.focus();
      }
    });
    holder.appendChild(button);
    holder.appendChild(native);
  }

  function enhance(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    if (isDateInput(root)) {
      addPicker(root);
    }
    root.querySelectorAll('input[data-aa-date]').forEach(addPicker);
  }

  // htmx:load also fires for the dates swapped in out of band after a preset.
  document.addEventListener('htmx:load', function (event) {
    enhance(event.detail && event.detail.elt);
  });
  if (document.readyState !== 'loading') {
    enhance(document.body);
  } else {
    document.addEventListener('DOMContentLoaded', function () {
      enhance(document.body);
    });
  }
})();
