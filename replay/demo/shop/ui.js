// The demo shop's front end: sign in, keep the token in a cookie, call the JSON API with fetch.
"use strict";

const TOKEN_COOKIE = "shop_token";

function readToken() {
  const entry = document.cookie.split("; ").find((c) => c.startsWith(TOKEN_COOKIE + "="));
  return entry ? decodeURIComponent(entry.slice(TOKEN_COOKIE.length + 1)) : "";
}

function keepToken(token) {
  // Path /ui: the page reads the cookie, the API calls do not carry it (they send the bearer header).
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const age = token ? "" : "; Max-Age=0";
  document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/ui; SameSite=Strict${secure}${age}`;
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = readToken();
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers };
  if (body !== undefined && body !== null && body !== "") {
    headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  const text = await reply.text();
  let answer = null;
  try { answer = text ? JSON.parse(text) : null; } catch (e) { answer = text; }
  show(method, path, reply.status, answer);
  return { status: reply.status, answer };
}

function show(method, path, status, answer) {
  const shown = document.getElementById("status");
  shown.textContent = String(status);
  document.getElementById("answer").textContent = answer === null ? "" : JSON.stringify(answer, null, 2);
  const item = document.createElement("li");
  item.textContent = `${method} ${path} -> ${status}`;
  document.getElementById("log").appendChild(item);
  shown.dataset.calls = String(Number(shown.dataset.calls) + 1);
}

async function whoAmI() {
  if (!readToken()) { document.getElementById("who").textContent = "not signed in"; return; }
  const me = await call("GET", "/me");
  document.getElementById("who").textContent =
    me.status === 200 ? `signed in as ${me.answer.username} (${me.answer.role})` : "not signed in";
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = document.getElementById("username").value;
  const password = document.getElementById("password").value;
  const reply = await call("POST", "/login", { username, password });
  if (reply.status === 200) {
    keepToken(reply.answer.token);
    document.getElementById("who").textContent = `signed in as ${username} (${reply.answer.role})`;
  }
});

document.getElementById("logout").addEventListener("click", () => {
  keepToken("");
  document.getElementById("who").textContent = "not signed in";
});

document.getElementById("call-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const method = document.getElementById("method").value;
  const path = document.getElementById("path").value;
  await call(method, path, document.getElementById("body").value);
});

if (readToken()) whoAmI();
