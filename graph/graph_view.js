// Interactive graph view for venom-replay exports: SVG plus a small force layout, no libraries,
// no network. Reads the graph from <script id="graph-data">; nodes carry {id, label, kind, count,
// method, details}, edges {id, source, target, key, kind, label, count, details}.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var svg = document.getElementById("graph");
  var viewport = document.getElementById("viewport");
  var edgeLayer = document.getElementById("edges");
  var nodeLayer = document.getElementById("nodes");
  var markers = document.getElementById("markers");
  var panel = document.getElementById("details");

  // Known kinds get fixed colours so that every export of the same kind of graph looks the same.
  var EDGE_COLOURS = { observed: "#4a6fa5", dependency: "#c2185b", action: "#2e7d32", finding: "#d32f2f" };
  var DASHED_KINDS = { dependency: true };
  var NODE_STYLES = {
    start: { fill: "#2b2f36", stroke: "#2b2f36", ink: "#ffffff" },
    template: { fill: "#eef3fb", stroke: "#4a6fa5", ink: "#1d2430" },
    state: { fill: "#f1edf8", stroke: "#6a4c93", ink: "#1d2430" },
    initial: { fill: "#2b2f36", stroke: "#2b2f36", ink: "#ffffff" }
  };
  var PALETTE = ["#00897b", "#6a4c93", "#ef6c00", "#1982c4", "#795548", "#8a8d00", "#5d6878"];
  var METHOD_COLOURS = { GET: "#2e7d32", HEAD: "#2e7d32", POST: "#1565c0", PUT: "#b35c00", PATCH: "#b35c00", DELETE: "#c62828" };
  var MAX_LABEL = 46;

  var paletteUse = 0;
  function nextPaletteColour() { return PALETTE[paletteUse++ % PALETTE.length]; }

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG_NS, name);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(name, text, parent, cls) {
    var e = document.createElement(name);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  // ------------------------------------------------------------------ model

  var nodes = data.nodes.map(function (n, i) {
    return { id: n.id, label: n.label, kind: n.kind, count: n.count, method: n.method, details: n.details || {},
             index: i, x: 0, y: 0, vx: 0, vy: 0, fx: null, fy: null, w: 40, h: 28, layer: 0, g: null };
  });
  var byId = {};
  nodes.forEach(function (n) { byId[n.id] = n; });
  var edges = data.edges.filter(function (e) { return byId[e.source] && byId[e.target]; }).map(function (e) {
    return { id: e.id, key: e.key, kind: e.kind, label: e.label, count: e.count, details: e.details || {},
             src: byId[e.source], dst: byId[e.target], bend: 0, loop: 0, g: null, line: null, hit: null, text: null };
  });

  var edgeKinds = [];
  var edgeColour = {};
  edges.forEach(function (e) {
    if (!(e.kind in edgeColour)) {
      edgeKinds.push(e.kind);
      edgeColour[e.kind] = EDGE_COLOURS[e.kind] || nextPaletteColour();
    }
  });
  var nodeStyle = {};
  function styleFor(kind) {
    if (!nodeStyle[kind]) {
      var c = nextPaletteColour();
      nodeStyle[kind] = NODE_STYLES[kind] || { fill: "#ffffff", stroke: c, ink: "#1d2430" };
    }
    return nodeStyle[kind];
  }

  // Parallel edges between one pair bend apart; loops on one node nest.
  (function assignBends() {
    var groups = {};
    edges.forEach(function (e) {
      var a = e.src.index, b = e.dst.index;
      var key = a === b ? "loop:" + a : Math.min(a, b) + ":" + Math.max(a, b);
      (groups[key] = groups[key] || []).push(e);
    });
    Object.keys(groups).forEach(function (key) {
      var list = groups[key];
      list.forEach(function (e, i) {
        if (e.src === e.dst) { e.loop = i; return; }
        var offset = list.length === 1 ? 0 : (i - (list.length - 1) / 2) * 34;
        // Edges A->B and B->A drawn with the same sign would overlap: flip for the reverse ones.
        if (data.directed && e.src.index > e.dst.index) offset = -offset;
        e.bend = offset;
      });
    });
  })();

  // ------------------------------------------------------------------ drawing

  edgeKinds.forEach(function (kind, i) {
    var m = el("marker", { id: "arrow-" + i, viewBox: "0 0 10 10", refX: "9", refY: "5",
                           markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, markers);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: edgeColour[kind] }, m);
  });

  function shortLabel(text) {
    text = String(text);
    return text.length > MAX_LABEL ? text.slice(0, MAX_LABEL - 1) + "…" : text;
  }

  nodes.forEach(function (n) {
    var st = styleFor(n.kind);
    var g = el("g", { "class": "node", "data-id": n.id, "data-kind": n.kind }, nodeLayer);
    el("title", {}, g).textContent = n.label;
    var round = n.kind === "start" || n.kind === "initial";
    var shape = round ? el("circle", { r: 20, fill: st.fill, stroke: st.stroke }, g)
                      : el("rect", { rx: 6, ry: 6, fill: st.fill, stroke: st.stroke }, g);
    var text = el("text", { "text-anchor": "middle", "dominant-baseline": "central", fill: st.ink }, g);
    var label = shortLabel(n.label);
    var method = n.method && label.indexOf(n.method + " ") === 0 ? n.method : null;
    if (method) {
      var m = el("tspan", { "font-weight": "700", fill: METHOD_COLOURS[method] || st.ink }, text);
      m.textContent = method + " ";
      el("tspan", {}, text).textContent = label.slice(method.length + 1);
    } else {
      text.textContent = label;
    }
    if (round) {
      n.w = n.h = 40;
      if (label.length > 6) { text.setAttribute("font-size", "9"); }
    } else {
      var width = text.getComputedTextLength ? text.getComputedTextLength() : 0;
      if (!width) width = label.length * 7;
      n.w = Math.ceil(width) + 22;
      n.h = 30;
      shape.setAttribute("x", -n.w / 2);
      shape.setAttribute("y", -n.h / 2);
      shape.setAttribute("width", n.w);
      shape.setAttribute("height", n.h);
      if (method) el("rect", { x: -n.w / 2, y: -n.h / 2 + 4, width: 3.5, height: n.h - 8, rx: 1.5,
                                fill: METHOD_COLOURS[method] || st.stroke }, g);
    }
    n.g = g;
  });

  edges.forEach(function (e) {
    var colour = edgeColour[e.kind];
    var g = el("g", { "class": "edge", "data-id": e.id, "data-kind": e.kind }, edgeLayer);
    var attrs = { "class": "line", stroke: colour };
    if (data.directed) attrs["marker-end"] = "url(#arrow-" + edgeKinds.indexOf(e.kind) + ")";
    if (DASHED_KINDS[e.kind]) attrs["stroke-dasharray"] = "6 4";
    e.hit = el("path", { "class": "hit" }, g);
    e.line = el("path", attrs, g);
    el("title", {}, g).textContent = e.kind + (e.label ? ": " + e.label : "") + "  (" + e.src.label + " → " + e.dst.label + ")";
    if (e.label) {
      e.text = el("text", { "text-anchor": "middle", fill: colour }, g);
      e.text.textContent = shortLabel(e.label);
    }
    e.g = g;
  });

  // Where the line from a node's centre towards (tx, ty) leaves its shape.
  function boundary(n, tx, ty, pad) {
    var dx = tx - n.x, dy = ty - n.y;
    if (dx === 0 && dy === 0) return { x: n.x, y: n.y };
    if (n.kind === "start" || n.kind === "initial") {
      var d = Math.sqrt(dx * dx + dy * dy);
      return { x: n.x + dx / d * (20 + pad), y: n.y + dy / d * (20 + pad) };
    }
    var hw = n.w / 2 + pad, hh = n.h / 2 + pad;
    var s = Math.min(dx === 0 ? Infinity : hw / Math.abs(dx), dy === 0 ? Infinity : hh / Math.abs(dy));
    return { x: n.x + dx * s, y: n.y + dy * s };
  }

  function drawEdge(e) {
    var d, lx, ly;
    if (e.src === e.dst) {
      var n = e.src, s = e.loop * 14, top = n.y - n.h / 2;
      var x1 = n.x - Math.min(n.w / 4, 24), x2 = n.x + Math.min(n.w / 4, 24);
      d = "M" + x1 + "," + top + " C" + (x1 - 16 - s) + "," + (top - 46 - s) + " " + (x2 + 16 + s) + "," +
          (top - 46 - s) + " " + x2 + "," + (top - 2);
      lx = n.x; ly = top - 40 - 0.75 * s;
    } else {
      var a = e.src, b = e.dst;
      var mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      var dx = b.x - a.x, dy = b.y - a.y, len = Math.sqrt(dx * dx + dy * dy) || 1;
      // Quadratic control point: twice the bend, so the curve's middle sits `bend` px off the line.
      var cx = mx - dy / len * e.bend * 2, cy = my + dx / len * e.bend * 2;
      var p0 = boundary(a, cx, cy, 1), p2 = boundary(b, cx, cy, data.directed ? 3 : 1);
      d = "M" + p0.x + "," + p0.y + " Q" + cx + "," + cy + " " + p2.x + "," + p2.y;
      lx = 0.25 * p0.x + 0.5 * cx + 0.25 * p2.x;
      ly = 0.25 * p0.y + 0.5 * cy + 0.25 * p2.y - 4;
    }
    e.line.setAttribute("d", d);
    e.hit.setAttribute("d", d);
    if (e.text) { e.text.setAttribute("x", lx); e.text.setAttribute("y", ly); }
  }

  function render() {
    nodes.forEach(function (n) { n.g.setAttribute("transform", "translate(" + n.x + "," + n.y + ")"); });
    edges.forEach(drawEdge);
  }

  // ------------------------------------------------------------------ layout

  var LAYER_GAP = 250, ROW_GAP = 64;

  // Start from layers (distance from the start nodes), so the graph reads left to right.
  function initialPositions() {
    var roots = nodes.filter(function (n) { return n.kind === "start" || n.kind === "initial"; });
    if (!roots.length) {
      var indeg = {};
      edges.forEach(function (e) { if (e.src !== e.dst) indeg[e.dst.id] = (indeg[e.dst.id] || 0) + 1; });
      roots = nodes.filter(function (n) { return !indeg[n.id]; });
    }
    if (!roots.length && nodes.length) roots = [nodes[0]];
    var out = {};
    edges.forEach(function (e) { (out[e.src.id] = out[e.src.id] || []).push(e.dst); });
    var seen = {}, queue = [], maxLayer = 0;
    roots.forEach(function (r) { seen[r.id] = true; r.layer = 0; queue.push(r); });
    for (var qi = 0; qi < queue.length; qi++) {
      var n = queue[qi];
      (out[n.id] || []).forEach(function (m) {
        if (!seen[m.id]) { seen[m.id] = true; m.layer = n.layer + 1; maxLayer = Math.max(maxLayer, m.layer); queue.push(m); }
      });
    }
    nodes.forEach(function (n) { if (!seen[n.id]) n.layer = maxLayer + 1; });
    var rows = {};
    nodes.forEach(function (n) { (rows[n.layer] = rows[n.layer] || []).push(n); });
    Object.keys(rows).forEach(function (layer) {
      var list = rows[layer];
      list.forEach(function (n, i) {
        n.x = layer * LAYER_GAP;
        // A small deterministic stagger keeps nodes of one layer from sitting on one line.
        n.y = (i - (list.length - 1) / 2) * ROW_GAP + ((i % 3) - 1) * 7;
        n.vx = n.vy = 0;
        if (n.fx === null) { n.fx = null; n.fy = null; }
      });
    });
  }

  var links = (function () {
    var seen = {}, out = [];
    edges.forEach(function (e) {
      if (e.src === e.dst) return;
      var key = Math.min(e.src.index, e.dst.index) + ":" + Math.max(e.src.index, e.dst.index);
      if (!seen[key]) { seen[key] = true; out.push([e.src, e.dst]); }
    });
    // Springs on a node with many links would add up and throw it far away: like d3-force, each
    // link pulls with 1/min(degree) and the better-connected end moves less.
    var degree = {};
    out.forEach(function (l) { degree[l[0].id] = (degree[l[0].id] || 0) + 1; degree[l[1].id] = (degree[l[1].id] || 0) + 1; });
    return out.map(function (l) {
      var da = degree[l[0].id], db = degree[l[1].id];
      return { a: l[0], b: l[1], strength: 1 / Math.min(da, db), bias: da / (da + db) };
    });
  })();
  var MAX_SPEED = 80;

  var alpha = 1, ALPHA_MIN = 0.004, ALPHA_DECAY = 1 - Math.pow(ALPHA_MIN, 1 / 320);
  var running = false;

  // Pushes two nodes apart: a charge that fades with distance, and a stronger push when their
  // boxes would overlap.
  function repel(a, b, charge, parity) {
    var dx = b.x - a.x, dy = b.y - a.y, d2 = dx * dx + dy * dy, f;
    if (d2 < 1) { dx = parity ? 1 : -1; dy = 1; d2 = 2; }
    if (d2 > CUTOFF2) return; // far apart: negligible push
    f = charge / d2;
    a.vx -= dx * f; a.vy -= dy * f;
    b.vx += dx * f; b.vy += dy * f;
    var ox = (a.w + b.w) / 2 + 14 - Math.abs(dx), oy = (a.h + b.h) / 2 + 10 - Math.abs(dy);
    if (ox > 0 && oy > 0) {
      if (ox / (a.w + b.w) < oy / (a.h + b.h)) { f = ox * 0.25 * (dx < 0 ? -1 : 1); a.vx -= f; b.vx += f; }
      else { f = oy * 0.25 * (dy < 0 ? -1 : 1); a.vy -= f; b.vy += f; }
    }
  }
  var CUTOFF = 800, CUTOFF2 = CUTOFF * CUTOFF;

  function tick() {
    var i, j, a, b, dx, dy, d, f;
    var n = nodes.length;
    var charge = 5200 * alpha;
    if (n <= 300) {
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) repel(nodes[i], nodes[j], charge, (j - i) % 2);
    } else {
      // Many nodes: only pairs in neighbouring grid cells can be within the cut-off distance.
      var cells = new Map();
      for (i = 0; i < n; i++) {
        a = nodes[i];
        a.cx = Math.floor(a.x / CUTOFF); a.cy = Math.floor(a.y / CUTOFF);
        var key = a.cx + "," + a.cy;
        var cell = cells.get(key);
        if (cell) cell.push(a); else cells.set(key, [a]);
      }
      for (i = 0; i < n; i++) {
        a = nodes[i];
        for (var gx = a.cx - 1; gx <= a.cx + 1; gx++) {
          for (var gy = a.cy - 1; gy <= a.cy + 1; gy++) {
            var members = cells.get(gx + "," + gy);
            if (!members) continue;
            for (j = 0; j < members.length; j++) {
              b = members[j];
              if (b.index > a.index) repel(a, b, charge, (b.index - a.index) % 2);
            }
          }
        }
      }
    }
    for (i = 0; i < links.length; i++) {
      var link = links[i];
      a = link.a; b = link.b;
      dx = b.x + b.vx - a.x - a.vx; dy = b.y + b.vy - a.y - a.vy;
      d = Math.sqrt(dx * dx + dy * dy) || 1;
      var rest = 120 + (a.w + b.w) / 4;
      f = (d - rest) / d * alpha * link.strength * 0.7;
      b.vx -= dx * f * link.bias; b.vy -= dy * f * link.bias;
      a.vx += dx * f * (1 - link.bias); a.vy += dy * f * (1 - link.bias);
    }
    for (i = 0; i < n; i++) {
      a = nodes[i];
      // Keep the left-to-right reading, and keep everything near the middle.
      a.vx += (a.layer * LAYER_GAP - a.x) * 0.02 * alpha;
      a.vy += -a.y * 0.004 * alpha;
      if (a.fx !== null) { a.x = a.fx; a.y = a.fy; a.vx = a.vy = 0; continue; }
      a.vx *= 0.6; a.vy *= 0.6;
      var speed = Math.sqrt(a.vx * a.vx + a.vy * a.vy);
      if (speed > MAX_SPEED) { a.vx *= MAX_SPEED / speed; a.vy *= MAX_SPEED / speed; }
      a.x += a.vx; a.y += a.vy;
    }
    alpha *= 1 - ALPHA_DECAY;
  }

  // Big graphs are expensive to paint (thousands of SVG paths): animate small ones, and lay big
  // ones out off-screen in time slices, drawing them once when the layout has settled.
  var BIG = edges.length > 1500 || nodes.length > 400;
  var stats = { ticks: 0, frames: 0, tickMs: 0, renderMs: 0 };
  function step() {
    var t0 = performance.now(), budget = t0 + (BIG ? 250 : 14);
    do { tick(); stats.ticks++; } while (alpha > ALPHA_MIN && performance.now() < budget);
    var t1 = performance.now();
    stats.frames++; stats.tickMs += t1 - t0;
    var done = alpha <= ALPHA_MIN;
    if (!BIG || done) {
      render();
      stats.renderMs += performance.now() - t1;
    }
    if (!done) {
      schedule();
    } else {
      running = false;
      if (!userMovedView) fit();
      document.body.setAttribute("data-layout", "done");
    }
  }
  function schedule() {
    if (BIG) setTimeout(step, 0); else requestAnimationFrame(step);
  }

  function reheat(to) {
    alpha = Math.max(alpha, to);
    document.body.setAttribute("data-layout", "running");
    if (!running) { running = true; schedule(); }
  }

  // Moving one node by hand redraws only that node and its edges.
  var incident = {};
  edges.forEach(function (e) {
    (incident[e.src.id] = incident[e.src.id] || []).push(e);
    if (e.dst !== e.src) (incident[e.dst.id] = incident[e.dst.id] || []).push(e);
  });
  function renderNode(n) {
    n.g.setAttribute("transform", "translate(" + n.x + "," + n.y + ")");
    (incident[n.id] || []).forEach(drawEdge);
  }

  // ------------------------------------------------------------------ view transform

  var view = { k: 1, x: 0, y: 0 };
  var userMovedView = false;
  function applyView() {
    viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
  }
  function toGraph(clientX, clientY) {
    var r = svg.getBoundingClientRect();
    return { x: (clientX - r.left - view.x) / view.k, y: (clientY - r.top - view.y) / view.k };
  }
  function fit() {
    if (!nodes.length) return;
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    nodes.forEach(function (n) {
      minX = Math.min(minX, n.x - n.w / 2); maxX = Math.max(maxX, n.x + n.w / 2);
      minY = Math.min(minY, n.y - n.h / 2 - 50); maxY = Math.max(maxY, n.y + n.h / 2);
    });
    var r = svg.getBoundingClientRect();
    var k = Math.min(r.width / (maxX - minX + 60), r.height / (maxY - minY + 60), 1.6);
    view.k = Math.max(k, 0.05);
    view.x = r.width / 2 - (minX + maxX) / 2 * view.k;
    view.y = r.height / 2 - (minY + maxY) / 2 * view.k;
    applyView();
  }
  function centreOn(n) {
    var r = svg.getBoundingClientRect();
    view.x = r.width / 2 - n.x * view.k;
    view.y = r.height / 2 - n.y * view.k;
    applyView();
  }

  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    userMovedView = true;
    var r = svg.getBoundingClientRect();
    var px = ev.clientX - r.left, py = ev.clientY - r.top;
    var k = Math.min(8, Math.max(0.03, view.k * Math.exp(-ev.deltaY * 0.0015)));
    view.x = px - (px - view.x) * k / view.k;
    view.y = py - (py - view.y) * k / view.k;
    view.k = k;
    applyView();
  }, { passive: false });

  // One pointer gesture at a time: dragging a node, or panning the background.
  var gesture = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    var nodeEl = ev.target.closest ? ev.target.closest(".node") : null;
    var edgeEl = ev.target.closest ? ev.target.closest(".edge") : null;
    gesture = { x: ev.clientX, y: ev.clientY, moved: false,
                node: nodeEl ? byId[nodeEl.getAttribute("data-id")] : null,
                edge: edgeEl ? edgeById[edgeEl.getAttribute("data-id")] : null,
                vx: view.x, vy: view.y, dx: 0, dy: 0 };
    if (gesture.node) {
      // Keep the grabbed point under the pointer instead of jumping the node's centre to it.
      var p = toGraph(ev.clientX, ev.clientY);
      gesture.dx = gesture.node.x - p.x; gesture.dy = gesture.node.y - p.y;
    }
    svg.setPointerCapture(ev.pointerId);
    if (!gesture.node) svg.classList.add("panning");
  });
  svg.addEventListener("pointermove", function (ev) {
    if (!gesture) return;
    var dx = ev.clientX - gesture.x, dy = ev.clientY - gesture.y;
    if (!gesture.moved && dx * dx + dy * dy < 16) return;
    gesture.moved = true;
    // Once the user moves anything, the camera stays where they put it.
    userMovedView = true;
    if (gesture.node) {
      var p = toGraph(ev.clientX, ev.clientY);
      gesture.node.fx = gesture.node.x = p.x + gesture.dx;
      gesture.node.fy = gesture.node.y = p.y + gesture.dy;
      if (BIG) renderNode(gesture.node); else { reheat(0.12); render(); }
    } else {
      view.x = gesture.vx + dx; view.y = gesture.vy + dy;
      applyView();
    }
  });
  svg.addEventListener("pointerup", function (ev) {
    if (!gesture) return;
    var g = gesture;
    gesture = null;
    svg.classList.remove("panning");
    try { svg.releasePointerCapture(ev.pointerId); } catch (err) { /* already released */ }
    if (g.moved) return;
    if (g.node) selectNode(g.node);
    else if (g.edge) selectEdge(g.edge);
    else clearSelection();
  });
  svg.addEventListener("dblclick", function (ev) {
    var nodeEl = ev.target.closest ? ev.target.closest(".node") : null;
    if (!nodeEl) return;
    var n = byId[nodeEl.getAttribute("data-id")];
    n.fx = n.fy = null; // let a dragged node go again
    reheat(0.2);
  });

  var edgeById = {};
  edges.forEach(function (e) { edgeById[e.id] = e; });

  // ------------------------------------------------------------------ filters and search

  var hiddenKinds = {};
  var filterBox = document.getElementById("edge-filters");
  edgeKinds.forEach(function (kind) {
    var n = edges.filter(function (e) { return e.kind === kind; }).length;
    var label = html("label", null, filterBox);
    var box = html("input", null, label);
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("data-kind", kind);
    var sw = html("span", null, label, "swatch" + (DASHED_KINDS[kind] ? " dashed" : ""));
    sw.style.borderTopColor = edgeColour[kind];
    html("span", kind + " (" + n + ")", label);
    box.addEventListener("change", function () {
      if (box.checked) delete hiddenKinds[kind]; else hiddenKinds[kind] = true;
      edges.forEach(function (e) { e.g.classList.toggle("hidden", !!hiddenKinds[e.kind]); });
      refreshFade();
    });
  });

  document.getElementById("show-labels").addEventListener("change", function (ev) {
    document.body.classList.toggle("no-labels", !ev.target.checked);
  });
  document.getElementById("fit").addEventListener("click", function () { userMovedView = false; fit(); });
  document.getElementById("relayout").addEventListener("click", function () {
    nodes.forEach(function (n) { n.fx = n.fy = null; });
    initialPositions();
    userMovedView = false;
    alpha = 1;
    reheat(1);
  });

  var search = document.getElementById("search");
  function matches() {
    var q = search.value.trim().toLowerCase();
    if (!q) return null;
    return nodes.filter(function (n) { return (n.label + " " + n.id).toLowerCase().indexOf(q) >= 0; });
  }
  search.addEventListener("input", refreshFade);
  search.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") return;
    var found = matches();
    if (found && found.length) { selectNode(found[0]); centreOn(found[0]); }
  });

  // ------------------------------------------------------------------ selection and details

  var selected = null; // {node} or {edge}

  function refreshFade() {
    var found = matches();
    var keep = null;
    if (selected && selected.node) {
      keep = {};
      keep[selected.node.id] = true;
      edges.forEach(function (e) {
        if (!hiddenKinds[e.kind] && (e.src === selected.node || e.dst === selected.node)) { keep[e.src.id] = keep[e.dst.id] = true; }
      });
    } else if (selected && selected.edge) {
      keep = {};
      keep[selected.edge.src.id] = keep[selected.edge.dst.id] = true;
    }
    var matchIds = null;
    if (found) { matchIds = {}; found.forEach(function (n) { matchIds[n.id] = true; }); }
    nodes.forEach(function (n) {
      n.g.classList.toggle("selected", !!(selected && selected.node === n));
      n.g.classList.toggle("match", !!(matchIds && matchIds[n.id]));
      n.g.classList.toggle("faded", !!((keep && !keep[n.id]) || (matchIds && !matchIds[n.id] && !(keep && keep[n.id]))));
    });
    edges.forEach(function (e) {
      var on = selected && selected.node ? (e.src === selected.node || e.dst === selected.node)
             : selected && selected.edge ? e === selected.edge : !matchIds;
      e.g.classList.toggle("selected", !!(selected && selected.edge === e));
      e.g.classList.toggle("faded", !on && !!(selected || matchIds));
    });
  }

  function clearSelection() {
    selected = null;
    refreshFade();
    panel.textContent = "";
    html("p", "Click a node or an edge to see its details.", panel, "empty");
  }

  function renderValue(v, parent) {
    if (v === null || v === undefined || v === "") { html("span", "—", parent); return; }
    if (Array.isArray(v)) {
      if (!v.length) { html("span", "—", parent); return; }
      var ul = html("ul", null, parent);
      v.forEach(function (item) { renderValue(item, html("li", null, ul)); });
      return;
    }
    if (typeof v === "object") {
      var dl = html("dl", null, parent);
      Object.keys(v).forEach(function (k) { html("dt", k, dl); renderValue(v[k], html("dd", null, dl)); });
      return;
    }
    var text = String(v);
    // Multi-line text (HTTP messages, JSON) keeps its layout; one-liners wrap like prose.
    if (text.indexOf("\n") >= 0 || (text.length > 160 && text.indexOf(" ") < 0)) html("pre", text, parent);
    else html("span", text, parent);
  }

  function renderConnections(n, dl) {
    ["out", "in"].forEach(function (dir) {
      var list = edges.filter(function (e) { return !hiddenKinds[e.kind] && (dir === "out" ? e.src === n : e.dst === n); });
      if (!list.length) return;
      html("dt", dir === "out" ? "leads to" : "comes from", dl);
      var ul = html("ul", null, html("dd", null, dl));
      list.forEach(function (e) {
        var other = dir === "out" ? e.dst : e.src;
        var li = html("li", null, ul);
        html("span", e.kind + (e.label ? " " + e.label : "") + " · ", li);
        var a = html("a", other.label, li);
        a.addEventListener("click", function () { selectNode(other); centreOn(other); });
      });
    });
  }

  function selectNode(n) {
    selected = { node: n };
    refreshFade();
    panel.textContent = "";
    html("h2", n.label, panel);
    html("div", n.kind + (n.count !== null && n.count !== undefined ? " · " + n.count + "×" : ""), panel, "kind");
    var dl = html("dl", null, panel);
    Object.keys(n.details).forEach(function (k) { html("dt", k, dl); renderValue(n.details[k], html("dd", null, dl)); });
    renderConnections(n, dl);
    panel.setAttribute("data-selected", n.id);
  }

  function selectEdge(e) {
    selected = { edge: e };
    refreshFade();
    panel.textContent = "";
    html("h2", e.src.label + " → " + e.dst.label, panel);
    html("div", e.kind + (e.label ? " · " + e.label : ""), panel, "kind");
    var dl = html("dl", null, panel);
    var rows = { kind: e.kind, count: e.count };
    Object.keys(e.details).forEach(function (k) { rows[k] = e.details[k]; });
    Object.keys(rows).forEach(function (k) { html("dt", k, dl); renderValue(rows[k], html("dd", null, dl)); });
    panel.setAttribute("data-selected", e.id);
  }

  // ------------------------------------------------------------------ start

  var kindsShown = edgeKinds.map(function (k) { return edges.filter(function (e) { return e.kind === k; }).length + " " + k; });
  document.getElementById("summary").textContent =
    nodes.length + " nodes · " + edges.length + " edges" + (kindsShown.length ? " (" + kindsShown.join(", ") + ")" : "");

  initialPositions();
  applyView();
  render();
  document.body.setAttribute("data-layout", "running");
  if (BIG) {
    // Labels on thousands of edges are unreadable and slow to paint: start with them off.
    document.getElementById("show-labels").checked = false;
    document.body.classList.add("no-labels");
  }
  running = true;
  schedule();

  // For scripting and debugging from the browser console.
  window.graphView = {
    nodes: nodes, edges: edges, fit: fit, stats: stats, alpha: function () { return alpha; },
    select: function (id) { if (byId[id]) selectNode(byId[id]); else if (edgeById[id]) selectEdge(edgeById[id]); }
  };
})();
