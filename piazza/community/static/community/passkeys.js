/* Passkeys in Il mio spazio (docs/dev/passkeys.md): plain navigator.credentials with base64url
   helpers, no library, no inline script (CSP). Without WebAuthn or JavaScript nothing of this is
   shown and the emailed link works as before. The server (py_webauthn) checks everything. */
(function () {
  "use strict";

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken(element) {
    var input = element.querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, element, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(element) },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || "");
          error.fromServer = !!data.error;
          throw error;
        }
        return data;
      });
    });
  }

  function creationOptions(json) {
    var o = json;
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(json) {
    var o = json;
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function registrationJSON(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON),
        attestationObject: toText(r.attestationObject),
        transports: typeof r.getTransports === "function" ? r.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || null,
    };
  }

  function assertionJSON(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON),
        authenticatorData: toText(r.authenticatorData),
        signature: toText(r.signature),
        userHandle: toText(r.userHandle),
      },
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || null,
    };
  }

  function show(box, message) {
    var slot = box.querySelector("[data-passkey-error]");
    if (!slot) return;
    slot.textContent = message || "";
    slot.hidden = !message;
  }

  function explain(box, error) {
    if (error && error.fromServer) return show(box, error.message);
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return show(box, box.dataset.msgCancelled);
    }
    show(box, box.dataset.msgFailed);
  }

  /* The door: "Accedi con una passkey", and the passkeys offered in the email field where the
     browser can (conditional UI). One ceremony at a time: the button aborts a conditional request
     still waiting for the person, and does nothing once a passkey has been chosen (it is being
     checked, then the page moves on). */
  function setUpSignIn(box) {
    var button = box.querySelector("[data-passkey-start]");
    var pending = null;
    var chosen = false;

    function signIn(mediation) {
      var controller = new AbortController();
      var run = post(box.dataset.optionsUrl, box).then(function (options) {
        var request = { publicKey: requestOptions(options), signal: controller.signal };
        if (mediation) request.mediation = mediation;
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (!credential) throw Object.assign(new Error(""), { name: "NotAllowedError" });
        chosen = true;
        button.disabled = true;
        return post(box.dataset.verifyUrl, box, { credential: assertionJSON(credential) }).catch(function (error) {
          chosen = false;
          button.disabled = false;
          throw error;
        });
      }).then(function (data) {
        window.location.assign(data.redirect);
      });
      return { controller: controller, done: run };
    }

    button.addEventListener("click", function () {
      if (chosen) return;
      show(box, "");
      var before = pending;
      pending = null;
      var wait = Promise.resolve();
      if (before) {
        before.controller.abort();
        wait = before.done.catch(function () {});
      }
      button.disabled = true;
      wait.then(function () {
        if (chosen) return null;
        return signIn(null).done;
      }).catch(function (error) {
        explain(box, error);
      }).then(function () {
        if (!chosen) button.disabled = false;
      });
    });

    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available || pending || button.disabled) return;
        pending = signIn("conditional");
        pending.done.catch(function (error) {
          if (error && error.fromServer) explain(box, error);
        });
      }).catch(function () {});
    }
  }

  function setUpRegistration(form) {
    var nameInput = form.querySelector("input[name=name]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(form, "");
      var name = (nameInput.value || "").trim();
      if (!name) {
        show(form, form.dataset.msgName);
        nameInput.focus();
        return;
      }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      post(form.dataset.optionsUrl, form).then(function (options) {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      }).then(function (credential) {
        return post(form.dataset.verifyUrl, form, { name: name, credential: registrationJSON(credential) });
      }).then(function (data) {
        window.location.assign(data.redirect);
      }).catch(function (error) {
        explain(form, error);
        button.disabled = false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!supported()) return;
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) { note.hidden = true; });
    document.querySelectorAll("[data-passkey-sign-in]").forEach(function (box) {
      box.hidden = false;
      setUpSignIn(box);
    });
    document.querySelectorAll("[data-passkey-register]").forEach(function (form) {
      form.hidden = false;
      setUpRegistration(form);
    });
  });
})();
