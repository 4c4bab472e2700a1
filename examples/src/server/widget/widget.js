// chatlines web chat widget: plain JavaScript, no build step. Embed it with
//   <script src="https://chat.example/widget.js" data-source="SOURCE-ID" async></script>
// Optional attributes: data-title (the panel's title); data-user-id and
// data-user-hash for a signed-in customer (the hash is the hex HMAC-SHA256 of
// the user id with the widget secret, computed on the host's server), so that
// their conversation follows them across devices.
//
// The widget starts a visitor (POST /webchat/{source}/visitor), sends
// messages and files, and follows /webchat/{source}/events (Server-Sent
// Events). Every message shown comes from that stream, so a reconnect (which
// sends the last event id) shows exactly what was missed.
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.dataset.source) {
    return;
  }
  var base = new URL(script.src, document.baseURI).origin;
  var source = script.dataset.source;
  var api = base + '/webchat/' + encodeURIComponent(source);
  var title = script.dataset.title || 'Chat with us';
  var identity = script.dataset.userId && script.dataset.userHash
    ? { user_id: script.dataset.userId, user_hash: script.dataset.userHash }
    : null;
  var storeKey = 'chatlines-webchat:' + source + (identity ? ':' + identity.user_id : '');
  var token = load();
  var seen = Object.create(null);
  var lastId = '';
  var stream = null;
  var pending = [];

  function load() {
    try { return window.localStorage.getItem(storeKey) || ''; } catch (e) { return ''; }
  }
  function save(value) {
    try { window.localStorage.setItem(storeKey, value); } catch (e) { /* private mode */ }
  }
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var css = el('link');
  css.rel = 'stylesheet';
  css.href = base + '/widget.css';
  document.head.appendChild(css);

  var launcher = el('button', 'clw-launcher', title);
  launcher.type = 'button';
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'clw-panel');
  var panel = el('section', 'clw-panel');
  panel.id = 'clw-panel';
  panel.hidden = true;
  panel.setAttribute('aria-label', title);
  panel.dataset.state = 'idle';
  var head = el('div', 'clw-head');
  head.appendChild(el('span', '', title));
  var close = el('button', '', '\u00d7');
  close.type = 'button';
  close.setAttribute('aria-label', 'Close the chat');
  head.appendChild(close);
  var log = el('ul', 'clw-log');
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  var notice = el('p', 'clw-notice');
  notice.setAttribute('role', 'status');
  var files = el('div', 'clw-files');
  var form = el('form', 'clw-form');
  var label = el('label', 'clw-sr', 'Your message');
  label.htmlFor = 'clw-text';
  var text = el('textarea');
  text.id = 'clw-text';
  text.name = 'text';
  text.rows = 1;
  text.placeholder = 'Write a message\u2026';
  var attach = el('button', 'clw-attach', '\ud83d\udcce');
  attach.type = 'button';
  attach.setAttribute('aria-label', 'Attach a file');
  var picker = el('input');
  picker.type = 'file';
  picker.hidden = true;
  var send = el('button', 'clw-send', 'Send');
  send.type = 'submit';
  form.appendChild(label);
  form.appendChild(text);
  form.appendChild(attach);
  form.appendChild(picker);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(notice);
  panel.appendChild(files);
  panel.appendChild(form);

  function mount() {
    document.body.appendChild(launcher);
    document.body.appendChild(panel);
  }
  if (document.body) { mount(); } else { document.addEventListener('DOMContentLoaded', mount); }

  function say(message) { notice.textContent = message || ''; }

  function request(method, path, body, contentType) {
    var headers = {};
    if (token) { headers['X-Webchat-Token'] = token; }
    if (contentType) { headers['Content-Type'] = contentType; }
    return fetch(api + path, {
      method: method, headers: headers, body: body, credentials: 'include', mode: 'cors'
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, data: data, retryAfter: r.headers.get('Retry-After') };
      });
    });
  }

  function start() {
    var body = JSON.stringify(identity || {});
    return request('POST', '/visitor', body, 'application/json').then(function (r) {
      if (r.status !== 200) {
        throw new Error(r.data.error || ('the chat is unavailable (HTTP ' + r.status + ')'));
      }
      token = r.data.token;
      save(token);
    });
  }

  function render(m) {
    if (seen[m.id]) { return; }
    seen[m.id] = true;
    lastId = m.id;
    var item = el('li', 'clw-msg clw-' + (m.from === 'visitor' ? 'visitor' : 'line'));
    item.dataset.from = m.from;
    if (m.from !== 'visitor') { item.appendChild(el('span', 'clw-author', m.author)); }
    item.appendChild(el('span', 'clw-text', m.text));
    (m.attachments || []).forEach(function (a) {
      item.appendChild(el('span', 'clw-file', '\ud83d\udcce ' + a.name));
    });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function follow() {
    if (stream) { stream.close(); }
    var url = api + '/events?token=' + encodeURIComponent(token) +
      (lastId ? '&after=' + encodeURIComponent(lastId) : '');
    stream = new EventSource(url, { withCredentials: true });
    stream.addEventListener('message', function (e) { render(JSON.parse(e.data)); });
    stream.addEventListener('ready', function () {
      panel.dataset.state = 'ready';
      say('');
    });
    stream.addEventListener('error', function () {
      panel.dataset.state = 'reconnecting';
      if (stream.readyState === EventSource.CLOSED) {
        // Refused (e.g. a token from a rotated secret): start anew.
        token = '';
        start().then(follow, function (err) { say(err.message); });
      }
    });
  }

  var opened = false;
  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    text.focus();
    if (opened) { return; }
    opened = true;
    panel.dataset.state = 'connecting';
    (token ? Promise.resolve() : start()).then(follow, function (err) { say(err.message); });
  }
  launcher.addEventListener('click', function () {
    if (panel.hidden) { open(); } else { panel.hidden = true; launcher.setAttribute('aria-expanded', 'false'); }
  });
  close.addEventListener('click', function () {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  });
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { close.click(); }
  });
  text.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  attach.addEventListener('click', function () { picker.click(); });
  picker.addEventListener('change', function () {
    var file = picker.files && picker.files[0];
    picker.value = '';
    if (!file) { return; }
    say('Uploading ' + file.name + '\u2026');
    request('POST', '/files?name=' + encodeURIComponent(file.name), file,
      file.type || 'application/octet-stream').then(function (r) {
      if (r.status !== 200) { say(r.data.error || 'The file was refused.'); return; }
      pending.push(r.data);
      files.textContent = pending.map(function (f) { return '\ud83d\udcce ' + f.name; }).join(', ');
      say('');
    }, function () { say('The file could not be sent; try again.'); });
  });

  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var value = text.value.trim();
    if (!value && pending.length === 0) { return; }
    var message = { id: newId(), text: value, attachments: pending };
    send.disabled = true;
    request('POST', '/messages', JSON.stringify(message), 'application/json').then(function (r) {
      send.disabled = false;
      if (r.status === 429) {
        say('Too many messages; try again in ' + (r.retryAfter || 'a few') + ' s.');
        return;
      }
      if (r.status !== 200) { say(r.data.error || 'The message was not sent.'); return; }
      text.value = '';
      pending = [];
      files.textContent = '';
      say('');
    }, function () {
      send.disabled = false;
      say('The message was not sent; check the connection and try again.');
    });
  });
}());
