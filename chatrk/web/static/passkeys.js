// Passkeys (WebAuthn): asks the server for options, runs the browser's ceremony, and posts the answer
// in the form's hidden "credential" field. Binary values travel as base64url, as the server expects.
(function () {
  "use strict";

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((c) => Object.assign({}, c, { id: fromBase64url(c.id) }));
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      allowCredentials: withIds(json.allowCredentials),
    });
  }

  function registrationJSON(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        attestationObject: toBase64url(response.attestationObject),
        transports: typeof response.getTransports === "function" ? response.getTransports() : [],
      },
    };
  }

  function assertionJSON(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
      },
    };
  }

  function explain(error) {
    switch (error && error.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Try again when you are ready.";
      case "InvalidStateError":
        return "This device already holds a passkey for your account.";
      case "SecurityError":
        return "This browser refused passkeys for this address. Open Chatrk at its usual address.";
      case "NotSupportedError":
        return "This device has no passkey that Chatrk can use.";
      default:
        return "The passkey did not work. Try again, or use a code instead.";
    }
  }

  async function ceremony(form, say) {
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const reply = await fetch(form.dataset.optionsUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      credentials: "same-origin",
    });
    const options = await reply.json().catch(() => ({ error: "The server did not answer. Try again." }));
    if (!reply.ok) {
      say(options.error || "The server refused the request. Reload the page and try again.");
      return null;
    }
    if (form.dataset.passkey === "register") {
      return registrationJSON(await navigator.credentials.create({ publicKey: creationOptions(options) }));
    }
    return assertionJSON(await navigator.credentials.get({ publicKey: requestOptions(options) }));
  }

  function wire(form) {
    const status = form.querySelector("[data-passkey-status]");
    const button = form.querySelector("button[type=submit]");
    const say = (text) => { status.textContent = text; };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!window.PublicKeyCredential || !navigator.credentials) {
        say("This browser cannot use passkeys. Use a code from your authenticator app instead.");
        return;
      }
      if (!form.reportValidity()) return;
      say("");
      button.disabled = true;
      try {
        const answer = await ceremony(form, say);
        if (answer) {
          form.querySelector("input[name=credential]").value = JSON.stringify(answer);
          form.submit();
          return;
        }
      } catch (error) {
        say(explain(error));
      }
      button.disabled = false;
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(wire);
})();
