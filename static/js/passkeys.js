// Passkeys: the browser's half of WebAuthn for forms marked data-passkey ("register",
// "join", "sign-in", "second-step"). On submit it asks the form's data-options URL for
// options (posting the form's fields, and for "join" the name, phone and time zone of
// the form whose id is in data-account, so the app checks them before the prompt), hands them to navigator.credentials (create or get), and posts the answer
// as JSON to the form's action with the CSRF token in a header, then follows the
// redirect the app answers with, or shows its error in the form. A static file: the
// Content-Security-Policy allows no inline script (app/security.py).
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }

  // The app's JSON options (base64url strings) as the ArrayBuffers WebAuthn wants.
  function publicKey(options) {
    options.challenge = toBytes(options.challenge);
    if (options.user) options.user.id = toBytes(options.user.id);
    if (options.excludeCredentials) options.excludeCredentials = descriptors(options.excludeCredentials);
    if (options.allowCredentials) options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  // The credential as JSON, every buffer in base64url (what py_webauthn parses).
  function answer(credential) {
    var r = credential.response, response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, response: response,
             clientExtensionResults: credential.getClientExtensionResults(),
             authenticatorAttachment: credential.authenticatorAttachment || undefined };
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) throw new Error(json.error || "The passkey was not accepted.");
        return json;
      });
    });
  }

  // The fields posted with a "register" or "join" form: its own, and for "join" the
  // account's (never its passwords: a passkey stands in for them).
  function fields(form) {
    var body = {}, account = form.dataset.account && document.getElementById(form.dataset.account);
    new FormData(form).forEach(function (value, key) { if (key !== "csrf_token") body[key] = value; });
    if (account) ["name", "phone", "time_zone"].forEach(function (key) {
      var field = account.elements.namedItem(key);
      if (field) body[key] = field.value;
    });
    return body;
  }

  function run(form) {
    var kind = form.dataset.passkey, token = form.querySelector("[name=csrf_token]").value;
    var error = form.querySelector("[data-passkey-error]"), making = kind === "register" || kind === "join";
    var body = making ? fields(form) : undefined;
    error.hidden = true;
    return post(form.dataset.options, token, body).then(function (options) {
      var key = publicKey(options);
      return making ? navigator.credentials.create({ publicKey: key }) : navigator.credentials.get({ publicKey: key });
    }).then(function (credential) {
      return post(form.action, token, making ? Object.assign(body, { credential: answer(credential) })
                                            : answer(credential));
    }).then(function (json) {
      window.location.assign(json.redirect);
    }).catch(function (problem) {
      error.textContent = problem.name === "NotAllowedError"
        ? "No passkey was used (cancelled, or timed out)." : problem.message;
      error.hidden = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-passkey]")) return;
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      var error = form.querySelector("[data-passkey-error]");
      error.textContent = "This browser cannot use passkeys.";
      error.hidden = false;
      return;
    }
    run(form);
  });
})();
