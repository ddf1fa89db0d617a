// The LINE simulator page: a LINE-like chat driven by the emulator's JSON endpoints (api/...).
"use strict";

const state = {
  users: [], userId: null, lastId: 0, lastBotItem: null, dismissedInvalid: 0, pickerAction: null, stickToBottom: true,
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

async function api(method, path, body) {
  const response = await fetch("api/" + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) showStatus(data.error || `HTTP ${response.status}`);
  return { ok: response.ok, data };
}

function showStatus(text) {
  const line = $("status-line");
  line.textContent = text || "";
  line.hidden = !text;
}

// ---- users -------------------------------------------------------------------------------------

async function loadUsers() {
  const { ok, data } = await api("GET", "users");
  if (!ok) return;
  state.users = data.items;
  renderUsers();
}

function currentUser() {
  return state.users.find((u) => u.line_user_id === state.userId) || null;
}

function renderUsers() {
  const list = $("user-list");
  list.replaceChildren(...state.users.map((user) => {
    const status = user.following ? "友だち / friend" : user.blocked ? "ブロック中 / blocked" : "未追加 / not a friend";
    return el("li", {},
      el("button", {
        type: "button", class: user.line_user_id === state.userId ? "selected" : "",
        "data-testid": "user-item", "data-user-id": user.line_user_id,
        onclick: () => selectUser(user.line_user_id),
      }, user.display_name, el("span", { class: "user-meta", text: `${user.language} · ${status}` })));
  }));
  renderHeader();
}

function renderHeader() {
  const user = currentUser();
  $("chat-title").textContent = user ? `${user.display_name} (${user.language})` : "ユーザーを選択 / Pick a user";
  $("follow-button").hidden = !user || user.following || user.blocked;
  $("unblock-button").hidden = !user || !user.blocked;
  $("block-button").hidden = !user || !user.following;
  $("text-input").disabled = $("send-button").disabled = !user || user.blocked;
  renderHint();
}

// What to do next, while the chat is still empty (a newcomer's first look at the page).
function renderHint() {
  const user = currentUser();
  const hint = $("chat-hint");
  let text = "";
  if (!user) {
    text = state.users.length
      ? "左のリストからユーザーを選んでください / Pick a LINE user on the left"
      : "左の「ユーザー追加」で LINE ユーザーを作成してください / Create a LINE user on the left";
  } else if (!$("chat").childElementCount) {
    text = user.blocked
      ? "ブロック中です。「ブロック解除 / Unblock」で再開できます / Blocked: press Unblock to talk again"
      : !user.following
        ? "右上の「友だち追加 / Follow」を押すと、ショップから最初のメッセージが届きます / " +
          "Press Follow (top right) to add the shop as a friend"
        : "メッセージを送ってみましょう（例: メニュー） / Say something, e.g. メニュー";
  }
  hint.textContent = text;
  hint.hidden = !text;
}

function selectUser(lineUserId) {
  state.userId = lineUserId;
  state.lastId = 0;
  state.lastBotItem = null;
  state.stickToBottom = true;
  $("chat").replaceChildren();
  $("quick-replies").replaceChildren();
  $("picker").hidden = true;
  showStatus("");
  history.replaceState(null, "", "?user=" + encodeURIComponent(lineUserId));
  renderUsers();
  poll();
}

// ---- polling -----------------------------------------------------------------------------------

let polling = false;
async function poll() {
  if (!state.userId || polling) return;
  polling = true;
  try {
    const userId = state.userId;
    const response = await fetch(`api/users/${encodeURIComponent(userId)}/messages?after=${state.lastId}`);
    if (!response.ok || userId !== state.userId) return;
    const data = await response.json();
    const index = state.users.findIndex((u) => u.line_user_id === userId);
    if (index >= 0 && JSON.stringify(state.users[index]) !== JSON.stringify(data.user)) {
      state.users[index] = data.user;
      renderUsers();
    }
    for (const item of data.items) appendItem(item);
    state.stickToBottom = false;
    if (!data.items.length && !$("chat").childElementCount) renderHint();
    renderRichMenu(data.rich_menu);
    renderInvalid(data);
  } catch (e) {
    showStatus("サーバーに接続できません / cannot reach the server");
  } finally {
    polling = false;
  }
}

function renderInvalid(data) {
  const banner = $("invalid-banner");
  if (!data.invalid_count || data.invalid_count <= state.dismissedInvalid) { banner.hidden = true; return; }
  const last = data.invalid_requests[data.invalid_requests.length - 1];
  $("invalid-reason").textContent = `HTTP ${last.status} ${last.path}: ${last.reason}` +
    (data.invalid_count > 1 ? ` (${data.invalid_count} 件 / total)` : "");
  banner.title = $("invalid-reason").textContent;
  banner.hidden = false;
  banner.dataset.count = data.invalid_count;
}

// ---- chat items --------------------------------------------------------------------------------

function timeOf(item) {
  return new Date(item.at * 1000).toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit" });
}

function appendItem(item) {
  state.lastId = Math.max(state.lastId, item.id);
  const chat = $("chat");
  // Follow new messages unless the reader scrolled up to read older ones (own messages always scroll).
  const nearBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
  const stick = state.stickToBottom || nearBottom || item.from === "user";
  let row;
  if (item.from === "system") {
    row = el("div", { class: "row system", "data-testid": "system-note" },
      el("span", { class: "system-note", text: item.message.text }));
  } else if (item.from === "user") {
    row = el("div", { class: "row user", "data-testid": "user-row" },
      el("span", { class: "time", text: timeOf(item) }),
      el("div", { class: "msg-stack", "data-testid": "user-message" }, renderMessage(item.message)));
  } else {
    row = el("div", { class: "row bot", "data-testid": "bot-row" },
      el("div", { class: "avatar", text: "Bot" }),
      el("div", { class: "msg-stack", "data-testid": "bot-message", "data-message-type": item.message.type },
        renderMessage(item.message)),
      el("span", { class: "time", text: timeOf(item) }));
  }
  chat.append(row);
  if (item.from !== "system") {
    state.lastBotItem = item.from === "bot" ? item : null;
    renderQuickReplies();
  }
  $("chat-hint").hidden = true;
  if (stick) {
    scrollToBottom();
    // Images (QR codes, Flex heroes) get their height once loaded: keep the newest message in view.
    for (const img of row.querySelectorAll("img")) img.addEventListener("load", scrollToBottom, { once: true });
  }
}

function scrollToBottom() {
  const chat = $("chat");
  chat.scrollTop = chat.scrollHeight;
}

function renderQuickReplies() {
  const box = $("quick-replies");
  const message = state.lastBotItem && state.lastBotItem.message;
  const items = (message && message.quickReply && message.quickReply.items) || [];
  box.replaceChildren(...items.map((item) => el("button", {
    type: "button", class: "chip", "data-testid": "quick-reply",
    onclick: () => { box.replaceChildren(); doAction(item.action); },
  }, item.imageUrl ? el("img", { src: item.imageUrl, alt: "", class: "flex-icon" }) : null,
     actionLabel(item.action))));
}

function renderRichMenu(menu) {
  const box = $("rich-menu");
  const areas = (menu && menu.areas) || [];
  box.hidden = areas.length === 0;
  const key = JSON.stringify(areas);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...areas.map((area) => el("button", {
    type: "button", "data-testid": "rich-menu-button", onclick: () => doAction(area.action),
  }, actionLabel(area.action))));
}

function actionLabel(action) {
  if (!action) return "";
  return action.label || action.displayText || action.text || action.data || action.uri || action.type;
}

// ---- actions -----------------------------------------------------------------------------------

async function afterSend(result) {
  if (result.ok) showStatus("");
  await poll();
}

async function sendText(text) {
  if (!state.userId || !text.trim()) return;
  await afterSend(await api("POST", `users/${state.userId}/text`, { text }));
}

async function sendPostback(data, displayText, params) {
  if (!state.userId) return;
  const body = { data: data || "" };
  if (displayText) body.displayText = displayText;
  if (params) body.params = params;
  await afterSend(await api("POST", `users/${state.userId}/postback`, body));
}

function openUri(uri) {
  const accountLink = "https://access.line.me/dialog/bot/accountLink";
  if (uri.startsWith(accountLink)) {
    // LINE's account link dialog is served by the simulator itself.
    const query = uri.slice(accountLink.length);
    window.location.href = "dialog/bot/accountLink" + query + (query ? "&" : "?") +
      "user=" + encodeURIComponent(state.userId);
    return;
  }
  let target;
  try { target = new URL(uri, window.location.href); } catch (e) { return showStatus(`URL: ${uri}`); }
  if (target.origin === window.location.origin) {
    // The shop's own pages (login for account link, privacy notice): open them here, as LINE's in-app
    // browser would; the account link dialog comes back to this chat, and Back returns from the others.
    window.location.href = target.href;
    return;
  }
  window.open(target.href, "_blank", "noopener");
}

function doAction(action) {
  if (!action) return;
  switch (action.type) {
    case "message": return sendText(action.text || action.label || "");
    case "postback": return sendPostback(action.data, action.displayText || action.text, null);
    case "datetimepicker": return openPicker(action);
    case "uri": return openUri(action.uri);
    case "clipboard":
      if (navigator.clipboard) navigator.clipboard.writeText(action.clipboardText || "");
      return showStatus("コピーしました / copied");
    case "richmenuswitch":
      return sendPostback(action.data, null, { newRichMenuAliasId: action.richMenuAliasId, status: "SUCCESS" });
    default:
      return showStatus(`未対応のアクション / unsupported action: ${action.type}`);
  }
}

function openPicker(action) {
  const mode = action.mode || "date";
  const input = $("picker-input");
  input.type = { date: "date", time: "time", datetime: "datetime-local" }[mode] || "date";
  input.value = action.initial || "";
  for (const key of ["min", "max"]) {
    if (action[key]) input.setAttribute(key, action[key]); else input.removeAttribute(key);
  }
  $("picker-label").textContent = actionLabel(action);
  state.pickerAction = action;
  $("picker").hidden = false;
  input.focus();
}

async function submitPicker() {
  const action = state.pickerAction;
  const value = $("picker-input").value;
  if (!action || !value) return;
  $("picker").hidden = true;
  state.pickerAction = null;
  await sendPostback(action.data, null, { [action.mode || "date"]: value });
}

// ---- message rendering -------------------------------------------------------------------------

function renderMessage(message) {
  switch (message.type) {
    case "text": return el("div", { class: "bubble", text: message.text });
    case "textV2": return el("div", { class: "bubble", text: message.text });
    case "image":
      return el("a", { href: message.originalContentUrl, target: "_blank", rel: "noopener" },
        el("img", { class: "media", src: message.previewImageUrl, alt: "image", "data-testid": "image-message" }));
    case "sticker": return el("div", { class: "placeholder", text: `[スタンプ / sticker ${message.packageId}/${message.stickerId}]` });
    case "video":
      return el("a", { href: message.originalContentUrl, target: "_blank", rel: "noopener" },
        el("img", { class: "media", src: message.previewImageUrl, alt: "video" }));
    case "audio": return el("div", { class: "placeholder", text: "[音声 / audio]" });
    case "location":
      return el("div", { class: "bubble", text: `📍 ${message.title}\n${message.address}` });
    case "imagemap": return renderImagemap(message);
    case "template": return renderTemplate(message.template, message.altText);
    case "flex": return renderFlexContainer(message.contents);
    default: return el("div", { class: "placeholder", text: `[${message.type}] ${message.altText || ""}` });
  }
}

function renderImagemap(message) {
  return el("div", { class: "template" },
    el("img", { src: message.baseUrl + "/1040", alt: message.altText }),
    el("div", { class: "t-actions" }, (message.actions || []).map((a) => el("button", {
      type: "button", "data-testid": "template-button",
      onclick: () => a.type === "uri" ? openUri(a.linkUri) : sendText(a.text),
    }, a.label || a.text || a.linkUri))));
}

function actionButtons(actions, extraClass) {
  return el("div", { class: "t-actions " + (extraClass || "") }, (actions || []).map((action) =>
    el("button", { type: "button", "data-testid": "template-button", onclick: () => doAction(action) },
      actionLabel(action))));
}

function templateColumn(column, template) {
  return el("div", { class: "template", "data-testid": "template-column" },
    column.thumbnailImageUrl ? el("img", {
      src: column.thumbnailImageUrl, alt: "",
      style: {
        aspectRatio: template.imageAspectRatio === "square" ? "1 / 1" : "1.51 / 1",
        objectFit: template.imageSize === "contain" ? "contain" : "cover",
        backgroundColor: column.imageBackgroundColor || template.imageBackgroundColor || "#fff",
      },
    }) : null,
    column.title ? el("div", { class: "t-title", text: column.title }) : null,
    el("div", { class: "t-text", text: column.text }),
    actionButtons(column.actions));
}

function renderTemplate(template) {
  switch (template.type) {
    case "buttons": return templateColumn(template, template);
    case "confirm":
      return el("div", { class: "template" }, el("div", { class: "t-text", text: template.text }),
        actionButtons(template.actions, "confirm"));
    case "carousel":
      return el("div", { class: "carousel" }, template.columns.map((c) => templateColumn(c, template)));
    case "image_carousel":
      return el("div", { class: "carousel" }, template.columns.map((c) =>
        el("div", { class: "template", style: { width: "160px" } },
          el("img", { src: c.imageUrl, alt: "", style: { aspectRatio: "1 / 1" } }),
          actionButtons([c.action]))));
    default: return el("div", { class: "placeholder", text: `[template ${template.type}]` });
  }
}

// Flex: sizes and spacing as LINE documents them.
const TEXT_SIZES = { xxs: 11, xs: 13, sm: 14, md: 16, lg: 19, xl: 22, xxl: 29, "3xl": 35, "4xl": 48, "5xl": 74 };
const IMAGE_SIZES = { xxs: 40, xs: 60, sm: 80, md: 100, lg: 120, xl: 140, xxl: 160, "3xl": 180, "4xl": 200, "5xl": 220 };
const SPACING = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };
const PADDING = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };

function px(value, table) {
  if (value === undefined || value === null) return undefined;
  if (table && value in table) return table[value] + "px";
  return value;
}

function renderFlexContainer(container) {
  if (!container) return el("div", { class: "placeholder", text: "[flex]" });
  if (container.type === "carousel") {
    return el("div", { class: "carousel", "data-testid": "flex-carousel" }, container.contents.map(renderBubble));
  }
  return renderBubble(container);
}

function renderBubble(bubble) {
  const styles = bubble.styles || {};
  const node = el("div", {
    class: `flex-bubble size-${bubble.size || "mega"}`, "data-testid": "flex-bubble",
    dir: bubble.direction === "rtl" ? "rtl" : null,
  });
  for (const block of ["header", "hero", "body", "footer"]) {
    const component = bubble[block];
    if (!component) continue;
    const style = styles[block] || {};
    const blockNode = el("div", { class: `flex-block ${block}` }, renderComponent(component, "vertical"));
    if (style.backgroundColor) blockNode.style.backgroundColor = style.backgroundColor;
    if (style.separator) blockNode.style.borderTop = `1px solid ${style.separatorColor || "#ddd"}`;
    if (component.type === "box" && block !== "hero") {
      // LINE pads the block's own box: 20px (footer 10px) unless the box says otherwise.
      const inner = blockNode.firstChild;
      const fallback = block === "footer" ? "10px" : "20px";
      for (const side of ["Top", "Bottom", "Left", "Right"]) {
        if (!inner.style["padding" + side]) inner.style["padding" + side] = fallback;
      }
    }
    node.append(blockNode);
  }
  if (bubble.action) makeClickable(node, bubble.action);
  return node;
}

function makeClickable(node, action) {
  node.classList.add("clickable");
  node.addEventListener("click", (event) => { event.stopPropagation(); doAction(action); });
}

function applyCommon(node, component, parentLayout) {
  const horizontal = parentLayout !== "vertical";
  const grow = component.flex !== undefined ? component.flex : (horizontal ? 1 : 0);
  node.style.flex = grow > 0 ? `${grow} 1 0%` : "0 0 auto";
  if (component.margin) {
    node.style[horizontal ? "marginInlineStart" : "marginTop"] = px(component.margin, SPACING);
  }
  if (component.position === "absolute") node.style.position = "absolute";
  for (const side of ["Top", "Bottom", "Start", "End"]) {
    const value = component["offset" + side];
    if (value) node.style[{ Top: "top", Bottom: "bottom", Start: "left", End: "right" }[side]] = px(value, SPACING);
  }
  if (component.offsetTop || component.offsetStart) node.style.position = node.style.position || "relative";
  const align = { start: "flex-start", end: "flex-end", center: "center" };
  if (component.gravity) node.style.alignSelf = align[{ top: "start", bottom: "end", center: "center" }[component.gravity]];
  if (component.action && component.type !== "button") makeClickable(node, component.action);
}

function renderComponent(component, parentLayout) {
  let node;
  switch (component.type) {
    case "box": node = renderBox(component); break;
    case "text": node = renderText(component); break;
    case "image": node = renderImage(component); break;
    case "button": node = renderButton(component); break;
    case "icon":
      node = el("img", { class: "flex-icon", src: component.url, alt: "",
        style: { height: px(component.size || "md", TEXT_SIZES) } });
      break;
    case "separator":
      node = el("hr", { class: "flex-separator", style: { borderColor: component.color } });
      break;
    case "spacer": node = el("div", { style: { height: px(component.size || "md", SPACING), flex: "0 0 auto" } }); break;
    case "filler": node = el("div", {}); node.style.flex = `${component.flex || 1} 1 0%`; return node;
    case "video":
      node = component.altContent ? renderComponent(component.altContent, parentLayout)
        : el("img", { class: "media", src: component.previewUrl, alt: "video" });
      break;
    default: node = el("div", { class: "placeholder", text: `[${component.type}]` });
  }
  applyCommon(node, component, parentLayout);
  return node;
}

function renderBox(box) {
  const node = el("div", { class: `flex-box ${box.layout}` });
  const s = node.style;
  if (box.spacing) s.gap = px(box.spacing, SPACING);
  if (box.backgroundColor) s.backgroundColor = box.backgroundColor;
  if (box.borderColor) s.borderColor = box.borderColor;
  if (box.borderWidth) {
    s.borderStyle = "solid";
    s.borderWidth = { none: "0", light: "0.5px", normal: "1px", medium: "2px", semibold: "3px", bold: "4px" }[box.borderWidth] || box.borderWidth;
  }
  if (box.cornerRadius) s.borderRadius = px(box.cornerRadius, SPACING);
  if (box.width) s.width = box.width;
  if (box.height) s.height = box.height;
  if (box.paddingAll) s.padding = px(box.paddingAll, PADDING);
  for (const side of ["Top", "Bottom", "Start", "End"]) {
    const value = box["padding" + side];
    if (value) s[{ Top: "paddingTop", Bottom: "paddingBottom", Start: "paddingLeft", End: "paddingRight" }[side]] = px(value, PADDING);
  }
  const justify = { "flex-start": "flex-start", "flex-end": "flex-end", center: "center",
    "space-between": "space-between", "space-around": "space-around", "space-evenly": "space-evenly" };
  if (box.justifyContent) s.justifyContent = justify[box.justifyContent];
  if (box.alignItems) s.alignItems = box.alignItems;
  if (box.background && box.background.type === "linearGradient") {
    s.backgroundImage = `linear-gradient(${box.background.angle || "0deg"}, ${box.background.startColor}, ${box.background.endColor})`;
  }
  for (const child of box.contents || []) node.append(renderComponent(child, box.layout));
  if (box.layout === "vertical") {
    for (const child of node.children) if (child.tagName !== "HR" && !child.style.alignSelf) child.style.alignSelf = "stretch";
  }
  return node;
}

function renderText(text) {
  const node = el("div", { class: "flex-text" + (text.wrap ? " wrap" : ""), "data-testid": "flex-text" });
  const s = node.style;
  s.fontSize = px(text.size || "md", TEXT_SIZES);
  if (text.weight === "bold") s.fontWeight = "bold";
  if (text.color) s.color = text.color;
  if (text.style === "italic") s.fontStyle = "italic";
  if (text.decoration && text.decoration !== "none") s.textDecoration = text.decoration;
  if (text.align) s.textAlign = { start: "left", end: "right", center: "center" }[text.align];
  if (text.lineSpacing) s.lineHeight = `calc(1.4em + ${text.lineSpacing})`;
  if (text.maxLines && text.wrap) {
    Object.assign(s, { display: "-webkit-box", webkitLineClamp: String(text.maxLines), webkitBoxOrient: "vertical" });
  }
  if (text.contents && text.contents.length) {
    for (const span of text.contents) {
      node.append(el("span", { text: span.text, style: {
        color: span.color, fontWeight: span.weight === "bold" ? "bold" : null,
        fontSize: span.size ? px(span.size, TEXT_SIZES) : null,
        fontStyle: span.style === "italic" ? "italic" : null,
        textDecoration: span.decoration && span.decoration !== "none" ? span.decoration : null,
      } }));
    }
  } else {
    node.textContent = text.text || "";
  }
  return node;
}

function renderImage(image) {
  const size = image.size || "md";
  const img = el("img", { src: image.url, alt: "", "data-testid": "flex-image" });
  const wrapper = el("div", { class: "flex-image" }, img);
  const width = size === "full" ? "100%" : px(size, IMAGE_SIZES);
  img.style.width = width;
  if (image.aspectRatio) {
    const [w, h] = image.aspectRatio.split(":");
    img.style.aspectRatio = `${w} / ${h}`;
  }
  img.style.objectFit = image.aspectMode === "cover" ? "cover" : "contain";
  if (image.backgroundColor) img.style.backgroundColor = image.backgroundColor;
  if (image.align) wrapper.style.justifyContent = { start: "flex-start", end: "flex-end", center: "center" }[image.align];
  return wrapper;
}

function renderButton(button) {
  const style = button.style || "link";
  const node = el("button", {
    type: "button", class: `flex-button ${style}${button.height === "sm" ? " h-sm" : ""}`,
    "data-testid": "flex-button", onclick: () => doAction(button.action),
  }, actionLabel(button.action));
  if (button.color) node.style[style === "link" ? "color" : "backgroundColor"] = button.color;
  return node;
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  $("new-user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("new-user-name").value.trim();
    if (!name) return;
    const { ok, data } = await api("POST", "users", { display_name: name, language: $("new-user-language").value });
    if (!ok) return;
    $("new-user-name").value = "";
    await loadUsers();
    selectUser(data.line_user_id);
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("text-input");
    const text = input.value;
    input.value = "";
    await sendText(text);
    input.focus();
  });
  $("text-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  const userAction = (path) => async () => {
    if (!state.userId) return;
    await afterSend(await api("POST", `users/${state.userId}/${path}`));
    await loadUsers();
  };
  $("follow-button").addEventListener("click", userAction("follow"));
  $("unblock-button").addEventListener("click", userAction("follow"));
  $("block-button").addEventListener("click", userAction("unfollow"));
  $("picker-submit").addEventListener("click", submitPicker);
  $("picker-cancel").addEventListener("click", () => { $("picker").hidden = true; state.pickerAction = null; });
  $("invalid-dismiss").addEventListener("click", () => {
    state.dismissedInvalid = Number($("invalid-banner").dataset.count || 0);
    $("invalid-banner").hidden = true;
  });
}

async function main() {
  wire();
  await loadUsers();
  const wanted = new URLSearchParams(window.location.search).get("user");
  if (wanted && state.users.some((u) => u.line_user_id === wanted)) selectUser(wanted);
  else if (state.users.length) selectUser(state.users[0].line_user_id);
  setInterval(poll, 1000);
  setInterval(loadUsers, 5000);
}

main();
