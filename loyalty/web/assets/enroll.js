// The enrollment widget (docs/loyalty.md "The page"). The card number is checked with Luhn as it
// is typed and leaves the browser only sealed with WebCrypto to cardswitch's key: a fresh
// AES-256-GCM key encrypts it, RSA-OAEP-256 wraps that key, and the page sends the seed's
// {"key","data"}. The outcome is shown and fired as the enrollmentEnded event.
(function () {
  'use strict';
  var body = document.body;
  var form = document.getElementById('enroll-form');
  if (!form) { return; }
  var action = body.dataset.action;
  var card = document.getElementById('card-number');
  var cardError = document.getElementById('card-error');
  var first = document.getElementById('first-name');
  var terms = document.getElementById('accept-terms');
  var confirm = document.getElementById('confirm');

  function digits(s) { return s.replace(/\D/g, ''); }

  function luhn(p) {
    if (p.length < 12 || p.length > 19) { return false; }
    var sum = 0;
    for (var i = 0; i < p.length; i++) {
      var d = p.charCodeAt(p.length - 1 - i) - 48;
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function picked() {
    var r = form.querySelector('input[name=card]:checked');
    return r ? r.value : '';
  }

  function cardValid() { return card ? luhn(digits(card.value)) : true; }

  function update() {
    var ok = cardValid();
    if (action === 'N') { ok = ok && first.value.trim() !== '' && terms.checked; }
    if (action === 'R' || action === 'C') { ok = ok && picked() !== ''; }
    confirm.disabled = !ok;
  }

  if (card) {
    card.addEventListener('input', function () {
      var d = digits(card.value).slice(0, 19);
      card.value = d.replace(/(\d{4})(?=\d)/g, '$1 ');
      var bad = d.length >= 12 && !luhn(d);
      bad = bad || (d.length >= 16 && !luhn(d));
      cardError.hidden = !bad;
      card.classList.toggle('invalid', bad);
      card.setAttribute('aria-invalid', bad ? 'true' : 'false');
      update();
    });
  }
  form.addEventListener('input', update);
  form.addEventListener('change', update);

  function b64(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
    return btoa(s);
  }

  function unb64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  async function seal(pan) {
    var rsa = await crypto.subtle.importKey('spki', unb64(body.dataset.key), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
    var aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    var iv = crypto.getRandomValues(new Uint8Array(12));
    var ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv }, aes, new TextEncoder().encode(pan));
    var wrapped = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, rsa, await crypto.subtle.exportKey('raw', aes));
    var data = new Uint8Array(12 + ct.byteLength);
    data.set(iv, 0);
    data.set(new Uint8Array(ct), 12);
    return { key: b64(wrapped), data: b64(data) };
  }

  function show(result) {
    form.hidden = true;
    var ok = result.status.indexOf('SUCCESS_') === 0;
    document.getElementById(ok ? 'success' : 'error').hidden = false;
    if (!ok) { document.getElementById('incident').textContent = result.incidentId || result.statusCode || ''; }
    body.dataset.status = result.status;
    window.enrollmentResult = result;
    window.dispatchEvent(new CustomEvent('enrollmentEnded', { detail: result }));
    // Mobile webviews (seed §3.3): the native bridges, when the app installed them.
    if (window.Android && typeof window.Android.showMessage === 'function') { window.Android.showMessage(JSON.stringify(result)); }
    if (window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.payment) {
      window.webkit.messageHandlers.payment.postMessage({ status: result.status, detail: result });
    }
  }

  form.addEventListener('submit', async function (e) {
    e.preventDefault();
    if (confirm.disabled) { return; }
    confirm.disabled = true;
    var payload = { cardId: picked() };
    try {
      if (card) {
        payload.pan = await seal(digits(card.value));
        card.value = ''; // the clear number does not stay in the page
      }
      if (action === 'N') {
        payload.firstName = first.value;
        payload.lastName = document.getElementById('last-name').value;
        payload.email = document.getElementById('email').value;
        payload.acceptTerms = terms.checked;
      }
      var resp = await fetch(window.location.pathname, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify(payload), credentials: 'same-origin'
      });
      var result = await resp.json();
      if (!result.status) { result = { status: 'FAILED', incidentId: result.code || String(resp.status) }; }
      show(result);
    } catch (err) {
      show({ status: 'FAILED', incidentId: 'BROWSER' });
    }
  });
  update();
}());
