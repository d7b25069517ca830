/* Triage Desk chat widget loader. Embed with one line:
 *   <script src="https://HOST/widget.js" data-title="在线客服"
 *           data-customer-id="..." data-customer-signature="..." async></script>
 * It adds a chat button; the conversation runs in an iframe from HOST (styles isolated both ways).
 * Styles are set through the CSSOM, so host pages with a strict CSP (no inline styles) work too. */
(function () {
  "use strict";
  if (window.__triageWidget) return;
  var script = document.currentScript;
  if (!script) {
    var found = document.querySelectorAll('script[src*="widget.js"]');
    script = found[found.length - 1];
  }
  if (!script) return;
  var src = new URL(script.src, location.href);
  var origin = src.origin;
  var attr = function (name) { return script.getAttribute("data-" + name) || ""; };
  var title = attr("title") || "在线客服";
  var params = new URLSearchParams({ title: title });
  if (attr("customer-id")) {
    params.set("cid", attr("customer-id"));
    params.set("sig", attr("customer-signature"));
  }
  var frameUrl = new URL(src.pathname.replace(/widget\.js$/, "widget/frame") + "?" + params, origin).href;
  var OPEN_KEY = "triage-widget-open";
  var BLUE = "#1668dc";
  var open = false;
  var unread = 0;
  var locked = false;
  var savedOverflow = "";

  function css(el, styles) { for (var k in styles) el.style.setProperty(k, styles[k]); return el; }
  function make(tag, styles) { return css(document.createElement(tag), styles || {}); }

  var button = make("button", {
    position: "fixed", right: "20px", bottom: "20px", width: "56px", height: "56px", "border-radius": "50%",
    border: "0", margin: "0", padding: "0", background: BLUE, color: "#fff", cursor: "pointer",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)", "z-index": "2147483000", display: "flex",
    "align-items": "center", "justify-content": "center", outline: "none"
  });
  button.type = "button";
  button.setAttribute("aria-haspopup", "dialog");
  button.setAttribute("aria-expanded", "false");
  var svgNs = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(svgNs, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "28");
  icon.setAttribute("height", "28");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(svgNs, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z");
  icon.appendChild(path);
  button.appendChild(icon);
  var badge = make("span", {
    position: "absolute", top: "-2px", right: "-2px", "min-width": "20px", height: "20px", padding: "0 5px",
    "box-sizing": "border-box", "border-radius": "10px", background: "#e5484d", color: "#fff",
    font: "bold 12px/20px sans-serif", display: "none"
  });
  badge.setAttribute("aria-hidden", "true");
  button.appendChild(badge);
  button.addEventListener("focus", function () { css(button, { outline: "3px solid #ffb224", "outline-offset": "3px" }); });
  button.addEventListener("blur", function () { css(button, { outline: "none" }); });

  var panel = make("div", {
    position: "fixed", "z-index": "2147483001", display: "none", overflow: "hidden", background: "#fff",
    "box-shadow": "0 8px 30px rgba(0,0,0,.25)"
  });
  panel.id = "triage-widget-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  button.setAttribute("aria-controls", panel.id);
  var frame = make("iframe", { border: "0", width: "100%", height: "100%", display: "block" });
  frame.title = title;
  frame.src = frameUrl;
  panel.appendChild(frame);

  var phone = window.matchMedia("(max-width: 479.98px)");
  function layout() {
    if (phone.matches) {
      css(panel, { top: "0", left: "0", right: "0", bottom: "0", width: "100%", height: "100%", "border-radius": "0" });
    } else {
      css(panel, {
        top: "auto", left: "auto", right: "20px", bottom: "88px", width: "380px",
        height: "min(620px, calc(100vh - 108px))", "border-radius": "12px"
      });
    }
    // On a phone the open panel covers the screen (the page behind it does not scroll); its own
    // close button (and Esc) closes it.
    var covered = open && phone.matches;
    css(button, { display: covered ? "none" : "flex" });
    if (covered !== locked) {
      locked = covered;
      if (covered) {
        savedOverflow = document.documentElement.style.getPropertyValue("overflow");
        document.documentElement.style.setProperty("overflow", "hidden");
      } else if (savedOverflow) {
        document.documentElement.style.setProperty("overflow", savedOverflow);
      } else {
        document.documentElement.style.removeProperty("overflow");
      }
    }
  }
  function label() {
    button.setAttribute("aria-label", (open ? "关闭" : "打开") + title + (unread ? "（" + unread + " 条新消息）" : ""));
    badge.textContent = unread > 99 ? "99+" : String(unread);
    css(badge, { display: unread && !open ? "block" : "none" });
  }
  function tell(type) {
    if (frame.contentWindow) frame.contentWindow.postMessage({ type: type }, origin);
  }
  function setOpen(value, restoreFocus) {
    open = value;
    try { sessionStorage.setItem(OPEN_KEY, value ? "1" : ""); } catch (e) { /* storage disabled */ }
    css(panel, { display: value ? "block" : "none" });
    button.setAttribute("aria-expanded", String(value));
    if (value) unread = 0;
    layout();
    label();
    if (value) {
      frame.focus();
      tell("triage:open");
    } else {
      tell("triage:closed");
      if (restoreFocus) button.focus();
    }
  }

  button.addEventListener("click", function () { setOpen(!open, true); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && open) setOpen(false, true);
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow || !event.data) return;
    var data = event.data;
    if (data.type === "triage:close") setOpen(false, true);
    else if (data.type === "triage:ready") tell(open ? "triage:open" : "triage:closed");
    else if (data.type === "triage:unread" && typeof data.count === "number") {
      unread = open ? 0 : data.count;
      label();
    }
  });
  if (phone.addEventListener) phone.addEventListener("change", layout);

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(button);
    var wasOpen = false;
    try { wasOpen = sessionStorage.getItem(OPEN_KEY) === "1"; } catch (e) { /* storage disabled */ }
    open = wasOpen;
    css(panel, { display: open ? "block" : "none" });
    button.setAttribute("aria-expanded", String(open));
    layout();
    label();
  }
  window.__triageWidget = {
    open: function () { setOpen(true, false); },
    close: function () { setOpen(false, false); }
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
