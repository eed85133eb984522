// The demo shop: a product catalogue, a cart kept in localStorage and the
// pages' rendering. It knows nothing of tracking: tracking.js watches the
// clicks on elements marked data-track.
(function () {
  "use strict";
  var products = [
    { id: "harbor-espresso", name: "Harbor Espresso Blend", category: "Coffee", price: 14.5, color: "#6b3e26",
      blurb: "Chocolate, hazelnut and a long caramel finish. 250 g, whole bean." },
    { id: "ethiopia-guji", name: "Ethiopia Guji", category: "Coffee", price: 16, color: "#b5532f",
      blurb: "Light roast with bergamot and peach. 250 g, whole bean." },
    { id: "swiss-decaf", name: "Swiss Water Decaf", category: "Coffee", price: 13, color: "#8a6d4b",
      blurb: "All the cocoa, none of the caffeine. 250 g, whole bean." },
    { id: "pour-over", name: "Glass Pour-Over Dripper", category: "Gear", price: 24, color: "#2f7f8a",
      blurb: "Borosilicate glass, fits size 02 filters." },
    { id: "gooseneck-kettle", name: "Gooseneck Kettle", category: "Gear", price: 49, color: "#3b4a5a",
      blurb: "0.8 l stainless steel with a precise spout." },
    { id: "hand-grinder", name: "Hand Grinder", category: "Gear", price: 79, color: "#55606e",
      blurb: "Steel conical burrs, 40 click settings." },
    { id: "stoneware-mug", name: "Stoneware Mug", category: "Merch", price: 18, color: "#0b6e69",
      blurb: "350 ml, glazed by hand, dishwasher safe." },
    { id: "canvas-tote", name: "Canvas Tote", category: "Merch", price: 12, color: "#c2893a",
      blurb: "Heavy cotton, long handles, room for four bags of beans." },
  ];
  var byId = {};
  products.forEach(function (p) { byId[p.id] = p; });

  // The shop's pages share one header and footer, written here once: each
  // page has them empty, and they are filled before anything below looks
  // inside them (the cart badge, the links that keep ?topic=, and
  // tracking.js's status line and pixel slot). The pages render their
  // content from script anyway, so nothing works without it either way.
  var chrome = {
    "header.site-header": [
      '<div class="wrap">',
      '  <a class="logo" href="./" data-page="./" data-track="nav-logo">Sluice <span>Roasters</span></a>',
      '  <nav aria-label="Main">',
      '    <a href="./" data-page="./" data-track="nav-home">Home</a>',
      '    <a href="products.html" data-page="products.html" data-track="nav-products">Shop</a>',
      '    <a href="dashboard.html" data-page="dashboard.html" data-track="nav-dashboard" target="_blank" rel="noopener">Live dashboard ↗</a>',
      '  </nav>',
      '  <a class="cart-link" href="cart.html" data-page="cart.html" data-track="nav-cart">Cart <span class="badge" id="cart-count" aria-label="items in cart">0</span></a>',
      '</div>',
    ],
    "footer.site-footer": [
      '<div class="wrap">',
      '  <p>A demo shop for Sluice\'s HTTP bridge: each page load sends a page view',
      '  (<code>navigator.sendBeacon</code> to <code>/beacon/{topic}</code>) and a',
      '  pixel (<code>/pixel/{topic}.gif</code>), and each click on a button or',
      '  link sends a click event. <span id="status">Tracking into topic web-events</span>.',
      '  <a href="dashboard.html" data-page="dashboard.html" target="_blank" rel="noopener">Watch them arrive live</a>.</p>',
      '  <div id="pixel-slot"></div>',
      '</div>',
    ],
  };
  Object.keys(chrome).forEach(function (sel) {
    var box = document.querySelector(sel);
    if (box && !box.firstElementChild) box.innerHTML = chrome[sel].join("\n");
  });

  var params = new URLSearchParams(location.search);
  // The demo's own parameters follow the visitor from page to page.
  var keep = new URLSearchParams();
  ["topic", "bridge"].forEach(function (k) { if (params.get(k)) keep.set(k, params.get(k)); });

  // link adds the kept parameters to a page of the site.
  function link(href, extra) {
    var q = new URLSearchParams(keep);
    if (extra) Object.keys(extra).forEach(function (k) { q.set(k, extra[k]); });
    var s = q.toString();
    return s ? href + "?" + s : href;
  }

  function money(n) { return "€" + n.toFixed(2); }
  function initials(name) { return name.split(/\s+/).slice(0, 2).map(function (w) { return w[0]; }).join(""); }

  // el builds an element: el("a", {href: "x", "data-track": "y"}, child...).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function art(p) {
    var a = el("div", { "class": "art", role: "img", "aria-label": p.name }, initials(p.name));
    a.style.background = p.color;
    return a;
  }

  // The cart: product id -> quantity, in localStorage when the browser
  // allows it (in memory otherwise).
  var cartKey = "sluice-demo-cart";
  var memoryCart = {};
  function loadCart() {
    try { return JSON.parse(localStorage.getItem(cartKey) || "{}") || {}; } catch (e) { return memoryCart; }
  }
  function saveCart(c) {
    memoryCart = c;
    try { localStorage.setItem(cartKey, JSON.stringify(c)); } catch (e) { /* private mode: memory only */ }
    renderBadge();
  }
  function addToCart(id, n) {
    var c = loadCart();
    c[id] = (c[id] || 0) + (n || 1);
    if (c[id] <= 0) delete c[id];
    saveCart(c);
  }
  function cartCount() {
    var c = loadCart(), n = 0;
    Object.keys(c).forEach(function (id) { if (byId[id]) n += c[id]; });
    return n;
  }

  function renderBadge() {
    var b = document.getElementById("cart-count");
    if (b) b.textContent = String(cartCount());
  }

  function say(id, text) {
    var s = document.getElementById(id);
    if (s) s.textContent = text;
  }

  function productCard(p) {
    return el("article", { "class": "card" },
      art(p),
      el("h3", {}, el("a", { href: link("product.html", { id: p.id }), "data-track": "product-link", "data-product": p.id }, p.name)),
      el("p", { "class": "meta" }, p.category),
      el("div", { "class": "row" },
        el("span", { "class": "price" }, money(p.price)),
        el("button", { type: "button", "class": "btn small", "data-track": "add-to-cart", "data-product": p.id, "data-add": p.id }, "Add to cart")));
  }

  function renderGrid(list) {
    var grid = document.getElementById("products");
    if (!grid) return;
    grid.textContent = "";
    list.forEach(function (p) { grid.appendChild(productCard(p)); });
  }

  function renderFilters() {
    var box = document.getElementById("filters");
    if (!box) return;
    var current = params.get("category") || "All";
    ["All", "Coffee", "Gear", "Merch"].forEach(function (c) {
      var b = el("button", { type: "button", "class": "btn secondary small", "data-track": "filter", "data-value": c,
        "aria-pressed": String(c === current) }, c);
      b.addEventListener("click", function () {
        Array.prototype.forEach.call(box.children, function (x) { x.setAttribute("aria-pressed", String(x === b)); });
        renderGrid(products.filter(function (p) { return c === "All" || p.category === c; }));
      });
      box.appendChild(b);
    });
    renderGrid(products.filter(function (p) { return current === "All" || p.category === current; }));
  }

  function renderProduct() {
    var box = document.getElementById("product");
    if (!box) return;
    var p = byId[params.get("id")];
    if (!p) {
      box.replaceWith(el("div", { "class": "empty" }, "No such product. ", el("a", { href: link("products.html") }, "See all products")));
      return;
    }
    document.title = p.name + " · Sluice Roasters";
    box.appendChild(art(p));
    box.appendChild(el("div", {},
      el("p", { "class": "meta" }, p.category),
      el("h1", {}, p.name),
      el("p", { "class": "lead" }, p.blurb),
      el("p", { "class": "price" }, money(p.price)),
      el("button", { type: "button", "class": "btn", "data-track": "add-to-cart", "data-product": p.id, "data-add": p.id }, "Add to cart"),
      " ",
      el("a", { "class": "btn secondary", href: link("cart.html"), "data-track": "go-to-cart" }, "View cart"),
      el("p", { id: "added", role: "status", "aria-live": "polite" })));
  }

  function renderCart() {
    var box = document.getElementById("cart");
    if (!box) return;
    box.textContent = "";
    var c = loadCart();
    var ids = Object.keys(c).filter(function (id) { return byId[id] && c[id] > 0; });
    if (ids.length === 0) {
      box.appendChild(el("div", { "class": "empty" }, "Your cart is empty. ",
        el("a", { href: link("products.html"), "data-track": "browse-products" }, "Browse the products")));
      return;
    }
    var body = el("tbody");
    var total = 0;
    ids.forEach(function (id) {
      var p = byId[id], q = c[id];
      total += p.price * q;
      body.appendChild(el("tr", {},
        el("td", {}, el("a", { href: link("product.html", { id: id }) }, p.name)),
        el("td", { "class": "num" }, money(p.price)),
        el("td", { "class": "num" }, el("span", { "class": "qty" },
          el("button", { type: "button", "class": "btn secondary small", "aria-label": "One less " + p.name, "data-track": "cart-decrease", "data-product": id, "data-add": id, "data-n": "-1" }, "−"),
          el("span", {}, String(q)),
          el("button", { type: "button", "class": "btn secondary small", "aria-label": "One more " + p.name, "data-track": "cart-increase", "data-product": id, "data-add": id }, "+"))),
        el("td", { "class": "num" }, money(p.price * q)),
        el("td", { "class": "num" }, el("button", { type: "button", "class": "btn secondary small", "data-track": "cart-remove", "data-product": id, "data-remove": id }, "Remove"))));
    });
    box.appendChild(el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "Product"), el("th", { "class": "num" }, "Price"), el("th", { "class": "num" }, "Quantity"),
        el("th", { "class": "num" }, "Subtotal"), el("th", {}, el("span", { "class": "visually-hidden" }, "")))),
      body,
      el("tfoot", {}, el("tr", {}, el("td", { colspan: "3" }, "Total"), el("td", { "class": "num", id: "cart-total" }, money(total)), el("td")))));
    box.appendChild(el("p", { style: "text-align:right;margin-top:1rem" },
      el("button", { type: "button", "class": "btn", id: "checkout", "data-track": "checkout", "data-value": total.toFixed(2) }, "Check out")));
  }

  // Behaviour of the shop's buttons, by data attribute.
  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("button") : null;
    if (!t) return;
    var add = t.getAttribute("data-add");
    if (add && byId[add]) {
      addToCart(add, Number(t.getAttribute("data-n") || 1));
      say("added", "Added " + byId[add].name + " to your cart.");
      renderCart();
      return;
    }
    var remove = t.getAttribute("data-remove");
    if (remove) {
      var c = loadCart();
      delete c[remove];
      saveCart(c);
      renderCart();
      return;
    }
    if (t.id === "checkout") {
      saveCart({});
      var box = document.getElementById("cart");
      box.textContent = "";
      box.appendChild(el("div", { "class": "notice", role: "status" }, "Thank you! Order " +
        Math.floor(Math.random() * 90000 + 10000) + " is placed (not really: this is a demo)."));
      box.appendChild(el("a", { "class": "btn", href: link("products.html"), "data-track": "continue-shopping" }, "Continue shopping"));
    }
  });

  // Links written in the pages keep ?topic= and ?bridge= too.
  Array.prototype.forEach.call(document.querySelectorAll("a[data-page]"), function (a) {
    a.setAttribute("href", link(a.getAttribute("data-page")));
  });
  var here = document.body.getAttribute("data-page");
  Array.prototype.forEach.call(document.querySelectorAll(".site-header nav a"), function (a) {
    if (a.getAttribute("data-page") === here) a.setAttribute("aria-current", "page");
  });

  // The home page's featured product is the "Buy" button's.
  var buy = document.getElementById("buy");
  if (buy) {
    var f = byId[buy.getAttribute("data-add")];
    say("featured-name", f.name);
    say("featured-blurb", f.blurb);
    say("featured-price", money(f.price));
    var slot = document.getElementById("featured-art");
    if (slot) slot.replaceWith(art(f));
  }
  var popular = document.getElementById("popular");
  if (popular) {
    ["ethiopia-guji", "gooseneck-kettle", "stoneware-mug"].forEach(function (id) { popular.appendChild(productCard(byId[id])); });
  }

  renderBadge();
  renderFilters();
  renderProduct();
  renderCart();
  window.sluiceShop = { products: products, cart: loadCart, cartCount: cartCount };
})();
